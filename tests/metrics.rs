//! `/metrics` of a spawned `palisade serve`: a valid Prometheus exposition
//! (checked by `promtool`) whose counters follow the traffic.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{authzen, entity, metric_value, poll_until, uid, Server};
use reqwest::Method;
use serde_json::json;

/// Runs `promtool check metrics` on an exposition. Fails (never skips) when
/// promtool is missing.
fn promtool_check(exposition: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool is required by this test and could not be run ({e}); \
             install it with `apt-get install prometheus` (scripts/test.sh does)"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n--- stdout\n{}\n--- stderr\n{}\n--- exposition\n{exposition}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn decisions(text: &str, api: &str, decision: &str) -> f64 {
    metric_value(
        text,
        "palisade_decisions_total",
        &[("api", api), ("decision", decision)],
    )
    .unwrap_or(0.0)
}

#[test]
fn metrics_are_valid_and_count_decisions() {
    let s = Server::start();
    let r = s.get("/metrics").expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    let before = r.text;
    promtool_check(&before);

    // 4 AuthZEN allows and 4 denies (one of them unevaluable), 1 Cedar allow
    // and 1 deny, 1 search with results.
    for (p, a, r) in [
        ("User:alice", "read", "Document:roadmap"),
        ("User:carol", "read", "Document:handbook"),
        ("User:carol", "write", "Document:design"),
    ] {
        assert_eq!(s.evaluate(p, a, r)["decision"], true);
    }
    for (p, a, r) in [
        ("User:bob", "read", "Document:design"),
        ("User:alice", "delete", "Document:roadmap"),
    ] {
        assert_eq!(s.evaluate(p, a, r)["decision"], false);
    }
    let batch = s
        .post(
            "/access/v1/evaluations",
            &json!({ "evaluations": [
                authzen("User:alice", "read", "Document:design"),
                authzen("User:carol", "share", "Document:design"),
            ] }),
        )
        .expect(200)
        .json();
    assert_eq!(batch["evaluations"][0]["decision"], true);
    assert_eq!(batch["evaluations"][1]["decision"], false);
    let unevaluable = s
        .post(
            "/access/v1/evaluation",
            &json!({ "subject": { "type": "User" }, "action": { "name": "read" }, "resource": entity("Document:roadmap") }),
        )
        .expect(200)
        .json();
    assert_eq!(unevaluable["decision"], false);
    for (p, expected) in [("User:alice", "Allow"), ("User:bob", "Deny")] {
        let r = s
            .post(
                "/v1/is_authorized",
                &json!({ "principal": uid(p), "action": uid("Action:read"), "resource": uid("Document:design") }),
            )
            .expect(200)
            .json();
        assert_eq!(r["decision"], expected);
    }
    s.post(
        "/access/v1/search/resource",
        &json!({ "subject": entity("User:bob"), "action": { "name": "read" }, "resource": { "type": "Document" } }),
    )
    .expect(200);
    // Bad requests are not decisions.
    s.post_raw("/access/v1/evaluation", "{").expect(400);
    s.post_raw("/v1/is_authorized", "[").expect(400);

    let after = s.metrics();
    promtool_check(&after);
    for (api, decision, delta) in [
        ("authzen", "allow", 4.0),
        ("authzen", "deny", 4.0),
        ("cedar", "allow", 1.0),
        ("cedar", "deny", 1.0),
        ("authzen_search", "allow", 1.0),
        ("authzen_search", "deny", 0.0),
    ] {
        assert_eq!(
            decisions(&after, api, decision) - decisions(&before, api, decision),
            delta,
            "palisade_decisions_total{{api={api},decision={decision}}}"
        );
    }
    let count = |text: &str, api: &str| {
        metric_value(
            text,
            "palisade_decision_duration_seconds_count",
            &[("api", api)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count(&after, "authzen") - count(&before, "authzen"), 8.0);
    assert_eq!(count(&after, "cedar") - count(&before, "cedar"), 2.0);

    // The served version's size.
    let v = Server::send(s.admin(Method::GET, "/admin/v1/policy"))
        .expect(200)
        .json();
    assert_eq!(
        metric_value(&after, "palisade_policies", &[]),
        v["policies"].as_f64()
    );
    assert_eq!(
        metric_value(&after, "palisade_entities", &[]),
        v["entities"].as_f64()
    );

    // Every decision reaches the log (written off the request path).
    poll_until("11 decisions to be written to the decision log", || {
        (s.metric("palisade_decision_log_written_total", &[]) >= 11.0).then_some(())
    });
    assert_eq!(s.metric("palisade_decision_log_dropped_total", &[]), 0.0);

    // Reloads are counted by result.
    let ok = s.metric("palisade_policy_reloads_total", &[("result", "success")]);
    let failed = s.metric("palisade_policy_reloads_total", &[("result", "failure")]);
    s.put_policies("permit (", None).expect(422);
    Server::send(s.admin(Method::POST, "/admin/v1/reload")).expect(200);
    let text = s.metrics();
    promtool_check(&text);
    assert_eq!(
        metric_value(
            &text,
            "palisade_policy_reloads_total",
            &[("result", "failure")]
        ),
        Some(failed + 1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "palisade_policy_reloads_total",
            &[("result", "success")]
        ),
        Some(ok + 1.0)
    );
}
