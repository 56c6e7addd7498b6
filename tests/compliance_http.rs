//! `GET /v1/compliance/report` on a running `palisade serve` (HTTPS, TLS
//! 1.3 by default): every framework in every format from the live store,
//! with its content type; admin authentication like the other admin routes
//! (a client certificate from the server's CA, then the caller's identity
//! and Cedar's `admin:compliance.read`); clear
//! 400s; reports kept in the store's history and signed bundles that
//! `report verify` accepts.

mod common;

use common::{describe, run_cli, tls_client, Server};
use reqwest::Method;
use serde_json::Value;

fn report(server: &Server, query: &str) -> common::Resp {
    Server::send(server.admin(Method::GET, &format!("/v1/compliance/report?{query}")))
}

/// The `ca.ledger` evidence piece of a JSON report.
fn ledger_evidence(report: &Value) -> Value {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "ca.ledger")
        .expect("ca.ledger evidence")["content"]
        .clone()
}

#[test]
fn reports_over_http_from_the_live_store() {
    let server = Server::start();
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let d = &server.data_dir;
    let cli = |args: &[&str]| {
        let mut all = vec!["--data-dir", d.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = run_cli(server.root.path(), &all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        out
    };

    // Admin authentication first. The harness's client certificate
    // (spiffe://example.org/e2e-client) identifies a workload that the
    // shipped admin policy does not list: 403. A wrong bearer token: 401.
    let url = server.url("/v1/compliance/report?framework=soc2&format=json");
    let r = server.client.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = server.client.get(&url).bearer_auth("nope").send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // The right token without a client certificate: the admin routes'
    // mTLS requirement holds for reports too.
    let anonymous = tls_client(&server.bundle(), None);
    let r = anonymous
        .get(&url)
        .bearer_auth(server.admin_token())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body = r.text().unwrap();
    assert!(body.contains("client certificate"), "{body}");

    // The report reads the store at request time: a certificate issued
    // while the server runs shows in the next report's ledger evidence.
    let before = ledger_evidence(
        &report(&server, "framework=soc2&format=json")
            .expect(200)
            .json(),
    );
    let cert = server.root.path().join("w.pem");
    let key = server.root.path().join("w.key");
    cli(&[
        "ca",
        "issue",
        "--spiffe-id",
        "spiffe://example.org/late-workload",
        "--out-cert",
        cert.to_str().unwrap(),
        "--out-key",
        key.to_str().unwrap(),
    ]);
    let after = ledger_evidence(
        &report(&server, "framework=soc2&format=json")
            .expect(200)
            .json(),
    );
    assert_eq!(
        after["by_status"]["issued"].as_u64().unwrap(),
        before["by_status"]["issued"].as_u64().unwrap() + 1,
        "{before} → {after}"
    );

    for framework in ["soc2", "hipaa", "gdpr"] {
        let json = report(&server, &format!("framework={framework}&format=json")).expect(200);
        assert_eq!(json.header("content-type").unwrap(), "application/json");
        assert_eq!(json.header("cache-control").unwrap(), "no-store");
        let r = json.json();
        assert_eq!(r["framework"]["id"], framework);
        let check = |id: &str| {
            r["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["check"] == id)
                .unwrap_or_else(|| panic!("{id} missing"))["status"]
                .clone()
        };
        // The CA the server created at its first start, read from the ledger.
        assert_eq!(check("ca.issuance-recorded"), "pass", "{framework}");
        assert_eq!(check("scan.recent"), "no_evidence", "{framework}");
        let s = &r["summary"];
        assert_eq!(s["total"], r["controls"].as_array().unwrap().len());

        let csv = report(&server, &format!("framework={framework}&format=csv")).expect(200);
        assert_eq!(
            csv.header("content-type").unwrap(),
            "text/csv; charset=utf-8"
        );
        assert!(csv.text.starts_with("\"framework\",\"family\",\"control\""));
        assert!(csv.text.contains(&format!("\"{framework}\",")));

        let html = report(&server, &format!("framework={framework}&format=html")).expect(200);
        assert_eq!(
            html.header("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        let csp = html.header("content-security-policy").unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(html.text.contains("id=\"summary\"") && html.text.contains("<svg"));

        let oscal = report(&server, &format!("framework={framework}&format=oscal")).expect(200);
        assert_eq!(oscal.header("content-type").unwrap(), "application/json");
        let doc = oscal.json();
        let ar = &doc["assessment-results"];
        assert_eq!(ar["metadata"]["oscal-version"], "1.2.1");
        assert_eq!(
            ar["results"][0]["findings"].as_array().unwrap().len(),
            r["controls"].as_array().unwrap().len()
        );

        let md = report(&server, &format!("framework={framework}&format=md")).expect(200);
        assert_eq!(
            md.header("content-type").unwrap(),
            "text/markdown; charset=utf-8"
        );
        assert!(md.text.contains(&format!("| total | {} |", s["total"])));
    }

    // Defaults: SOC 2 as JSON.
    let r = report(&server, "").expect(200).json();
    assert_eq!(r["framework"]["id"], "soc2");

    // Clear errors for what does not exist.
    let m = report(&server, "framework=pci&format=json").expect_error(400);
    assert!(
        m.contains("soc2") && m.contains("hipaa") && m.contains("gdpr"),
        "{m}"
    );
    let m = report(&server, "framework=soc2&format=pdf").expect_error(400);
    assert!(m.contains("unknown format"), "{m}");

    // A signed bundle over HTTP verifies with the server's key.
    let bundle = report(&server, "framework=hipaa&format=bundle").expect(200);
    std::fs::write(server.root.path().join("bundle.json"), &bundle.text).unwrap();
    let out = cli(&["report", "verify", "bundle.json"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: hipaa report"),
        "{}",
        describe(&out)
    );

    // Every report served was kept in the store: the history diffs the
    // last two (the same live system a moment apart: nothing changed).
    let out = cli(&["report", "diff", "--framework", "gdpr"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(": 0 control(s) changed status"),
        "{}",
        describe(&out)
    );
    // Nothing was written beside the store.
    assert!(!d.join("compliance/reports").exists());
}

#[test]
fn reports_are_not_served_when_the_admin_api_is_off() {
    let server = Server::builder()
        .config("[server]\nadmin_api = false\n")
        .start();
    let r = server
        .client
        .get(server.url("/v1/compliance/report?framework=soc2&format=json"))
        .bearer_auth("anything")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
