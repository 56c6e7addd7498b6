//! The HTTP transport: Envoy's `http_service` mode.
//!
//! Envoy sends the original method, path (after `http_path_prefix`) and the
//! allowed headers, without the body. Allowed: `200` with the headers for the
//! upstream (list them in Envoy's `allowed_upstream_headers`); denied: `401`
//! or `403` with a short body. There is no verified downstream certificate
//! in this mode, so the principal comes from a bearer token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

use crate::mapping::HttpCheck;
use crate::{ExtAuthz, Verdict};

/// The router answering every method and path as an authorization check.
pub fn http_router(authz: Arc<ExtAuthz>) -> Router {
    Router::new().fallback(check).with_state(authz)
}

fn read(
    authz: &ExtAuthz,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<HttpCheck, (String, String)> {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut pairs = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        let v = v
            .to_str()
            .map_err(|_| (id.clone(), format!("header {k} is not visible ASCII")))?;
        pairs.push((k.as_str().to_owned(), v.to_owned()));
    }
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let prefix = authz.config().http_path_prefix.trim_end_matches('/');
    let path = match target.strip_prefix(prefix) {
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        _ => {
            return Err((
                id,
                format!("path does not start with http_path_prefix {prefix:?}"),
            ))
        }
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    Ok(HttpCheck {
        id,
        method: method.as_str().to_owned(),
        path,
        host: host.to_owned(),
        scheme: headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        headers: pairs,
        ..Default::default()
    })
}

async fn check(
    State(authz): State<Arc<ExtAuthz>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let verdict = match read(&authz, &method, &uri, &headers) {
        Ok(c) => authz.check(&c).await,
        Err((id, why)) => authz.refuse_unreadable(&id, why),
    };
    let mut response = Response::new(Body::empty());
    match verdict {
        Verdict::Allow(a) => {
            for (k, v) in &a.headers {
                // Both were checked to be header-safe when the verdict was made.
                if let (Ok(k), Ok(v)) = (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    response.headers_mut().insert(k, v);
                }
            }
        }
        Verdict::Deny(reason) => {
            *response.status_mut() = if reason.status() == 401 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            *response.body_mut() = Body::from(reason.public_body());
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if reason.status() == 401 && authz.offers_bearer() {
                response.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Bearer realm=\"palisade\""),
                );
            }
        }
    }
    response
}
