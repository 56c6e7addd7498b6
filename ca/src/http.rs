//! The CA's HTTP routes (mounted by `palisade serve`).
//!
//! | Route | What |
//! |---|---|
//! | `POST /ca/v1/issue` | sign a CSR; the caller proves itself with a join token (`join_token`), an admin credential (bearer token allowed `admin:ca.issue`), or its current certificate over mTLS |
//! | `POST /ca/v1/renew` | sign a CSR for the caller's own SPIFFE ID; mTLS client certificate required |
//! | `POST /ca/v1/revoke` | revoke a serial; an admin allowed `admin:ca.revoke` (OIDC token or mTLS, see `palisade_policy::AdminGuard`) |
//! | `GET /ca/v1/crl`, `/ca/v1/crl.pem` | the active intermediate's CRL (DER, PEM) |
//! | `GET /ca/v1/bundle.pem`, `/ca/v1/bundle.jwks` | the trust bundle (PEM, SPIFFE bundle) |

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use palisade_policy::{AdminAction, AdminCaller, AdminGuard, PeerPrincipal};
use serde::Deserialize;

use crate::{CaError, CertificateAuthority, IssueRequest, Requester, SpiffeId};

/// The SPIFFE ID of the mTLS client certificate the connection presented
/// (verified by the TLS layer), if any. The TLS listener sets it on every
/// request; plain-HTTP requests have none.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity(pub Option<SpiffeId>);

/// Options of the CA routes.
#[derive(Clone, Default)]
pub struct CaHttpOptions {
    /// Who may use the admin routes (revoke; issue any identity): a verified
    /// OIDC token or mTLS caller allowed by Cedar (`admin:ca.revoke`,
    /// `admin:ca.issue`), or break-glass. `None`: nobody.
    pub admin: Option<Arc<AdminGuard>>,
}

struct AppState {
    ca: Arc<CertificateAuthority>,
    admin: Option<Arc<AdminGuard>>,
}

/// Largest request body of the CA routes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The CA router. Bodies are limited to [`MAX_BODY_BYTES`].
pub fn router(ca: Arc<CertificateAuthority>, options: CaHttpOptions) -> Router {
    let state = Arc::new(AppState {
        ca,
        admin: options.admin,
    });
    Router::new()
        .route("/ca/v1/issue", post(issue))
        .route("/ca/v1/renew", post(renew))
        .route("/ca/v1/revoke", post(revoke))
        .route("/ca/v1/crl", get(crl_der))
        .route("/ca/v1/crl.pem", get(crl_pem))
        .route("/ca/v1/bundle.pem", get(bundle_pem))
        .route("/ca/v1/bundle.jwks", get(bundle_jwks))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn error(e: CaError) -> Response {
    let status = match &e {
        CaError::BadRequest(_) | CaError::InvalidSpiffeId { .. } => StatusCode::BAD_REQUEST,
        CaError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        CaError::Forbidden(_) => StatusCode::FORBIDDEN,
        CaError::UnknownSerial(_) => StatusCode::NOT_FOUND,
        CaError::NotInitialized => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "CA request failed");
    }
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

/// An issuance request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// PKCS#10 CSR, PEM.
    csr: String,
    spiffe_id: Option<String>,
    #[serde(default)]
    dns_names: Vec<String>,
    #[serde(default)]
    ip_addresses: Vec<IpAddr>,
    ttl_seconds: Option<u64>,
    join_token: Option<String>,
}

fn csr_der(pem: &str) -> Result<Vec<u8>, CaError> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map(|d| d.as_ref().to_vec())
        .map_err(|e| CaError::BadRequest(format!("csr is not a PEM certificate request: {e}")))
}

/// Authenticates and authorizes an admin request (see [`AdminGuard`]).
async fn admin(
    state: &AppState,
    action: AdminAction,
    route: &str,
    headers: &HeaderMap,
    peer: Option<&Extension<PeerPrincipal>>,
) -> Result<AdminCaller, Response> {
    match &state.admin {
        Some(guard) => {
            guard
                .authorize(action, "POST", route, headers, peer.map(|e| &e.0))
                .await
        }
        None => Err(error(CaError::Unauthenticated(
            "the admin API is disabled".into(),
        ))),
    }
}

fn answer(svid: crate::IssuedCert) -> Response {
    Json(serde_json::json!({
        "serial": svid.serial,
        "spiffe_id": svid.spiffe_id,
        "certificate": svid.cert_pem,
        "chain": svid.chain_pem,
        "not_after": svid.not_after,
    }))
    .into_response()
}

async fn issue(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerIdentity>>,
    peer_principal: Option<Extension<PeerPrincipal>>,
    headers: HeaderMap,
    body: Result<Json<IssueBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(CaError::BadRequest(e.body_text())),
    };
    let requester = if let Some(t) = &body.join_token {
        Requester::JoinToken(t.clone())
    } else if headers.contains_key(header::AUTHORIZATION) {
        match admin(
            &state,
            AdminAction::CaIssue,
            "/ca/v1/issue",
            &headers,
            peer_principal.as_ref(),
        )
        .await
        {
            Ok(caller) => Requester::Admin(caller.principal),
            Err(r) => return r,
        }
    } else if let Some(Extension(PeerIdentity(Some(id)))) = peer {
        Requester::Workload(id)
    } else {
        return error(CaError::Unauthenticated(
            "give a join token, the admin bearer token, or a client certificate".into(),
        ));
    };
    let req = match csr_der(&body.csr) {
        Ok(der) => IssueRequest {
            csr_der: Some(der),
            spiffe_id: body.spiffe_id,
            dns_names: body.dns_names,
            ip_addresses: body.ip_addresses,
            ttl: body.ttl_seconds.map(Duration::from_secs),
        },
        Err(e) => return error(e),
    };
    match state.ca.issue(req, &requester).await {
        Ok(svid) => answer(svid),
        Err(e) => error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    csr: String,
    ttl_seconds: Option<u64>,
}

async fn renew(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerIdentity>>,
    body: Result<Json<RenewBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(Extension(PeerIdentity(Some(id)))) = peer else {
        return error(CaError::Unauthenticated(
            "renewal needs the current certificate as the TLS client certificate".into(),
        ));
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(CaError::BadRequest(e.body_text())),
    };
    let req = match csr_der(&body.csr) {
        Ok(der) => IssueRequest {
            csr_der: Some(der),
            spiffe_id: Some(id.to_string()),
            ttl: body.ttl_seconds.map(Duration::from_secs),
            ..Default::default()
        },
        Err(e) => return error(e),
    };
    match state.ca.issue(req, &Requester::Workload(id)).await {
        Ok(svid) => answer(svid),
        Err(e) => error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    serial: String,
    #[serde(default = "unspecified")]
    reason: String,
}

fn unspecified() -> String {
    "unspecified".into()
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerPrincipal>>,
    headers: HeaderMap,
    body: Result<Json<RevokeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let caller = match admin(
        &state,
        AdminAction::CaRevoke,
        "/ca/v1/revoke",
        &headers,
        peer.as_ref(),
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(CaError::BadRequest(e.body_text())),
    };
    tracing::info!(serial = %body.serial, reason = %body.reason, by = %caller.principal, "revocation requested");
    match state.ca.revoke(&body.serial, &body.reason).await {
        Ok(()) => Json(serde_json::json!({"revoked": body.serial})).into_response(),
        Err(e) => error(e),
    }
}

async fn crl_der(State(state): State<Arc<AppState>>) -> Response {
    match state.ca.crl().await {
        Ok(c) => ([(header::CONTENT_TYPE, "application/pkix-crl")], c.der).into_response(),
        Err(e) => error(e),
    }
}

async fn crl_pem(State(state): State<Arc<AppState>>) -> Response {
    match state.ca.crl().await {
        Ok(c) => ([(header::CONTENT_TYPE, "application/x-pem-file")], c.pem).into_response(),
        Err(e) => error(e),
    }
}

async fn bundle_pem(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.ca.bundle_pem(),
    )
        .into_response()
}

async fn bundle_jwks(State(state): State<Arc<AppState>>) -> Response {
    match state.ca.bundle_jwks() {
        Ok(j) => Json(j).into_response(),
        Err(e) => error(e),
    }
}
