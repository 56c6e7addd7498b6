//! The gRPC transport: `envoy.service.auth.v3.Authorization/Check` and
//! `grpc.health.v1.Health`.
//!
//! A denial is an answer, not a gRPC error: `CheckResponse.status` is
//! `UNAUTHENTICATED` or `PERMISSION_DENIED` with a denied HTTP response
//! (401/403, a short body), so Envoy refuses the request whatever its
//! `failure_mode_allow`.

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse,
    HeaderAppendAction, HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::google::rpc;
use tonic::{Request, Response, Status};

use crate::mapping::HttpCheck;
use crate::{ExtAuthz, Verdict};

/// gRPC status codes used in `CheckResponse.status`.
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;

/// The `Authorization` service over an [`ExtAuthz`].
#[derive(Debug, Clone)]
pub struct AuthorizationService {
    authz: Arc<ExtAuthz>,
}

impl AuthorizationService {
    /// The service deciding with `authz`.
    pub fn new(authz: Arc<ExtAuthz>) -> Self {
        Self { authz }
    }
}

fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

fn peer_address(
    peer: Option<&envoy_types::pb::envoy::service::auth::v3::attribute_context::Peer>,
) -> String {
    match peer
        .and_then(|p| p.address.as_ref())
        .and_then(|a| a.address.as_ref())
    {
        Some(Address::SocketAddress(s)) => match &s.port_specifier {
            Some(
                envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(
                    p,
                ),
            ) => {
                format!("{}:{p}", s.address)
            }
            _ => s.address.clone(),
        },
        _ => String::new(),
    }
}

/// Reads the HTTP request out of a `CheckRequest`, or says why it cannot.
fn http_check(req: &CheckRequest) -> Result<HttpCheck, (String, String)> {
    let attrs = req
        .attributes
        .as_ref()
        .ok_or_else(|| (String::new(), "CheckRequest without attributes".to_owned()))?;
    let http = attrs
        .request
        .as_ref()
        .and_then(|r| r.http.as_ref())
        .ok_or_else(|| {
            (
                String::new(),
                "CheckRequest without HTTP attributes".to_owned(),
            )
        })?;
    let mut headers: Vec<(String, String)> = http
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    // With `encode_raw_headers`, Envoy sends `header_map` (bytes) instead.
    if let Some(map) = &http.header_map {
        for h in &map.headers {
            let value = if h.raw_value.is_empty() {
                h.value.clone()
            } else {
                String::from_utf8(h.raw_value.clone())
                    .map_err(|_| (http.id.clone(), format!("header {:?} is not UTF-8", h.key)))?
            };
            headers.push((h.key.to_ascii_lowercase(), value));
        }
    }
    // Pseudo-headers repeat method, path and host: the fields decide.
    headers.retain(|(k, _)| !k.starts_with(':'));
    headers.sort();
    Ok(HttpCheck {
        id: http.id.clone(),
        method: http.method.clone(),
        path: http.path.clone(),
        host: http.host.clone(),
        scheme: http.scheme.clone(),
        headers,
        source_address: peer_address(attrs.source.as_ref()),
        source_principal: attrs
            .source
            .as_ref()
            .map(|p| p.principal.clone())
            .unwrap_or_default(),
        destination_principal: attrs
            .destination
            .as_ref()
            .map(|p| p.principal.clone())
            .unwrap_or_default(),
    })
}

/// The `CheckResponse` for a verdict.
pub(crate) fn check_response(authz: &ExtAuthz, verdict: &Verdict) -> CheckResponse {
    match verdict {
        Verdict::Allow(a) => CheckResponse {
            status: Some(rpc::Status {
                code: OK,
                ..Default::default()
            }),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: a.headers.iter().map(|(k, v)| header(k, v)).collect(),
                ..Default::default()
            })),
            ..Default::default()
        },
        Verdict::Deny(reason) => {
            let status = reason.status();
            let mut headers = vec![header("content-type", "text/plain; charset=utf-8")];
            if status == 401 && authz.offers_bearer() {
                headers.push(header("www-authenticate", "Bearer realm=\"palisade\""));
            }
            CheckResponse {
                status: Some(rpc::Status {
                    code: if status == 401 {
                        UNAUTHENTICATED
                    } else {
                        PERMISSION_DENIED
                    },
                    message: reason.code().into(),
                    ..Default::default()
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus {
                        code: i32::from(status),
                    }),
                    headers,
                    body: reason.public_body().into(),
                })),
                ..Default::default()
            }
        }
    }
}

#[tonic::async_trait]
impl Authorization for AuthorizationService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let verdict = match http_check(request.get_ref()) {
            Ok(check) => self.authz.check(&check).await,
            Err((id, why)) => self.authz.refuse_unreadable(&id, why),
        };
        Ok(Response::new(check_response(&self.authz, &verdict)))
    }
}

/// Serves `Authorization` and the standard health service on `listener`
/// until `shutdown` completes.
pub async fn serve_grpc(
    authz: Arc<ExtAuthz>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AuthorizationServer<AuthorizationService>>()
        .await;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(AuthorizationServer::new(AuthorizationService::new(authz)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
