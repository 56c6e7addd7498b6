//! `GET /v1/compliance/report` on a running `palisade serve` (HTTPS, TLS
//! 1.3 by default): every framework in every format from the live store,
//! with its content type; admin authentication like the other admin routes
//! (a client certificate from the server's CA, then the caller's identity
//! and Cedar's `admin:compliance.read`); clear
//! 400s; reports kept in the store's history and signed bundles that
//! `report verify` accepts. And `palisade gate --record --server` from a CI
//! runner without the platform key: `POST /v1/compliance/scans` as an admin
//! (`admin:compliance.read`), the server signs and keeps the record, the
//! next report shows it; refused callers store nothing; an altered row is
//! reported invalid.

mod common;

use std::path::Path;

use common::{describe, poll_until, run_cli, tls_client, Server};
use reqwest::Method;
use serde_json::Value;
use sha2::Digest as _;

fn report(server: &Server, query: &str) -> common::Resp {
    Server::send(server.admin(Method::GET, &format!("/v1/compliance/report?{query}")))
}

/// The evidence piece `id` of a JSON report, if there is one.
fn evidence(report: &Value, id: &str) -> Option<Value> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .map(|e| e["content"].clone())
}

/// The status of check `id` in a JSON report.
fn check_status(report: &Value, id: &str) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == id)
        .unwrap_or_else(|| panic!("{id} missing"))["status"]
        .clone()
}

/// Runs `f` on the server's SQLite store.
fn with_db<T>(data_dir: &Path, f: impl AsyncFnOnce(&sqlx::SqlitePool) -> T) -> T {
    let url = format!("sqlite://{}", data_dir.join("palisade.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let out = f(&pool).await;
            pool.close().await;
            out
        })
}

/// The scan records kept in the server's store: (id, record text).
fn scan_rows(data_dir: &Path) -> Vec<(i64, String)> {
    with_db(data_dir, async |pool| {
        sqlx::query_as("SELECT id, record FROM scan_records ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

/// The `ca.ledger` evidence piece of a JSON report.
fn ledger_evidence(report: &Value) -> Value {
    evidence(report, "ca.ledger").expect("ca.ledger evidence")
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
        let check = |id: &str| check_status(&r, id);
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

/// A saved JSON scan report (Trivy's shape) with one critical finding.
const REPORT: &str = r#"{"SchemaVersion":2,"ArtifactName":"registry.example/shop:1.4","ArtifactType":"container_image",
"Results":[{"Target":"shop (debian 12)","Class":"os-pkgs","Type":"debian","Vulnerabilities":[
{"VulnerabilityID":"CVE-2099-1007","PkgName":"zlib1g","PkgType":"deb","InstalledVersion":"1:1.2.13",
 "FixedVersion":"1:1.3","Status":"fixed","Severity":"CRITICAL"},
{"VulnerabilityID":"CVE-2099-1003","PkgName":"util-linux","PkgType":"deb","InstalledVersion":"2.38",
 "Status":"affected","Severity":"MEDIUM"}]}]}"#;

#[test]
fn the_ci_gate_records_scans_on_the_server() {
    let server = Server::start();
    let d = &server.data_dir;
    // Identities from the server's CA: the admin workload the shipped
    // admin policy lists, and a CI runner it does not.
    let admin = server.issue_cert("admin", "spiffe://example.org/palisade/admin");
    let runner = server.issue_cert("runner", "spiffe://example.org/ci/runner");

    // The CI runner: a fresh directory with the saved report, the server's
    // CA bundle and its credentials; no data directory, no platform key.
    let ci = tempfile::tempdir().unwrap();
    std::fs::write(ci.path().join("report.json"), REPORT).unwrap();
    let bundle = server.bundle();
    // `PALISADE_TOKEN`, when given, is the caller's bearer token.
    let gate = |(cert, key): &(std::path::PathBuf, std::path::PathBuf), token: Option<&str>| {
        let mut cmd = common::palisade();
        cmd.current_dir(ci.path())
            .args(["gate", "report.json", "--fail-on", "critical", "--record"])
            .arg("--server")
            .arg(&server.base)
            .arg("--ca-bundle")
            .arg(&bundle)
            .arg("--client-cert")
            .arg(cert)
            .arg("--client-key")
            .arg(key)
            .args(["--format", "json"])
            .stdin(std::process::Stdio::null());
        if let Some(t) = token {
            cmd.env("PALISADE_TOKEN", t);
        }
        cmd.output().unwrap()
    };

    // A caller outside the admin policy: 403, said on the runner, nothing kept.
    let out = gate(&runner, None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("admin:compliance.record"),
        "{}",
        describe(&out)
    );
    assert!(scan_rows(d).is_empty());

    // The admin workload: the gate fails on the critical (exit 1) and the
    // server keeps the record, signed with its key.
    let out = gate(&admin, None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "gate: recorded registry.example/shop:1.4 on {} (#",
            server.base
        )),
        "{}",
        describe(&out)
    );
    assert!(!ci.path().join("data").exists(), "the runner keeps nothing");
    let rows = scan_rows(d);
    assert_eq!(rows.len(), 1);
    let kept: Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(kept["target"], "registry.example/shop:1.4");
    assert_eq!(kept["gate_passed"], false);
    assert_eq!(kept["threshold"], "CRITICAL");
    assert_eq!(kept["counts"]["MEDIUM"], 1);
    // The hash of the exact gated report the runner printed.
    assert_eq!(
        kept["report_sha256"],
        hex::encode(sha2::Sha256::digest(&out.stdout))
    );

    // Both decisions are in the decision log with their callers.
    let logged = |principal: &str, decision: &str| {
        poll_until(&format!("{principal} {decision} in the log"), || {
            common::decision_records(d).into_iter().find(|r| {
                r["action"] == r#"Action::"admin:compliance.record""#
                    && r["principal"] == principal
                    && r["decision"] == decision
            })
        })
    };
    let allowed = logged(
        r#"Workload::"spiffe://example.org/palisade/admin""#,
        "allow",
    );
    assert_eq!(allowed["resource"], r#"AdminApi::"/v1/compliance/scans""#);
    assert_eq!(allowed["context"]["credential"], "mtls");
    logged(r#"Workload::"spiffe://example.org/ci/runner""#, "deny");

    // The next report shows the target's scan, its critical open.
    let r = report(&server, "framework=soc2&format=json")
        .expect(200)
        .json();
    let scan = evidence(&r, "scans:registry.example/shop:1.4").expect("the scan's evidence");
    assert_eq!(scan["valid"], true);
    assert_eq!(scan["gate_passed"], false);
    assert_eq!(scan["open_criticals"][0]["id"], "CVE-2099-1007");
    assert_eq!(scan["recorded_at"], kept["recorded_at"]);
    assert_eq!(check_status(&r, "scan.recent"), "pass");
    assert_eq!(check_status(&r, "scan.no-open-criticals"), "fail");

    // Bodies that are not a scan summary: 400, nothing kept.
    for body in [
        "{\"hello\":1}",
        REPORT,
        "[1,2",
        "{\"target\":\"\",\"artifact_type\":\"x\",\"recorded_at\":\"\",\"gate_passed\":true,\"threshold\":null,\"counts\":{},\"suppressed\":0,\"criticals\":[],\"report_sha256\":\"00\",\"key_id\":\"\",\"signature\":\"\"}",
    ] {
        let m = Server::send(
            server
                .admin(Method::POST, "/v1/compliance/scans")
                .header("content-type", "application/json")
                .body(body),
        )
        .expect_error(400);
        assert!(m.contains("not a scan summary"), "{m}");
    }
    // No client certificate at all: 401 before anything else.
    let anonymous = tls_client(&bundle, None);
    let r = anonymous
        .post(server.url("/v1/compliance/scans"))
        .body(REPORT)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(scan_rows(d).len(), 1);

    // Someone with write access to the database flips the outcome and
    // recomputes the row's digest: only the signature can tell, and does.
    let (id, text) = rows[0].clone();
    let forged = text.replace("\"gate_passed\":false", "\"gate_passed\":true");
    assert_ne!(forged, text);
    with_db(d, async |pool| {
        sqlx::query("UPDATE scan_records SET record = ?, digest = ? WHERE id = ?")
            .bind(&forged)
            .bind(hex::encode(sha2::Sha256::digest(forged.as_bytes())))
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    });
    let r = report(&server, "framework=soc2&format=json")
        .expect(200)
        .json();
    assert!(evidence(&r, "scans:registry.example/shop:1.4").is_none());
    let invalid = evidence(&r, &format!("scans:invalid:{id}")).expect("the altered record");
    assert_eq!(invalid["valid"], false);
    assert!(
        invalid["reason"].as_str().unwrap().contains("signature"),
        "{invalid}"
    );
    assert_eq!(check_status(&r, "scan.recent"), "fail");

    // A bearer token from PALISADE_TOKEN identifies the caller instead of
    // the certificate (here the break-glass token; the admin routes still
    // want a client certificate at the TLS layer): the denied runner's
    // certificate with it gets the record kept.
    let out = gate(&runner, Some(&server.admin_token()));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(scan_rows(d).len(), 2);
    logged(r#"BreakGlass::"admin-token""#, "allow");
}
