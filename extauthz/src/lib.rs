//! Envoy and Istio external authorization backed by Palisade's Cedar
//! decision point — the place OPA-Envoy takes in a mesh, failing closed.
//!
//! # Features
//! - **gRPC** ([`serve_grpc`], [`AuthorizationService`]):
//!   `envoy.service.auth.v3.Authorization/Check` (the `envoy-types` crate
//!   with `tonic`) and the standard `grpc.health.v1.Health` service.
//! - **HTTP** ([`http_router`]): Envoy's `http_service` mode — the original
//!   method, path and headers in, `200` with headers or `401`/`403` out.
//! - **Mapping** ([`ExtAuthzConfig`]): principal from a bearer token
//!   (verified by [`palisade_identity::TokenVerifier`]) or from the SPIFFE ID
//!   Envoy verified on the downstream mTLS connection (a `Workload`, like
//!   `palisade_identity::workload_principal`); action from the method, or a
//!   configured route; resource `HttpRoute::"HOST/PATH"`; the rest as
//!   context. The table is in `mapping.rs` and `docs/configuration.md`.
//! - **Fail closed**: a request without identity is a 401; a refused
//!   credential, an unmappable or oversized request, a path not in normal
//!   form, an evaluation error or a full fail-closed decision log is a deny.
//!   Every answer lands in the decision log (API `ext_authz`).
//!
//! # Not here
//! The principal of the HTTP variant comes from tokens only (Envoy sends no
//! verified peer certificate there); request bodies are not inspected;
//! Envoy's per-route `context_extensions` and metadata are not mapped.
//!
//! # Design
//! Both transports read their request into an [`HttpCheck`]; [`ExtAuthz`]
//! maps it, establishes the principal, decides with the shared
//! [`palisade_policy::DecisionPoint`] and returns a [`Verdict`]; the
//! transport writes the verdict in its own terms.
//!
//! # Example
//! ```no_run
//! # async fn run(pdp: std::sync::Arc<palisade_policy::DecisionPoint>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use palisade_extauthz::{ExtAuthz, ExtAuthzConfig, ExtAuthzServer};
//! use palisade_identity::{IdentityConfig, TokenVerifier};
//!
//! let identity = IdentityConfig::default();
//! let config = ExtAuthzConfig { enabled: true, ..Default::default() };
//! let tokens = Arc::new(TokenVerifier::new(&identity)?);
//! let authz = Arc::new(ExtAuthz::new(config, pdp, tokens, identity.workload)?);
//! let server = ExtAuthzServer::start(authz).await?;
//! println!("ext_authz gRPC on {}", server.grpc_addr());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod authorizer;
mod cfg;
mod error;
mod grpc;
mod http;
mod mapping;

use std::net::SocketAddr;
use std::sync::Arc;

pub use authorizer::{Allowed, ExtAuthz, Verdict};
pub use cfg::{ExtAuthzConfig, PrincipalSource, RouteAction};
pub use error::{DenyReason, ExtAuthzError};
pub use grpc::{serve_grpc, AuthorizationService};
pub use http::http_router;
pub use mapping::HttpCheck;

/// The gRPC server and, when configured, the HTTP variant, running on the
/// current Tokio runtime; stopped when dropped.
#[derive(Debug)]
pub struct ExtAuthzServer {
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn bind(addr: &str) -> Result<tokio::net::TcpListener, ExtAuthzError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ExtAuthzError::Listen {
            addr: addr.to_owned(),
            source,
        })
}

impl ExtAuthzServer {
    /// Binds `grpc_listen` (and `http_listen` when set) and serves.
    pub async fn start(authz: Arc<ExtAuthz>) -> Result<Self, ExtAuthzError> {
        let grpc = bind(&authz.config().grpc_listen).await?;
        let http = match authz.config().http_listen.as_str() {
            "" => None,
            addr => Some(bind(addr).await?),
        };
        let local = |l: &tokio::net::TcpListener, a: &str| {
            l.local_addr().map_err(|source| ExtAuthzError::Listen {
                addr: a.to_owned(),
                source,
            })
        };
        let grpc_addr = local(&grpc, &authz.config().grpc_listen)?;
        let http_addr = match &http {
            Some(l) => Some(local(l, &authz.config().http_listen)?),
            None => None,
        };
        let mut tasks = Vec::new();
        let a = authz.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve_grpc(a, grpc, std::future::pending()).await {
                tracing::error!(error = %e, "ext_authz gRPC server stopped");
            }
        }));
        if let Some(l) = http {
            let router = http_router(authz);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::error!(error = %e, "ext_authz HTTP server stopped");
                }
            }));
        }
        Ok(Self {
            grpc_addr,
            http_addr,
            tasks,
        })
    }

    /// Where the gRPC service listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where the HTTP variant listens, if it is served.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }
}

impl Drop for ExtAuthzServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
