//! Hostile input against a spawned `palisade serve`: oversized, deeply
//! nested, mistyped and random bodies, HTTP-level garbage, and policies
//! built to exhaust the parser. Every answer is a clean 4xx (or a deny that
//! says why), and afterwards the server still answers.

mod common;

use common::{authzen, poll_until, raw_exchange, uid, Server};
use reqwest::Method;
use serde_json::{json, Value};

const DECISION_ENDPOINTS: [&str; 7] = [
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/access/v1/search/subject",
    "/access/v1/search/resource",
    "/access/v1/search/action",
    "/v1/is_authorized",
    "/v1/is_authorized/batch",
];

/// The server is alive and still decides correctly.
#[track_caller]
fn assert_healthy(s: &Server) {
    let r = s.get("/healthz").expect(200);
    assert_eq!(r.text, "ok\n");
    let d = s.evaluate("User:alice", "read", "Document:roadmap");
    assert_eq!(d["decision"], true, "{d}");
}

/// Status code of a raw HTTP exchange.
fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn a_body_over_max_body_bytes_is_413() {
    let s = Server::start();
    // The default bound is 1 MiB. A JSON body just over it, and one well over it.
    for size in [1024 * 1024 + 1, 8 * 1024 * 1024] {
        let mut body = b"{\"subject\":{\"type\":\"User\",\"id\":\"".to_vec();
        body.resize(size - 3, b'a');
        body.extend_from_slice(b"\"}}");
        assert_eq!(body.len(), size);
        for path in ["/access/v1/evaluation", "/v1/is_authorized/batch"] {
            let mut req = format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n",
                s.addr
            )
            .into_bytes();
            req.extend_from_slice(&body);
            let resp = raw_exchange(&s, req);
            let status = status_of(&resp);
            // Just over the bound: always a 413. Far over it, the server
            // answers 413 and closes without reading the rest; the client,
            // still sending megabytes, may then get the TCP reset before it
            // reads the 413 (there is no lingering close). Either way the
            // body is refused, never decided.
            let refused = status == Some(413) || (size > 2 * 1024 * 1024 && status.is_none());
            assert!(
                refused,
                "{path}, {size} bytes: {status:?} {}",
                String::from_utf8_lossy(&resp[..resp.len().min(500)])
            );
        }
    }
    // The server is still serving after refusing them.
    let d = s.evaluate("User:alice", "read", "Document:roadmap");
    assert_eq!(d["decision"], true, "{d}");
    // Chunked, without a Content-Length: the bound holds while reading.
    let mut req = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr
    )
    .into_bytes();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..20 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(&s, req);
    assert_eq!(
        status_of(&resp),
        Some(413),
        "{}",
        String::from_utf8_lossy(&resp[..resp.len().min(500)])
    );
    // Just under the bound is read and judged on its content.
    let mut body = b"{\"subject\":{\"type\":\"User\",\"id\":\"".to_vec();
    body.resize(1024 * 1024 - 3, b'a');
    body.extend_from_slice(b"\"}}");
    s.post_raw("/access/v1/evaluation", body).expect_error(400);
    assert_healthy(&s);
}

#[test]
fn deeply_nested_json_is_400() {
    let s = Server::start();
    let deep = "[".repeat(100_000);
    for path in DECISION_ENDPOINTS {
        s.post_raw(path, deep.clone()).expect_error(400);
        let nested_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        s.post_raw(path, nested_object).expect_error(400);
    }
    // Nesting where the API takes arbitrary JSON: context, properties, entities.
    let deep_in = |field: &str| {
        format!(
            "{{\"subject\":{{\"type\":\"User\",\"id\":\"alice\"}},\"action\":{{\"name\":\"read\"}},\"resource\":{{\"type\":\"Document\",\"id\":\"roadmap\"}},\"{field}\":{{\"x\":{}}}}}",
            "[".repeat(100_000)
        )
    };
    s.post_raw("/access/v1/evaluation", deep_in("context"))
        .expect_error(400);
    let cedar_deep = format!(
        "{{\"principal\":{},\"action\":\"Action::\\\"read\\\"\",\"resource\":\"Document::\\\"roadmap\\\"\"}}",
        "[".repeat(100_000)
    );
    s.post_raw("/v1/is_authorized", cedar_deep)
        .expect_error(400);
    let cedar_entities = format!(
        "{{\"principal\":\"User::\\\"alice\\\"\",\"action\":\"Action::\\\"read\\\"\",\"resource\":\"Document::\\\"roadmap\\\"\",\"entities\":[{{\"uid\":{{\"type\":\"User\",\"id\":\"x\"}},\"attrs\":{{\"a\":{}}}}}]}}",
        "{\"a\":".repeat(100_000)
    );
    s.post_raw("/v1/is_authorized", cedar_entities)
        .expect_error(400);
    assert_healthy(&s);
}

#[test]
fn nesting_the_decoder_accepts_is_decided_without_harm() {
    // No schema here, so nested values reach Cedar's evaluator.
    let s = Server::builder()
        .policies(|dir| {
            std::fs::remove_file(dir.join("app.cedarschema")).unwrap();
            std::fs::write(
                dir.join("deep.cedar"),
                "@id(\"deep\")\npermit (principal, action == Action::\"read\", resource)\n\
                 when { context has x && context.x == context.x && principal has x && principal.x == principal.x };\n",
            )
            .unwrap();
        })
        .start();
    for depth in [60, 120] {
        let arrays: Value =
            serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))).unwrap();
        let records: Value = serde_json::from_str(&format!(
            "{}1{}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        ))
        .unwrap();
        for x in [arrays, records] {
            let r = s
                .post(
                    "/v1/is_authorized",
                    &json!({
                        "principal": uid("User:dave"),
                        "action": uid("Action:read"),
                        "resource": uid("Document:roadmap"),
                        "context": { "x": x },
                        "entities": [{ "uid": { "type": "User", "id": "dave" }, "attrs": { "x": x }, "parents": [] }],
                    }),
                )
                .expect(200)
                .json();
            assert_eq!(r["decision"], "Allow", "depth {depth}: {r}");
            assert_eq!(r["diagnostics"]["reason"], json!(["deep"]));
            let mut req = authzen("User:dave", "read", "Document:roadmap");
            req["subject"]["properties"] = json!({ "x": x });
            req["context"] = json!({ "x": x });
            let r = s.post("/access/v1/evaluation", &req).expect(200).json();
            assert_eq!(r["decision"], true, "depth {depth}: {r}");
        }
    }
    assert_eq!(s.get("/healthz").expect(200).text, "ok\n");
}

#[test]
fn wrong_types_everywhere_are_400() {
    let s = Server::start();
    let wrong: Vec<Value> = vec![
        json!(null),
        json!(true),
        json!(12.5),
        json!("a string"),
        json!([]),
    ];
    for path in DECISION_ENDPOINTS {
        for body in &wrong {
            let msg = s.post(path, body).expect_error(400);
            assert!(!msg.is_empty(), "{path} {body}");
        }
    }
    // Field by field.
    let cases: Vec<(&str, Value)> = vec![
        (
            "/access/v1/evaluation",
            json!({ "subject": [], "action": { "name": "read" }, "resource": { "type": "Document", "id": "x" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": 1, "id": "a" }, "action": { "name": "read" }, "resource": { "type": "Document", "id": "x" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "User", "id": "a", "properties": "p" }, "action": { "name": "read" }, "resource": { "type": "Document", "id": "x" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "User", "id": "a" }, "action": { "name": ["read"] }, "resource": { "type": "Document", "id": "x" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "User", "id": "a" }, "action": { "name": "read" }, "resource": { "type": "Document", "id": { "id": "x" } } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "User", "id": "a" }, "action": { "name": "read" }, "resource": { "type": "Document", "id": "x" }, "context": 5 }),
        ),
        ("/access/v1/evaluations", json!({ "evaluations": {} })),
        ("/access/v1/evaluations", json!({ "evaluations": [1, 2] })),
        (
            "/access/v1/evaluations",
            json!({ "evaluations": [{ "subject": "alice" }] }),
        ),
        (
            "/access/v1/evaluations",
            json!({ "evaluations": [{}], "options": "fast" }),
        ),
        (
            "/access/v1/evaluations",
            json!({ "evaluations": [{}], "options": { "evaluations_semantic": 1 } }),
        ),
        (
            "/access/v1/evaluations",
            json!({ "subject": 1, "evaluations": [{}] }),
        ),
        (
            "/access/v1/search/subject",
            json!({ "subject": { "type": "User" }, "action": { "name": "read" }, "resource": { "type": "Document", "id": "roadmap" }, "page": { "limit": "ten" } }),
        ),
        (
            "/access/v1/search/resource",
            json!({ "subject": { "type": "User", "id": "alice" }, "action": { "name": "read" }, "resource": { "type": "Document" }, "page": { "limit": -1 } }),
        ),
        (
            "/access/v1/search/resource",
            json!({ "subject": { "type": "User", "id": "alice" }, "action": { "name": "read" }, "resource": { "type": "Document" }, "page": { "token": 5 } }),
        ),
        (
            "/access/v1/search/resource",
            json!({ "subject": { "type": "User", "id": "alice" }, "action": { "name": "read" }, "resource": { "type": "Document" }, "page": { "limit": 99_999_999_999u64 } }),
        ),
        (
            "/access/v1/search/action",
            json!({ "subject": { "type": "User", "id": "alice" }, "resource": "Document" }),
        ),
        ("/v1/is_authorized/batch", json!({ "requests": [1] })),
        ("/v1/is_authorized/batch", json!({ "requests": {} })),
        (
            "/v1/is_authorized/batch",
            json!({ "requests": [{ "principal": "User::\"a\"" }] }),
        ),
    ];
    for (path, body) in cases {
        let r = s.post(path, &body);
        let status = r.status;
        let text = r.text.clone();
        assert_eq!(status, 400, "{path} {body}: {text}");
        r.expect_error(400);
    }
    // Values outside what JSON numbers can carry.
    s.post_raw(
        "/access/v1/evaluation",
        "{\"subject\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Document\",\"id\":\"roadmap\"},\"context\":{\"mfa\":1e999}}",
    )
    .expect_error(400);
    // Invalid UTF-8 inside a string.
    let mut body = b"{\"subject\":{\"type\":\"User\",\"id\":\"al".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc0]);
    body.extend_from_slice(b"ice\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Document\",\"id\":\"roadmap\"}}");
    s.post_raw("/access/v1/evaluation", body).expect_error(400);
    assert_healthy(&s);
}

/// A JSON array is not a request object (the OpenAPI document and the README
/// say a body that is not a valid request is a 400), yet serde's derived
/// decoders accept arrays as positional struct fields.
#[test]
fn positional_arrays_are_not_requests() {
    let s = Server::start();
    let cases: [(&str, &str); 5] = [
        (
            "/v1/is_authorized",
            r#"["User::\"alice\"","Action::\"read\"","Document::\"roadmap\""]"#,
        ),
        (
            "/v1/is_authorized/batch",
            r#"[[["User::\"alice\"","Action::\"read\"","Document::\"roadmap\""]]]"#,
        ),
        (
            "/access/v1/evaluation",
            r#"[{"type":"User","id":"alice"},{"name":"read"},{"type":"Document","id":"roadmap"}]"#,
        ),
        (
            "/access/v1/evaluation",
            r#"{"subject":["User","alice"],"action":["read"],"resource":["Document","roadmap"]}"#,
        ),
        (
            "/access/v1/search/resource",
            r#"[["User","alice"],["read"],["Document"]]"#,
        ),
    ];
    let mut decided = Vec::new();
    for (path, body) in cases {
        let r = s.post_raw(path, body);
        if r.status != 400 {
            decided.push(format!("{path} {body}\n  -> {} {}", r.status, r.text));
        }
    }
    assert!(
        decided.is_empty(),
        "array bodies were taken as requests instead of a 400:\n{}",
        decided.join("\n")
    );
}

#[test]
fn a_huge_number_of_batch_items_is_400() {
    let s = Server::start();
    let mut body = String::from("{\"evaluations\":[");
    for i in 0..100_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{}");
    }
    body.push_str("]}");
    assert!(body.len() < 1024 * 1024);
    let msg = s.post_raw("/access/v1/evaluations", body).expect_error(400);
    assert!(msg.contains("100000"), "{msg}");

    let item = "{\"principal\":\"User::\\\"alice\\\"\",\"action\":\"Action::\\\"read\\\"\",\"resource\":\"Document::\\\"roadmap\\\"\"}";
    let mut body = String::from("{\"requests\":[");
    for i in 0..10_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    assert!(body.len() < 1024 * 1024);
    s.post_raw("/v1/is_authorized/batch", body)
        .expect_error(400);
    // Nothing was decided for them.
    assert_eq!(
        s.metric(
            "palisade_decisions_total",
            &[("api", "authzen"), ("decision", "deny")]
        ),
        0.0
    );
    assert_healthy(&s);
}

#[test]
fn random_garbage_bytes_are_400() {
    let s = Server::start();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..150 {
        let len = 1 + (rng.next() % 2048) as usize;
        let mut body = rng.bytes(len);
        // Some rounds look like JSON at first.
        if round % 3 == 0 {
            body[0] = b'{';
        }
        let path = DECISION_ENDPOINTS[round % DECISION_ENDPOINTS.len()];
        let r = s.post_raw(path, body.clone());
        assert_eq!(r.status, 400, "{path}, round {round}: {body:?}: {}", r.text);
        r.expect_error(400);
    }
    // The admin API, authenticated, with garbage: refused, nothing changes.
    let etag = s.etag();
    for round in 0..20 {
        let len = 1 + (rng.next() % 1024) as usize;
        let body = rng.bytes(len);
        for (path, ct) in [
            ("/admin/v1/policies", "text/plain"),
            ("/admin/v1/policies", "application/json"),
            ("/admin/v1/entities", "application/json"),
            ("/admin/v1/schema", "text/plain"),
        ] {
            let r = Server::send(
                s.admin(Method::PUT, path)
                    .header("content-type", ct)
                    .body(body.clone()),
            );
            assert!(
                r.status == 400 || r.status == 422,
                "{path} round {round}: {} {}",
                r.status,
                r.text
            );
            assert!(r.json()["error"]["message"].is_string(), "{}", r.text);
        }
    }
    assert_eq!(s.etag(), etag);
    assert_healthy(&s);
}

#[test]
fn http_level_garbage_does_not_hurt() {
    let s = Server::start();
    let mut rng = Rng(42);
    let mut inputs: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n".to_vec(),
        b"POST /access/v1/evaluation HTTP/1.1\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"POST /access/v1/evaluation HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n"
            .to_vec(),
        b"POST /access/v1/evaluation HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200_000)).into_bytes(),
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "X-Junk: 1\r\n".repeat(10_000)
        )
        .into_bytes(),
    ];
    for _ in 0..20 {
        let n = 1 + (rng.next() % 4096) as usize;
        inputs.push(rng.bytes(n));
    }
    for input in inputs {
        let resp = raw_exchange(&s, input.clone());
        if let Some(status) = status_of(&resp) {
            assert!(
                (400..500).contains(&status),
                "{status} for {:?}",
                String::from_utf8_lossy(&input[..input.len().min(80)])
            );
        }
    }
    // A request id the server will not echo (too long) is replaced.
    let long = "r".repeat(1000);
    let r = Server::send(
        s.client
            .post(s.url("/access/v1/evaluation"))
            .header("x-request-id", &long)
            .json(&authzen("User:alice", "read", "Document:roadmap")),
    )
    .expect(200);
    let id = r.header("x-request-id").expect("a request id");
    assert!(!id.is_empty() && id != long);
    assert_healthy(&s);
}

/// A syntactically valid policy with an absurdly deep expression.
fn deep_policy(depth: usize) -> String {
    format!(
        "@id(\"deep\")\npermit (principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

#[test]
fn a_policy_nested_too_deep_for_the_parser_does_not_kill_the_server_via_admin_api() {
    let s = Server::builder()
        .config("[policy]\nwatch = false\n")
        .start();
    let etag = s.etag();
    let result = s
        .admin(Method::PUT, "/admin/v1/policies")
        .header("content-type", "text/plain")
        .body(format!(
            "{}\n{}",
            std::fs::read_to_string(common::examples_dir().join("sharing.cedar")).unwrap(),
            deep_policy(100_000)
        ))
        .send();
    let alive = s.client.get(s.url("/healthz")).send().is_ok();
    assert!(
        alive,
        "palisade died on a deeply nested policy sent to the admin API (client saw {result:?}):\n{}",
        s.logs()
    );
    let r = result.unwrap();
    let (status, text) = (r.status().as_u16(), r.text().unwrap());
    // Accepting it or refusing it with diagnostics are both fine; crashing is not.
    assert!(matches!(status, 200 | 422), "status {status}: {text}");
    if status == 422 {
        assert_eq!(s.etag(), etag);
        assert!(text.contains("admin-api.cedar"), "{text}");
    }
    assert_healthy(&s);
}

#[test]
fn a_policy_nested_too_deep_for_the_parser_does_not_kill_the_server_via_watched_dir() {
    let mut s = Server::start();
    let etag = s.etag();
    let failed = s.metric("palisade_policy_reloads_total", &[("result", "failure")]);
    std::fs::write(s.policy_dir.join("deep.cedar"), deep_policy(100_000)).unwrap();
    // The watcher reloads; wait for the outcome: refused (a failed reload is
    // counted), accepted (another version is served), or the process died.
    poll_until("the deep policy file to be judged", || {
        if !s.is_running() {
            return Some(());
        }
        let text = s
            .client
            .get(s.url("/metrics"))
            .send()
            .ok()
            .and_then(|r| r.text().ok())?;
        let failed_now = common::metric_value(
            &text,
            "palisade_policy_reloads_total",
            &[("result", "failure")],
        )
        .unwrap_or(0.0);
        let served = s
            .client
            .get(s.url("/readyz"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())?;
        (failed_now > failed || served["policy_version"] != etag.as_str()).then_some(())
    });
    assert!(
        s.is_running(),
        "palisade died on a deeply nested policy file:\n{}",
        s.logs()
    );
    assert_healthy(&s);
}
