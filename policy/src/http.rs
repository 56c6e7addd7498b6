//! The decision API over HTTP (axum): AuthZEN, Cedar-native, admin and
//! operations endpoints. Handlers only decode, call the [`DecisionPoint`] and
//! encode; a body that does not decode is a 400, one over the size bound a
//! 413, and nothing a client sends can make a handler panic.
#![allow(
    clippy::result_large_err,
    reason = "an early-return `Response` is the error path of a handler; boxing it buys nothing"
)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::admin::{
    decision_gate, AdminAction, AdminGuard, DecisionAccess, DecisionGate, PeerPrincipal,
};
use crate::bundle::SourceFile;
use crate::error::PolicyError;
use crate::pdp::{BadRequest, CedarBatchRequest, CedarRequest, DecisionPoint};
use crate::policy_store::PolicyUpdate;
use crate::principal::{
    TokenAuthenticator, TokenCedarRequest, TokenEvaluationRequest, Unauthenticated,
};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The OpenAPI 3.1 description of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// HTTP settings of the decision API.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Who may use the admin routes; `None` switches them off (404).
    pub admin: Option<Arc<AdminGuard>>,
    /// The base URL advertised in `/.well-known/authzen-configuration`.
    pub public_url: String,
    /// Who may ask the decision endpoints.
    pub decisions: DecisionAccess,
    /// Verifies bearer tokens when `decisions` is [`DecisionAccess::Token`].
    pub tokens: Option<Arc<dyn TokenAuthenticator>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            admin: None,
            public_url: String::new(),
            decisions: DecisionAccess::Open,
            tokens: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    pdp: Arc<DecisionPoint>,
    admin: Option<Arc<AdminGuard>>,
    public_url: Arc<str>,
}

/// Builds the router of the whole decision API.
///
/// The decision routes (AuthZEN, Cedar-native, and their mTLS-subject
/// forms) are guarded by `options.decisions`; the admin routes by
/// `options.admin`; health, metrics and metadata are open.
pub fn router(pdp: Arc<DecisionPoint>, options: HttpOptions) -> Router {
    let state = AppState {
        pdp,
        admin: options.admin,
        public_url: options.public_url.trim_end_matches('/').into(),
    };
    let gate = DecisionGate {
        access: options.decisions,
        tokens: options.tokens,
    };
    let decisions = Router::new()
        .route("/access/v1/evaluation", post(authzen_evaluation))
        .route("/access/v1/evaluations", post(authzen_evaluations))
        .route("/access/v1/search/subject", post(search_subject))
        .route("/access/v1/search/resource", post(search_resource))
        .route("/access/v1/search/action", post(search_action))
        .route(
            "/.well-known/authzen-configuration",
            get(authzen_configuration),
        )
        .route("/v1/is_authorized", post(is_authorized))
        .route("/v1/is_authorized/batch", post(is_authorized_batch))
        .route("/access/v1/peer/evaluation", post(peer_evaluation))
        .route("/v1/is_authorized_as_peer", post(is_authorized_as_peer))
        .route_layer(axum::middleware::from_fn_with_state(gate, decision_gate));
    let admin_routes = [
        (
            "/admin/v1/policy",
            AdminAction::PolicyRead,
            get(admin_policy),
        ),
        (
            "/admin/v1/versions",
            AdminAction::PolicyRead,
            get(admin_versions),
        ),
        (
            "/admin/v1/policies",
            AdminAction::PolicyUpdate,
            put(admin_put_policies),
        ),
        (
            "/admin/v1/entities",
            AdminAction::PolicyUpdate,
            put(admin_put_entities),
        ),
        (
            "/admin/v1/schema",
            AdminAction::PolicyUpdate,
            put(admin_put_schema),
        ),
        (
            "/admin/v1/reload",
            AdminAction::PolicyUpdate,
            post(admin_reload),
        ),
    ];
    let mut routes = Router::new().merge(decisions);
    for (route, action, handler) in admin_routes {
        let gate = AdminRoute {
            state: state.clone(),
            action,
            route,
        };
        routes = routes.route(
            route,
            handler.route_layer(axum::middleware::from_fn_with_state(gate, admin_gate)),
        );
    }
    routes
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
}

#[derive(Clone)]
struct TokenState {
    pdp: Arc<DecisionPoint>,
    tokens: Arc<dyn TokenAuthenticator>,
}

/// The token-based decision endpoints, whose subject is a bearer token
/// verified by `tokens`: `POST /access/v1/token/evaluation` (AuthZEN) and
/// `POST /v1/is_authorized_with_token` (Cedar-native). A token that does not
/// verify is a 401 that says nothing more (the reason is logged).
pub fn token_router(
    pdp: Arc<DecisionPoint>,
    tokens: Arc<dyn TokenAuthenticator>,
    max_body_bytes: usize,
) -> Router {
    Router::new()
        .route("/access/v1/token/evaluation", post(token_evaluation))
        .route(
            "/v1/is_authorized_with_token",
            post(is_authorized_with_token),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(TokenState { pdp, tokens })
}

/// The answer to a credential that did not verify, whatever the reason.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        )],
        axum::Json(
            json!({ "error": { "status": 401, "message": "invalid or missing credentials" } }),
        ),
    )
        .into_response()
}

async fn token_evaluation(
    State(s): State<TokenState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match decode::<TokenEvaluationRequest>(&body) {
        Ok(req) => match s.tokens.authenticate(&req.subject_token).await {
            Ok(p) => ok_json(&s.pdp.authzen_evaluation_as(&id, &p, &req)),
            Err(Unauthenticated) => unauthorized(),
        },
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn is_authorized_with_token(
    State(s): State<TokenState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match decode::<TokenCedarRequest>(&body) {
        Ok(req) => match req.token() {
            Ok(token) => match s.tokens.authenticate(token).await {
                Ok(p) => ok_json(&s.pdp.is_authorized_as(&id, &p, &req)),
                Err(Unauthenticated) => unauthorized(),
            },
            Err(m) => error_response(StatusCode::BAD_REQUEST, m),
        },
        Err(r) => r,
    };
    with_request_id(response, &id)
}

/// `POST /access/v1/peer/evaluation`: an AuthZEN evaluation whose subject
/// is the mTLS caller.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerEvaluationRequest {
    #[serde(deserialize_with = "crate::json_shape::object")]
    action: crate::authzen::AuthzenAction,
    #[serde(deserialize_with = "crate::json_shape::object")]
    resource: crate::authzen::AuthzenEntity,
    #[serde(default)]
    context: Option<serde_json::Map<String, Value>>,
}

/// `POST /v1/is_authorized_as_peer`: a Cedar-native decision whose principal
/// is the mTLS caller.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerCedarRequest {
    action: Value,
    resource: Value,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    entities: Option<Value>,
}

fn no_peer() -> Response {
    crate::admin::unauthorized(
        "this endpoint's subject is the mTLS client certificate; none was presented",
    )
}

async fn peer_evaluation(
    State(s): State<AppState>,
    peer: Option<Extension<PeerPrincipal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match (peer, decode::<PeerEvaluationRequest>(&body)) {
        (_, Err(r)) => r,
        (None, _) => no_peer(),
        (Some(Extension(PeerPrincipal(p))), Ok(req)) => {
            let req = TokenEvaluationRequest {
                subject_token: String::new(),
                action: req.action,
                resource: req.resource,
                context: req.context,
            };
            ok_json(&s.pdp.authzen_evaluation_as(&id, &p, &req))
        }
    };
    with_request_id(response, &id)
}

async fn is_authorized_as_peer(
    State(s): State<AppState>,
    peer: Option<Extension<PeerPrincipal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match (peer, decode::<PeerCedarRequest>(&body)) {
        (_, Err(r)) => r,
        (None, _) => no_peer(),
        (Some(Extension(PeerPrincipal(p))), Ok(req)) => {
            let req = TokenCedarRequest {
                access_token: None,
                identity_token: None,
                action: req.action,
                resource: req.resource,
                context: req.context,
                entities: req.entities,
            };
            ok_json(&s.pdp.is_authorized_as(&id, &p, &req))
        }
    };
    with_request_id(response, &id)
}

pub(crate) fn request_id(headers: &HeaderMap) -> Arc<str> {
    match headers.get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(id) if !id.is_empty() && id.len() <= 256 => id.into(),
        _ => new_request_id(),
    }
}

/// A request id for a caller that sent none: a random per-process prefix and
/// a counter, unique across replicas without a system call per request.
fn new_request_id() -> Arc<str> {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n:x}").into()
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn ok_json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode response: {e}"),
        ),
    }
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "status": status.as_u16(), "message": message } });
    json_response(status, body.to_string().into_bytes())
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let mut decoder = serde_json::Deserializer::from_slice(body);
    crate::json_shape::object(&mut decoder)
        .and_then(|v| decoder.end().map(|()| v))
        .map_err(|e| {
            error_response(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: {e}"),
            )
        })
}

async fn authzen_evaluation(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match decode(&body) {
        Ok(req) => ok_json(&s.pdp.authzen_evaluation(&id, &req).0),
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn authzen_evaluations(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match decode(&body) {
        Ok(req) => match s.pdp.authzen_evaluations(&id, &req) {
            Ok(v) => ok_json(&v),
            Err(BadRequest(m)) => error_response(StatusCode::BAD_REQUEST, &m),
        },
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn search_subject(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    search(s, headers, body, |p, id, r| p.search_subjects(id, r))
}

async fn search_resource(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    search(s, headers, body, |p, id, r| p.search_resources(id, r))
}

async fn search_action(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    search(s, headers, body, |p, id, r| p.search_actions(id, r))
}

fn search(
    s: AppState,
    headers: HeaderMap,
    body: Bytes,
    f: impl Fn(
        &DecisionPoint,
        &Arc<str>,
        &crate::authzen::SearchRequest,
    ) -> Result<crate::pdp::SearchResponse, BadRequest>,
) -> Response {
    let id = request_id(&headers);
    let response = match decode(&body) {
        Ok(req) => match f(&s.pdp, &id, &req) {
            Ok(v) => ok_json(&v),
            Err(BadRequest(m)) => error_response(StatusCode::BAD_REQUEST, &m),
        },
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn authzen_configuration(State(s): State<AppState>) -> Response {
    let base = &s.public_url;
    ok_json(&json!({
        "policy_decision_point": base.as_ref(),
        "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        "search_subject_endpoint": format!("{base}/access/v1/search/subject"),
        "search_resource_endpoint": format!("{base}/access/v1/search/resource"),
        "search_action_endpoint": format!("{base}/access/v1/search/action"),
    }))
}

async fn is_authorized(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let id = request_id(&headers);
    let response = match decode::<CedarRequest>(&body) {
        Ok(req) => ok_json(&s.pdp.is_authorized(&id, &req)),
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn is_authorized_batch(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id(&headers);
    let response = match decode::<CedarBatchRequest>(&body) {
        Ok(req) => match s.pdp.is_authorized_batch(&id, &req) {
            Ok(responses) => ok_json(&json!({ "responses": responses })),
            Err(BadRequest(m)) => error_response(StatusCode::BAD_REQUEST, &m),
        },
        Err(r) => r,
    };
    with_request_id(response, &id)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let v = s.pdp.policies().load();
    ok_json(&json!({ "status": "ready", "policy_version": v.etag() }))
}

async fn metrics(State(s): State<AppState>) -> Response {
    s.pdp.metrics().log_queue_depth(s.pdp.log().queue_depth());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.pdp.metrics().render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    json_response(StatusCode::OK, OPENAPI.as_bytes().to_vec())
}

/// Lets an admin request through when the caller is verified and Cedar
/// allows `action` (see [`AdminGuard`]); 404 when the admin API is off.
/// An admin route: who may call it is decided for `action` on `route`
/// before its handler runs, and before its body is read.
#[derive(Clone)]
struct AdminRoute {
    state: AppState,
    action: AdminAction,
    route: &'static str,
}

/// Middleware of the admin routes: 404 when the admin API is off, else the
/// [`AdminGuard`]'s answer (401/403) or the handler's.
async fn admin_gate(
    State(gate): State<AdminRoute>,
    peer: Option<Extension<PeerPrincipal>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(guard) = &gate.state.admin else {
        return error_response(StatusCode::NOT_FOUND, "the admin API is disabled");
    };
    // HEAD is answered by the GET handler, and decided as GET.
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    match guard
        .authorize(
            gate.action,
            method.as_str(),
            gate.route,
            req.headers(),
            peer.as_ref().map(|e| &e.0),
        )
        .await
    {
        Ok(_) => next.run(req).await,
        Err(r) => r,
    }
}

fn version_summary(v: &crate::version::PolicyVersion) -> Value {
    json!({
        "etag": v.etag(),
        "loaded_at": v.loaded_at().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "policies": v.policy_count(),
        "templates": v.policies().templates().count(),
        "entities": v.entity_count(),
        "schema": v.schema().is_some(),
        "files": v.bundle().policies.iter().chain(v.bundle().schema.iter()).chain(&v.bundle().entities).chain(&v.bundle().links).map(|f| &f.name).collect::<Vec<_>>(),
    })
}

fn with_etag(response: Response, etag: &str) -> Response {
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

async fn admin_policy(State(s): State<AppState>) -> Response {
    let v = s.pdp.policies().current();
    with_etag(ok_json(&version_summary(&v)), v.etag())
}

async fn admin_versions(State(s): State<AppState>) -> Response {
    match s.pdp.policies().history(50).await {
        Ok(v) => ok_json(&v),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn utf8(body: &Bytes) -> Result<String, Response> {
    String::from_utf8(body.to_vec())
        .map_err(|_| error_response(StatusCode::BAD_REQUEST, "body is not valid UTF-8"))
}

#[derive(serde::Deserialize)]
struct PoliciesBody {
    files: Vec<SourceFile>,
    #[serde(default)]
    links: Vec<SourceFile>,
}

async fn admin_put_policies(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let update = if is_json(&headers) {
        match decode::<PoliciesBody>(&body) {
            Ok(b) => PolicyUpdate::Policies {
                policies: b.files,
                links: b.links,
            },
            Err(r) => return r,
        }
    } else {
        match utf8(&body) {
            Ok(text) => PolicyUpdate::Policies {
                policies: vec![SourceFile {
                    name: "admin-api.cedar".into(),
                    text,
                }],
                links: s.pdp.policies().current().bundle().links.clone(),
            },
            Err(r) => return r,
        }
    };
    apply(&s, &headers, update).await
}

async fn admin_put_entities(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match utf8(&body) {
        Ok(text) => {
            let update = PolicyUpdate::Entities(vec![SourceFile {
                name: "admin-api.entities.json".into(),
                text,
            }]);
            apply(&s, &headers, update).await
        }
        Err(r) => r,
    }
}

async fn admin_put_schema(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match utf8(&body) {
        Ok(text) if text.trim().is_empty() => apply(&s, &headers, PolicyUpdate::Schema(None)).await,
        Ok(text) => {
            let name = if is_json(&headers) {
                "admin-api.cedarschema.json"
            } else {
                "admin-api.cedarschema"
            };
            apply(
                &s,
                &headers,
                PolicyUpdate::Schema(Some(SourceFile {
                    name: name.into(),
                    text,
                })),
            )
            .await
        }
        Err(r) => r,
    }
}

async fn admin_reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    apply(&s, &headers, PolicyUpdate::Directory).await
}

async fn apply(s: &AppState, headers: &HeaderMap, update: PolicyUpdate) -> Response {
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    match s.pdp.policies().update(update, if_match, "admin-api").await {
        Ok(v) => with_etag(ok_json(&version_summary(&v)), v.etag()),
        Err(PolicyError::Invalid(diags)) => {
            let body = json!({
                "error": { "status": 422, "message": "policy update rejected; the previous version keeps serving" },
                "diagnostics": diags,
            });
            json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                body.to_string().into_bytes(),
            )
        }
        Err(e @ PolicyError::Conflict { .. }) => {
            error_response(StatusCode::PRECONDITION_FAILED, &e.to_string())
        }
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
