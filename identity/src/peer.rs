//! The mTLS caller as a principal, for every route.
//!
//! The TLS listener (`palisade_ca::tls`) verifies the client certificate at
//! the handshake (chain, revocation, exactly one SPIFFE URI SAN in the trust
//! domain) and sets its SPIFFE ID on each request
//! ([`palisade_ca::http::PeerIdentity`]). [`attach_peer_principal`] turns it
//! into the [`PeerPrincipal`] the decision and admin routes read (a
//! `Workload` by default, see [`WorkloadMapping`]). A certificate the mapping
//! does not accept (a trust domain not listed) is a 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_ca::http::PeerIdentity;
use palisade_policy::PeerPrincipal;

use crate::WorkloadMapping;

/// Middleware (`axum::middleware::from_fn_with_state`): sets
/// [`PeerPrincipal`] from the connection's verified SPIFFE ID, and removes
/// any the request might otherwise carry.
pub async fn attach_peer_principal(
    State(mapping): State<Arc<WorkloadMapping>>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().remove::<PeerPrincipal>();
    let id = req
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|p| p.0.clone());
    if let Some(id) = id {
        match crate::workload_principal(&mapping, &id) {
            Ok(p) => {
                req.extensions_mut().insert(PeerPrincipal(Arc::new(p)));
            }
            Err(e) => {
                tracing::info!(reason = e.code(), detail = %e, "client certificate refused");
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({
                        "error": { "status": 401, "message": "client certificate not accepted" }
                    })),
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}
