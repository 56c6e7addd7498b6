//! The ext_authz servers over the example bundle, driven like Envoy drives
//! them: a tonic `Authorization` client sends realistic `CheckRequest`s
//! (SPIFFE sources, bearer tokens from a real `oidc-provider`, no identity,
//! malformed and oversized requests), the standard health client asks for
//! SERVING, an HTTP client plays Envoy's `http_service` mode, and the
//! decision log must hold every answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use palisade_extauthz::{DenyReason, ExtAuthz, ExtAuthzConfig, ExtAuthzServer, HttpCheck, Verdict};
use palisade_identity::{IdentityConfig, IssuerConfig, PrincipalMapping, TokenVerifier};
use palisade_policy::decision_log::{AuditKeys, DecisionLog, DecisionLogConfig};
use palisade_policy::{
    AuthzenMapping, DecisionLimits, DecisionPoint, OnEvaluationError, PolicyMetrics, PolicyStore,
};
use palisade_store::Store;
use palisade_testkit::OidcProvider;
use serde_json::{json, Value};
use tonic::transport::Channel;

const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";

struct Harness {
    pdp: Arc<DecisionPoint>,
    tokens: Arc<TokenVerifier>,
    identity: IdentityConfig,
    store: Arc<dyn Store>,
    server: ExtAuthzServer,
    client: AuthorizationClient<Channel>,
    _dir: tempfile::TempDir,
}

fn identity(issuer: &str) -> IdentityConfig {
    IdentityConfig {
        issuers: vec![IssuerConfig {
            issuer: issuer.into(),
            audiences: vec!["urn:palisade".into()],
            principal: PrincipalMapping {
                entity_type: "Service".into(),
                group_entity_type: "ServiceGroup".into(),
                id_prefix: Some("idp|".into()),
                attributes: vec!["client_id".into()],
                context: vec!["client_id".into()],
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn harness(issuer: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = palisade_store::open(&url).await.unwrap();
    let metrics = PolicyMetrics::new();
    let examples = repo_root().join("examples/policies");
    let policies = Arc::new(
        PolicyStore::open(
            &examples,
            store.clone(),
            metrics.clone(),
            OnEvaluationError::Deny,
        )
        .await
        .expect("the example bundle, ext_authz policies included, compiles"),
    );
    let keys = Arc::new(AuditKeys::load_or_create(dir.path()).unwrap());
    let log = Arc::new(
        DecisionLog::start(
            store.clone(),
            keys,
            &DecisionLogConfig::default(),
            metrics.clone(),
        )
        .await
        .unwrap(),
    );
    let pdp = Arc::new(DecisionPoint::new(
        policies,
        log,
        metrics,
        AuthzenMapping::default(),
        DecisionLimits::default(),
    ));
    let identity = identity(issuer);
    let tokens = Arc::new(TokenVerifier::new(&identity).unwrap());
    let config = ExtAuthzConfig {
        enabled: true,
        grpc_listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let authz = ExtAuthz::new(
        config,
        pdp.clone(),
        tokens.clone(),
        identity.workload.clone(),
    )
    .unwrap();
    let server = ExtAuthzServer::start(Arc::new(authz)).await.unwrap();
    let client = AuthorizationClient::connect(format!("http://{}", server.grpc_addr()))
        .await
        .unwrap();
    Harness {
        pdp,
        tokens,
        identity,
        store,
        server,
        client,
        _dir: dir,
    }
}

/// A request as Envoy's HTTP filter describes it.
fn request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    source: &str,
) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: source.into(),
                ..Default::default()
            }),
            destination: Some(Peer {
                principal: "spiffe://cluster.local/ns/shop/sa/orders".into(),
                ..Default::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    id: format!("req-{method}-{path}"),
                    method: method.into(),
                    path: path.into(),
                    host: host.into(),
                    scheme: "https".into(),
                    protocol: "HTTP/1.1".into(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<HashMap<_, _>>(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// What a check answered: gRPC status code, HTTP status, headers, body.
#[derive(Debug)]
struct Answer {
    code: i32,
    http: u16,
    headers: HashMap<String, String>,
    body: String,
}

fn answer(r: CheckResponse) -> Answer {
    let code = r.status.as_ref().map_or(-1, |s| s.code);
    match r.http_response {
        Some(HttpResponse::OkResponse(ok)) => Answer {
            code,
            http: 200,
            headers: ok
                .headers
                .into_iter()
                .filter_map(|h| h.header.map(|h| (h.key, h.value)))
                .collect(),
            body: String::new(),
        },
        Some(HttpResponse::DeniedResponse(d)) => Answer {
            code,
            http: d.status.map_or(0, |s| s.code as u16),
            headers: d
                .headers
                .into_iter()
                .filter_map(|h| h.header.map(|h| (h.key, h.value)))
                .collect(),
            body: d.body,
        },
        other => panic!("unexpected http_response {other:?}"),
    }
}

impl Harness {
    async fn check(&mut self, req: CheckRequest) -> Answer {
        answer(
            self.client
                .check(req)
                .await
                .expect("Check answers")
                .into_inner(),
        )
    }

    /// The decision log's records of the ext_authz API, once `n` are written.
    async fn ext_authz_records(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let records: Vec<Value> = self
                .store
                .decisions_after(0, 10_000)
                .await
                .unwrap()
                .iter()
                .map(|r| serde_json::from_str::<Value>(&r.record).unwrap())
                .filter(|r| r["api"] == "ext_authz")
                .collect();
            if records.len() >= n {
                return records;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "only {} of {n} ext_authz decisions reached the log",
                records.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn allowed(a: &Answer, principal: &str) {
    assert_eq!((a.code, a.http), (0, 200), "{a:?}");
    assert_eq!(a.headers["x-palisade-principal"], principal, "{a:?}");
    assert!(a.headers.contains_key("x-palisade-policy-version"), "{a:?}");
}

fn denied(a: &Answer, http: u16) {
    let code = if http == 401 { 16 } else { 7 };
    assert_eq!((a.code, a.http), (code, http), "{a:?}");
    assert!(!a.headers.contains_key("x-palisade-principal"), "{a:?}");
    assert!(!a.body.is_empty() && a.body.len() < 80, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_maps_spiffe_sources_and_bearer_tokens_and_fails_closed() {
    let p = OidcProvider::shared();
    let mut h = harness(&p.issuer).await;
    let mut decisions = 0;

    // SPIFFE sources: the frontend reads orders, may not delete them; a
    // foreign trust domain is refused by the forbid even on /healthz.
    let a = h
        .check(request(
            "GET",
            "orders.shop.svc:8080",
            "/v1/orders/42?page=2",
            &[],
            FRONTEND,
        ))
        .await;
    allowed(&a, &format!(r#"Workload::"{FRONTEND}""#));
    denied(
        &h.check(request(
            "DELETE",
            "orders.shop.svc",
            "/v1/orders/42",
            &[],
            FRONTEND,
        ))
        .await,
        403,
    );
    denied(
        &h.check(request(
            "GET",
            "orders.shop.svc",
            "/healthz",
            &[],
            "spiffe://evil.example/ns/shop/sa/frontend",
        ))
        .await,
        403,
    );
    // A path that only reaches the orders API after normalisation is refused.
    denied(
        &h.check(request(
            "GET",
            "orders.shop.svc",
            "/healthz/../v1/orders",
            &[],
            "spiffe://cluster.local/ns/other/sa/x",
        ))
        .await,
        403,
    );
    decisions += 4;

    // Bearer tokens (RS256 and ES256) from the real provider: groups decide.
    let alice = p.token("svc-alice", Some("urn:palisade"));
    let alice_es = p.token("svc-alice", Some("urn:palisade:es256"));
    let bob = p.token("svc-bob", Some("urn:palisade"));
    for t in [&alice, &alice_es] {
        let auth = format!("Bearer {t}");
        let a = h
            .check(request(
                "POST",
                "api.shop.svc",
                "/admin/users",
                &[("authorization", auth.as_str())],
                "",
            ))
            .await;
        allowed(&a, r#"Service::"idp|svc-alice""#);
    }
    let bob_auth = format!("Bearer {bob}");
    denied(
        &h.check(request(
            "POST",
            "api.shop.svc",
            "/admin",
            &[("authorization", bob_auth.as_str())],
            "",
        ))
        .await,
        403,
    );
    // The token comes first: bob reads orders as himself although the
    // connection is the frontend's, and a client-sent principal header is
    // replaced by the verified one.
    let a = h
        .check(request(
            "GET",
            "orders.shop.svc",
            "/v1/orders",
            &[
                ("authorization", bob_auth.as_str()),
                ("x-palisade-principal", "Workload::\"root\""),
            ],
            FRONTEND,
        ))
        .await;
    allowed(&a, r#"Service::"idp|svc-bob""#);
    decisions += 4;

    // Refused credentials are a 401 and never fall back to the SPIFFE source.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = p.sign(
        "RS256",
        json!({"typ": "at+jwt"}),
        json!({"iss": p.issuer, "aud": "urn:palisade", "sub": "svc-alice",
                       "client_id": "svc-alice", "groups": ["admins"],
                       "iat": now - 7200, "exp": now - 3600, "jti": "x"}),
    );
    // One character in the middle of the signature changed.
    let cut = alice.rfind('.').unwrap() + (alice.len() - alice.rfind('.').unwrap()) / 2;
    let swapped = if &alice[cut..=cut] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &alice[..cut], &alice[cut + 1..]);
    for (bad, why) in [
        (format!("Bearer {expired}"), "expired"),
        (format!("Bearer {tampered}"), "tampered"),
        ("Bearer not-a-jwt".to_owned(), "malformed"),
        (format!("Basic {alice}"), "not bearer"),
    ] {
        let a = h
            .check(request(
                "GET",
                "orders.shop.svc",
                "/v1/orders",
                &[("authorization", bad.as_str())],
                FRONTEND,
            ))
            .await;
        denied(&a, 401);
        assert_eq!(
            a.headers["www-authenticate"], "Bearer realm=\"palisade\"",
            "{why}"
        );
        assert!(
            !a.body.contains("expired") && !a.body.contains("signature"),
            "{why}: {a:?}"
        );
    }
    decisions += 4;

    // No identity at all: 401.
    denied(
        &h.check(request("GET", "orders.shop.svc", "/healthz", &[], ""))
            .await,
        401,
    );
    decisions += 1;

    // Malformed: no attributes, no HTTP attributes, no host, odd method.
    denied(&h.check(CheckRequest::default()).await, 403);
    let mut no_http = request("GET", "orders.shop.svc", "/", &[], FRONTEND);
    no_http.attributes.as_mut().unwrap().request = None;
    denied(&h.check(no_http).await, 403);
    denied(
        &h.check(request("GET", "", "/healthz", &[], FRONTEND)).await,
        403,
    );
    denied(
        &h.check(request("get", "orders.shop.svc", "/healthz", &[], FRONTEND))
            .await,
        403,
    );
    decisions += 4;

    // Huge headers: refused before any token is verified.
    let huge = "a".repeat(100 * 1024);
    denied(
        &h.check(request(
            "GET",
            "orders.shop.svc",
            "/healthz",
            &[("x-big", huge.as_str())],
            FRONTEND,
        ))
        .await,
        403,
    );
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    denied(
        &h.check(request(
            "GET",
            "orders.shop.svc",
            "/healthz",
            &many,
            FRONTEND,
        ))
        .await,
        403,
    );
    decisions += 2;

    // Every answer is in the decision log, with the verified principal.
    let records = h.ext_authz_records(decisions).await;
    assert_eq!(records.len(), decisions);
    let first = records
        .iter()
        .find(|r| r["request_id"] == "req-GET-/v1/orders/42?page=2")
        .expect("the first check is logged under Envoy's request id");
    assert_eq!(first["decision"], "allow", "{first}");
    assert_eq!(
        first["principal"],
        format!(r#"Workload::"{FRONTEND}""#),
        "{first}"
    );
    assert_eq!(
        first["resource"], r#"HttpRoute::"orders.shop.svc/v1/orders/42""#,
        "{first}"
    );
    assert_eq!(first["context"]["query"], "page=2", "{first}");
    let refused = records.iter().filter(|r| r["decision"] == "deny").count();
    assert_eq!(refused, decisions - 4, "four allows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_errors_deny_and_health_is_serving() {
    let p = OidcProvider::shared();
    let h = harness(&p.issuer).await;

    // A mapping the schema refuses (a resource type it does not declare,
    // context headers it does not know) is an evaluation error: denied.
    for config in [
        ExtAuthzConfig {
            resource_type: "Route".into(),
            ..Default::default()
        },
        ExtAuthzConfig {
            context_headers: vec!["user-agent".into()],
            ..Default::default()
        },
    ] {
        let authz = ExtAuthz::new(
            config,
            h.pdp.clone(),
            h.tokens.clone(),
            h.identity.workload.clone(),
        )
        .unwrap();
        let v = authz
            .check(&HttpCheck {
                method: "GET".into(),
                path: "/v1/orders".into(),
                host: "orders.shop.svc".into(),
                headers: vec![("user-agent".into(), "curl".into())],
                source_principal: FRONTEND.into(),
                ..Default::default()
            })
            .await;
        match v {
            Verdict::Deny(DenyReason::Policy(errors)) => assert!(!errors.is_empty()),
            other => panic!("expected a deny with errors, got {other:?}"),
        }
    }

    // The standard health service.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let channel = Channel::from_shared(format!("http://{}", h.server.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // The HTTP variant, as Envoy's http_service sends it.
    let http = format!("http://{}", h.server.http_addr().unwrap());
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let bob = p.token("svc-bob", Some("urn:palisade"));
    let r = c
        .get(format!("{http}/v1/orders/7?x=1"))
        .header("host", "orders.shop.svc")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-palisade-principal"],
        r#"Service::"idp|svc-bob""#
    );
    let r = c
        .delete(format!("{http}/v1/orders/7"))
        .header("host", "orders.shop.svc")
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("x-palisade-principal").is_none());
    let r = c
        .get(format!("{http}/v1/orders"))
        .header("host", "orders.shop.svc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"palisade\"");
    assert_eq!(
        r.text().await.unwrap(),
        "unauthenticated: invalid or missing credentials\n"
    );
    let r = c
        .get(format!("{http}/v1/orders"))
        .header("host", "orders.shop.svc")
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The workspace root, from this crate's own manifest directory (a
/// dependency's compile-time path may belong to another checkout).
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}
