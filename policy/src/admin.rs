//! Who may call Palisade's own admin routes, and who may ask for decisions.
//!
//! An admin request is allowed in two steps, both fail-closed:
//! 1. **Who is asking** ([`AdminGuard::authorize`]): an OIDC bearer token
//!    verified by the configured [`TokenAuthenticator`], or the verified mTLS
//!    client certificate ([`PeerPrincipal`], set by the TLS layer). No
//!    identity: 401.
//! 2. **May they** — a Cedar decision on the served policy version through the
//!    [`DecisionPoint`]: principal the caller (with its groups and
//!    attributes), action `Action::"admin:..."` (see [`AdminAction`]),
//!    resource `AdminApi::"<route>"`, context `{http_method, credential}`.
//!    A deny is a 403. Every decision, allow or deny, is in the decision log
//!    with the caller (API `admin`).
//!
//! A static *break-glass* token may be configured for when the identity
//! provider or the policy is broken: it bypasses both steps, is logged as
//! `BreakGlass::"admin-token"` in the decision log and as a warning.
//!
//! The same credentials may guard the decision endpoints ([`DecisionAccess`]).
#![allow(
    clippy::result_large_err,
    reason = "an early-return `Response` is the error path of a handler; boxing it buys nothing"
)]

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::decision_log::DecisionEntry;
use crate::metrics::Api;
use crate::pdp::DecisionPoint;
use crate::principal::{TokenAuthenticator, VerifiedPrincipal};
use crate::version::DecisionRequest;

/// The verified principal of the mTLS client certificate of a connection: a
/// request extension set by the TLS layer (never from anything a client
/// sends in the request itself).
#[derive(Debug, Clone)]
pub struct PeerPrincipal(pub Arc<VerifiedPrincipal>);

/// Who may ask the decision endpoints (`server.decisions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionAccess {
    /// Anyone who reaches the port.
    #[default]
    Open,
    /// Callers with a verified OIDC bearer token or an mTLS client certificate.
    Token,
    /// Only callers with a verified mTLS client certificate.
    Mtls,
}

/// The admin actions (`Action::"admin:..."`, members of `Action::"admin"`
/// in the example schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Read the served policy version and its history.
    PolicyRead,
    /// Replace policies, entities or the schema; reload.
    PolicyUpdate,
    /// Issue any identity of the trust domain through the CA's API.
    CaIssue,
    /// Revoke a certificate.
    CaRevoke,
    /// Read compliance reports and evidence.
    ComplianceRead,
    /// Record a gated scan as compliance evidence (`POST /v1/compliance/scans`).
    ComplianceRecord,
}

impl AdminAction {
    /// Every admin action.
    pub const ALL: [AdminAction; 6] = [
        AdminAction::PolicyRead,
        AdminAction::PolicyUpdate,
        AdminAction::CaIssue,
        AdminAction::CaRevoke,
        AdminAction::ComplianceRead,
        AdminAction::ComplianceRecord,
    ];

    /// The Cedar action id.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::PolicyRead => "admin:policy.read",
            AdminAction::PolicyUpdate => "admin:policy.update",
            AdminAction::CaIssue => "admin:ca.issue",
            AdminAction::CaRevoke => "admin:ca.revoke",
            AdminAction::ComplianceRead => "admin:compliance.read",
            AdminAction::ComplianceRecord => "admin:compliance.record",
        }
    }
}

/// The principal of the break-glass token in the decision log.
pub const BREAK_GLASS_PRINCIPAL: &str = r#"BreakGlass::"admin-token""#;

/// An admin caller who was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The caller's Cedar uid (`User::"..."`, `Workload::"spiffe://..."`,
    /// or [`BREAK_GLASS_PRINCIPAL`]).
    pub principal: String,
    /// How it proved itself: `oidc`, `mtls` or `break-glass`.
    pub credential: &'static str,
}

/// Authenticates admin callers and asks Cedar whether they may act.
pub struct AdminGuard {
    pdp: Option<Arc<DecisionPoint>>,
    tokens: Option<Arc<dyn TokenAuthenticator>>,
    break_glass: Option<Zeroizing<[u8; 32]>>,
    break_glass_warnings: BreakGlassWarnings,
}

/// The operator's warning about break-glass use: at once on first use, then
/// at most once a minute with the number of uses since the last one (every
/// use is in the decision log; a log line per request would flood the
/// operator's log and cost the request path a formatted write).
#[derive(Default)]
struct BreakGlassWarnings {
    /// Uses since the last warning, and when it went out.
    state: std::sync::Mutex<(u64, Option<std::time::Instant>)>,
}

impl BreakGlassWarnings {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    fn used(&self, action: AdminAction, route: &str) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.0 += 1;
        if st.1.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return;
        }
        tracing::warn!(
            action = action.as_str(),
            route,
            uses = st.0,
            "break-glass admin token used ({} times since the last warning)",
            st.0
        );
        *st = (0, Some(std::time::Instant::now()));
    }
}

impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGuard")
            .field("tokens", &self.tokens.is_some())
            .field("break_glass", &self.break_glass.is_some())
            .finish_non_exhaustive()
    }
}

/// 401: no credential, or one that did not verify (the reason is logged by
/// whoever verified it).
pub(crate) fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        axum::Json(json!({ "error": { "status": 401, "message": message } })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl AdminGuard {
    /// A guard deciding on `pdp`'s served version (without one, every
    /// verified caller is denied: only break-glass gets in); `tokens`
    /// verifies bearer tokens (none: only mTLS callers and break-glass);
    /// `break_glass` is the static emergency token (only its SHA-256 is kept).
    pub fn new(
        pdp: Option<Arc<DecisionPoint>>,
        tokens: Option<Arc<dyn TokenAuthenticator>>,
        break_glass: Option<&str>,
    ) -> Self {
        Self {
            pdp,
            tokens,
            break_glass: break_glass.map(|t| Zeroizing::new(Sha256::digest(t.as_bytes()).into())),
            break_glass_warnings: BreakGlassWarnings::default(),
        }
    }

    fn is_break_glass(&self, token: &str) -> bool {
        let Some(expected) = &self.break_glass else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Constant time over the digests.
        given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The verified caller of a request: its bearer token when it sends one
    /// (break-glass or OIDC), else its mTLS certificate. `Err` is the 401.
    pub async fn caller(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerPrincipal>,
    ) -> Result<Caller, Response> {
        if let Some(token) = bearer(headers) {
            if self.is_break_glass(token) {
                return Ok(Caller::BreakGlass);
            }
            let Some(tokens) = &self.tokens else {
                return Err(unauthorized("invalid or missing credentials"));
            };
            return match tokens.authenticate(token).await {
                Ok(p) => Ok(Caller::Verified(Arc::new(p), "oidc")),
                Err(_) => Err(unauthorized("invalid or missing credentials")),
            };
        }
        match peer {
            Some(PeerPrincipal(p)) => Ok(Caller::Verified(p.clone(), "mtls")),
            None => Err(unauthorized(
                "an OIDC bearer token or an mTLS client certificate is required",
            )),
        }
    }

    /// Authenticates the caller and decides `action` on `route` (the request
    /// path) with Cedar; every outcome is in the decision log. `Err` is the
    /// response to send (401 or 403).
    pub async fn authorize(
        &self,
        action: AdminAction,
        http_method: &str,
        route: &str,
        headers: &HeaderMap,
        peer: Option<&PeerPrincipal>,
    ) -> Result<AdminCaller, Response> {
        let request_id = crate::http::request_id(headers);
        let caller = self.caller(headers, peer).await?;
        let resource = format!("AdminApi::{}", Value::from(route));
        let context = json!({ "http_method": http_method, "credential": caller.credential() });
        let action_uid = format!("Action::{}", Value::from(action.as_str()));
        let (principal, credential) = match caller {
            Caller::BreakGlass => {
                self.break_glass_warnings.used(action, route);
                let Some(pdp) = &self.pdp else {
                    return Ok(AdminCaller {
                        principal: BREAK_GLASS_PRINCIPAL.into(),
                        credential: "break-glass",
                    });
                };
                let version = pdp.policies().load();
                let _ = pdp.log().submit(DecisionEntry {
                    time: SystemTime::now(),
                    request_id,
                    api: Api::Admin,
                    principal: BREAK_GLASS_PRINCIPAL.into(),
                    action: action_uid,
                    resource,
                    context: Some(context),
                    attributes: None,
                    allowed: true,
                    reasons: vec!["break-glass".into()],
                    errors: vec![],
                    policy_version: version.etag().into(),
                    latency_us: 0,
                });
                return Ok(AdminCaller {
                    principal: BREAK_GLASS_PRINCIPAL.into(),
                    credential: "break-glass",
                });
            }
            Caller::Verified(p, credential) => (p, credential),
        };
        let Some(pdp) = &self.pdp else {
            return Err(forbidden("no policy engine decides admin requests here"));
        };
        let parse = |s: &str| s.parse::<cedar_policy::EntityUid>().ok();
        let (Some(action_uid), Some(resource_uid)) = (parse(&action_uid), parse(&resource)) else {
            return Err(forbidden("the admin request cannot be expressed in Cedar"));
        };
        let request = DecisionRequest {
            principal: principal.uid.clone(),
            action: action_uid,
            resource: resource_uid,
            context: Some(context),
            entities: Some(Value::Array(vec![principal.entity.clone()])),
        };
        let (decision, _) = pdp.decide_verified(Api::Admin, &request_id, &principal, &request);
        if decision.allowed {
            Ok(AdminCaller {
                principal: principal.uid.to_string(),
                credential,
            })
        } else {
            tracing::info!(
                principal = %principal.uid,
                action = action.as_str(),
                route,
                errors = ?decision.errors,
                "admin request denied"
            );
            Err(forbidden(&format!(
                "{} may not {} (policy)",
                principal.uid,
                action.as_str()
            )))
        }
    }
}

/// A verified admin caller, before the policy decided.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The break-glass token.
    BreakGlass,
    /// A principal from a verified OIDC token (`oidc`) or mTLS certificate (`mtls`).
    Verified(Arc<VerifiedPrincipal>, &'static str),
}

impl Caller {
    fn credential(&self) -> &'static str {
        match self {
            Caller::BreakGlass => "break-glass",
            Caller::Verified(_, c) => c,
        }
    }
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({ "error": { "status": 403, "message": message } })),
    )
        .into_response()
}

/// Who guards the decision endpoints: the access mode and the token verifier.
#[derive(Debug, Clone)]
pub(crate) struct DecisionGate {
    pub(crate) access: DecisionAccess,
    pub(crate) tokens: Option<Arc<dyn TokenAuthenticator>>,
}

/// Middleware of the decision routes: lets a request through when the
/// configured [`DecisionAccess`] is satisfied, else 401.
pub(crate) async fn decision_gate(
    State(gate): State<DecisionGate>,
    req: Request,
    next: Next,
) -> Response {
    let has_peer = req.extensions().get::<PeerPrincipal>().is_some();
    let ok = match gate.access {
        DecisionAccess::Open => true,
        DecisionAccess::Mtls => has_peer,
        DecisionAccess::Token => {
            has_peer
                || match (bearer(req.headers()), &gate.tokens) {
                    (Some(t), Some(tokens)) => tokens.authenticate(t).await.is_ok(),
                    _ => false,
                }
        }
    };
    if ok {
        next.run(req).await
    } else {
        unauthorized(match gate.access {
            DecisionAccess::Mtls => "the decision endpoints require an mTLS client certificate",
            _ => {
                "the decision endpoints require an OIDC bearer token or an mTLS client certificate"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_glass_warns_at_once_then_counts_until_the_next_minute() {
        let w = BreakGlassWarnings::default();
        w.used(AdminAction::CaIssue, "/ca/v1/issue");
        let first = w.state.lock().unwrap().1;
        assert_eq!(
            w.state.lock().unwrap().0,
            0,
            "the first use is warned about"
        );
        assert!(first.is_some());
        w.used(AdminAction::CaIssue, "/ca/v1/issue");
        w.used(AdminAction::CaIssue, "/ca/v1/issue");
        let st = *w.state.lock().unwrap();
        assert_eq!(st, (2, first), "later uses wait for the next warning");
        // A minute later the next use warns with the count.
        w.state.lock().unwrap().1 = first.and_then(|t| t.checked_sub(BreakGlassWarnings::EVERY));
        w.used(AdminAction::CaIssue, "/ca/v1/issue");
        assert_eq!(w.state.lock().unwrap().0, 0);
    }
}
