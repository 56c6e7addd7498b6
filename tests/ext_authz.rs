//! `palisade serve` with `[ext_authz]` on the example bundle: a tonic
//! `Authorization` client (Envoy's API) and the standard gRPC health client
//! against the real binary, and curl playing Envoy's HTTP `http_service`
//! with a bearer token from a real `oidc-provider`.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{poll_until, Server};
use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use serde_json::Value;

const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";

fn check(method: &str, path: &str, source: &str) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: source.into(),
                ..Default::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    host: "orders.shop.svc".into(),
                    headers: HashMap::from([("user-agent".to_owned(), "test".to_owned())]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The address printed after `prefix` in the server's output.
fn printed_addr(server: &Server, prefix: &str) -> String {
    poll_until(prefix, || {
        server
            .logs()
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    })
}

/// curl as Envoy's HTTP ext_authz client: status and response headers.
fn curl(url: &str, token: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-w",
        "%{http_code}",
        "-H",
        "host: orders.shop.svc",
    ]);
    // The token goes through curl's config on stdin, not the command line.
    let mut config = String::new();
    if let Some(t) = token {
        config = format!("header = \"authorization: Bearer {t}\"\n");
        cmd.args(["-K", "-"]);
    }
    cmd.arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("curl is needed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(config.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (headers, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), headers.to_ascii_lowercase())
}

#[test]
fn serve_answers_envoy_over_grpc_and_http() {
    let oidc = palisade_testkit::service("oidc");
    let issuer = &oidc["OIDC_ISSUER"];
    let server = Server::builder()
        .config(&format!(
            r#"
[ext_authz]
enabled = true
grpc_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"

[[identity.issuers]]
issuer = "{issuer}"
audiences = ["urn:palisade"]
principal = {{ entity_type = "Service", group_entity_type = "ServiceGroup", id_prefix = "idp|" }}
"#
        ))
        .start();
    let grpc = printed_addr(&server, "ext_authz gRPC listening on ");
    let http = printed_addr(&server, "ext_authz HTTP listening on ");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = AuthorizationClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let answer = |req: CheckRequest| {
            let mut client = client.clone();
            async move { client.check(req).await.unwrap().into_inner() }
        };
        let ok = answer(check("GET", "/v1/orders/1", FRONTEND)).await;
        assert_eq!(ok.status.as_ref().unwrap().code, 0, "{ok:?}");
        match ok.http_response {
            Some(HttpResponse::OkResponse(r)) => {
                let h = r.headers.iter().find_map(|h| {
                    h.header
                        .as_ref()
                        .filter(|h| h.key == "x-palisade-principal")
                });
                assert_eq!(h.unwrap().value, format!(r#"Workload::"{FRONTEND}""#));
            }
            other => panic!("{other:?}"),
        }
        for (req, http_status) in [
            (check("DELETE", "/v1/orders/1", FRONTEND), 403),
            (check("GET", "/v1/orders/1", ""), 401),
            (CheckRequest::default(), 403),
        ] {
            let r = answer(req).await;
            match r.http_response {
                Some(HttpResponse::DeniedResponse(d)) => {
                    assert_eq!(d.status.unwrap().code, http_status, "{d:?}")
                }
                other => panic!("expected a denial, got {other:?}"),
            }
        }

        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = HealthClient::new(channel);
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "envoy.service.auth.v3.Authorization".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving);
    });

    // The HTTP variant, with curl as an independent client.
    let (code, _) = curl(&format!("{http}/v1/orders"), None);
    assert_eq!(code, 401);
    let token: Value = common::client()
        .post(format!("{issuer}/token"))
        .basic_auth("svc-bob", Some(&oidc["OIDC_CLIENT_SECRET"]))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let (code, headers) = curl(&format!("{http}/v1/orders"), Some(token));
    assert_eq!(code, 200, "{headers}");
    assert!(
        headers.contains("x-palisade-principal: service::\"idp|svc-bob\""),
        "{headers}"
    );
    let (code, _) = curl(&format!("{http}/admin/users"), Some(token));
    assert_eq!(code, 403);

    // Counted like every decision API.
    let metrics = server.get("/metrics").text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("palisade_decisions_total")
                && l.contains("api=\"ext_authz\"")
                && l.contains("decision=\"allow\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );
}
