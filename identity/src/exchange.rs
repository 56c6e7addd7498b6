//! A verified OIDC token for a first X.509-SVID, the way Sigstore's Fulcio
//! exchanges tokens for certificates.
//!
//! `POST /ca/v1/exchange` `{"token": JWT, "csr": PEM, "ttl_seconds"?}`:
//! 1. the token is verified like any other ([`TokenVerifier`]) and must come
//!    from an issuer allowed to exchange;
//! 2. the SPIFFE ID is derived from its claims by the configured
//!    [`SpiffeTemplate`] — never taken from the request; a claim that is not
//!    a safe path segment refuses the exchange;
//! 3. the CA signs the CSR after Cedar allowed `ca:issue` with the token's
//!    principal (`context.method == "oidc"`, `context.bound_spiffe_id` the
//!    derived ID); the decision is in the decision log.
//!
//! Refusals: 401 for a token that does not verify (reason logged), 403 for a
//! token whose claims cannot name an identity or whom the policy refuses.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use palisade_ca::{CaError, CertificateAuthority, IssueRequest, Requester, SpiffeId};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{ExchangeConfig, IdentityError, TokenVerifier};

/// Longest value a claim may give one path segment.
const MAX_SEGMENT: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    TrustDomain,
    Claim(String),
}

/// A parsed `spiffe_id_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiffeTemplate(Vec<Part>);

impl SpiffeTemplate {
    /// Parses a template: text, `{trust_domain}` and `{claim:NAME}`; it must
    /// start with `spiffe://`.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let bad = |m: &str| {
            Err(IdentityError::Config(format!(
                "exchange.spiffe_id_template {text:?}: {m}"
            )))
        };
        if !text.starts_with("spiffe://") {
            return bad("must start with spiffe://");
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                return bad("unclosed {");
            };
            let name = &rest[open + 1..open + close];
            parts.push(match name.strip_prefix("claim:") {
                Some(c) if !c.is_empty() => Part::Claim(c.to_owned()),
                _ if name == "trust_domain" => Part::TrustDomain,
                _ => return bad("placeholders are {trust_domain} and {claim:NAME}"),
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return bad("unopened }");
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Claim(_))) {
            return bad("names no claim: every token would get the same identity");
        }
        Ok(Self(parts))
    }

    /// The SPIFFE ID of a token with these claims, in `trust_domain`.
    pub fn render(
        &self,
        trust_domain: &str,
        claims: &Map<String, Value>,
    ) -> Result<SpiffeId, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::TrustDomain => out.push_str(trust_domain),
                Part::Claim(c) => match claims.get(c) {
                    Some(Value::String(v)) if safe_segment(v) => out.push_str(v),
                    Some(Value::String(_)) => {
                        return Err(format!("claim {c:?} is not a safe SPIFFE path segment"))
                    }
                    _ => return Err(format!("claim {c:?} is missing or not a string")),
                },
            }
        }
        let id = SpiffeId::parse(&out).map_err(|e| e.to_string())?;
        if id.trust_domain() != trust_domain {
            return Err(format!("{id} is outside the trust domain {trust_domain}"));
        }
        Ok(id)
    }
}

/// A claim value that can stand as one SPIFFE path segment: no `/`, no
/// `.`/`..`, only unreserved URI characters SPIFFE allows.
fn safe_segment(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_SEGMENT
        && v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

struct ExchangeState {
    verifier: Arc<TokenVerifier>,
    ca: Arc<CertificateAuthority>,
    template: SpiffeTemplate,
    issuers: Vec<String>,
}

/// The request body of `POST /ca/v1/exchange`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    token: String,
    csr: String,
    ttl_seconds: Option<u64>,
}

/// The exchange route, `POST /ca/v1/exchange` (see the module docs).
pub fn exchange_router(
    verifier: Arc<TokenVerifier>,
    ca: Arc<CertificateAuthority>,
    config: &ExchangeConfig,
) -> Result<Router, IdentityError> {
    let state = Arc::new(ExchangeState {
        verifier,
        ca,
        template: SpiffeTemplate::parse(&config.spiffe_id_template)?,
        issuers: config.issuers.clone(),
    });
    Ok(Router::new()
        .route(palisade_ca::tls::EXCHANGE_PATH, post(exchange))
        .layer(DefaultBodyLimit::max(palisade_ca::http::MAX_BODY_BYTES))
        .with_state(state))
}

/// A refusal in the error shape of every other Palisade API.
fn refuse(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "status": status.as_u16(), "message": message } });
    (status, Json(body)).into_response()
}

async fn exchange(
    State(s): State<Arc<ExchangeState>>,
    body: Result<Json<ExchangeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let unauthorized = || refuse(StatusCode::UNAUTHORIZED, "invalid or missing credentials");
    let token = match s.verifier.verify(&body.token).await {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(reason = e.code(), detail = %e, "exchange token refused");
            return unauthorized();
        }
    };
    if !s.issuers.is_empty() && !s.issuers.contains(&token.issuer) {
        tracing::info!(issuer = %token.issuer, "exchange: issuer not allowed to exchange");
        return unauthorized();
    }
    let principal = match s.verifier.principal(&token) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(reason = e.code(), detail = %e, "exchange token unmappable");
            return unauthorized();
        }
    };
    let trust_domain = &s.ca.config().trust_domain;
    let id = match s.template.render(trust_domain, &token.claims) {
        Ok(id) => id,
        Err(why) => {
            tracing::info!(principal = %principal.uid, reason = %why, "exchange refused");
            return refuse(
                StatusCode::FORBIDDEN,
                &format!("the token's claims name no valid identity: {why}"),
            );
        }
    };
    let csr = {
        use rustls_pki_types::pem::PemObject as _;
        match rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(body.csr.as_bytes()) {
            Ok(d) => d.as_ref().to_vec(),
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("csr is not a PEM certificate request: {e}"),
                )
            }
        }
    };
    let req = IssueRequest {
        csr_der: Some(csr),
        spiffe_id: Some(id.to_string()),
        ttl: body.ttl_seconds.map(Duration::from_secs),
        ..Default::default()
    };
    let requester = Requester::Token {
        principal: Box::new(principal),
        spiffe_id: id,
    };
    match s.ca.issue(req, &requester).await {
        Ok(svid) => Json(json!({
            "serial": svid.serial,
            "spiffe_id": svid.spiffe_id,
            "certificate": svid.cert_pem,
            "chain": svid.chain_pem,
            "not_after": svid.not_after,
        }))
        .into_response(),
        Err(e) => {
            let status = match &e {
                CaError::BadRequest(_) | CaError::InvalidSpiffeId { .. } => StatusCode::BAD_REQUEST,
                CaError::Forbidden(_) => StatusCode::FORBIDDEN,
                CaError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                _ => {
                    tracing::error!(error = %e, "exchange failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            refuse(status, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn templates_derive_safe_ids_only() {
        let t =
            SpiffeTemplate::parse("spiffe://{trust_domain}/ns/{claim:namespace}/sa/{claim:sub}")
                .unwrap();
        let id = t
            .render(
                "example.org",
                &claims(json!({"namespace": "pay", "sub": "api-1"})),
            )
            .unwrap();
        assert_eq!(id.as_str(), "spiffe://example.org/ns/pay/sa/api-1");
        for evil in [
            "a/b", "..", ".", "", "a b", "a%2fb", "é", "a?x", "a#b", "a:b",
        ] {
            let e = t
                .render(
                    "example.org",
                    &claims(json!({"namespace": evil, "sub": "x"})),
                )
                .unwrap_err();
            assert!(e.contains("namespace"), "{evil:?}: {e}");
        }
        assert!(t
            .render("example.org", &claims(json!({"namespace": 1, "sub": "x"})))
            .is_err());
        assert!(t
            .render("example.org", &claims(json!({"sub": "x"})))
            .is_err());
        let long = "a".repeat(MAX_SEGMENT + 1);
        assert!(t
            .render(
                "example.org",
                &claims(json!({"namespace": long, "sub": "x"}))
            )
            .is_err());
        // A literal trust domain must be the CA's.
        let other = SpiffeTemplate::parse("spiffe://other.org/{claim:sub}").unwrap();
        assert!(other
            .render("example.org", &claims(json!({"sub": "x"})))
            .unwrap_err()
            .contains("outside"));
        for bad in [
            "http://{trust_domain}/{claim:sub}",
            "spiffe://{trust_domain}/fixed",
            "spiffe://{trust_domain}/{claim:}",
            "spiffe://{trust_domain}/{nope}",
            "spiffe://{trust_domain}/{claim:sub",
            "spiffe://{trust_domain}/x}",
        ] {
            assert!(SpiffeTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
