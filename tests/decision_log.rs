//! The decision log of a spawned `palisade serve`: every decision recorded,
//! hash-chained across restarts, verified by `palisade audit verify`,
//! tampering detected, personal data masked before it reaches the disk.

mod common;

use std::path::Path;

use common::{authzen, describe, run_cli, uid, Server};
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn db_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("palisade.db").display())
}

/// Every decision record, in sequence order.
fn records(data_dir: &Path) -> Vec<(i64, Value)> {
    runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url(data_dir)).await.unwrap();
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, record FROM decision_log ORDER BY seq")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(seq, r)| (seq, serde_json::from_str(&r).unwrap()))
            .collect()
    })
}

/// Runs one statement behind the server's back; returns the rows changed.
fn tamper(data_dir: &Path, sql: &str) -> u64 {
    runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url(data_dir)).await.unwrap();
        let n = sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        pool.close().await;
        n
    })
}

fn audit_verify(s: &Server) -> std::process::Output {
    run_cli(
        s.root.path(),
        &[
            "--data-dir",
            s.data_dir.to_str().unwrap(),
            "audit",
            "verify",
        ],
    )
}

fn evaluate_with_id(s: &Server, id: &str, body: &Value) -> Value {
    Server::send(
        s.client
            .post(s.url("/access/v1/evaluation"))
            .header("x-request-id", id)
            .json(body),
    )
    .expect(200)
    .json()
}

#[test]
fn every_decision_is_chained_verified_and_tampering_is_found() {
    let mut s = Server::start();
    let etag = s.etag();
    let questions = [
        ("User:alice", "read", "Document:roadmap", true),
        ("User:bob", "read", "Document:design", false),
        ("User:carol", "read", "Document:handbook", true),
        ("User:carol", "share", "Document:design", false),
        ("User:alice", "delete", "Document:roadmap", false),
    ];
    // 10 AuthZEN evaluations, request ids dl-01..dl-10.
    let mut expected: Vec<(String, &str)> = Vec::new();
    for i in 1..=10 {
        let (p, a, r, allowed) = questions[i % questions.len()];
        let id = format!("dl-{i:02}");
        let d = evaluate_with_id(&s, &id, &authzen(p, a, r));
        assert_eq!(d["decision"], allowed);
        expected.push((id, if allowed { "allow" } else { "deny" }));
    }
    // A batch of 3: one record per item.
    let batch = Server::send(
        s.client
            .post(s.url("/access/v1/evaluations"))
            .header("x-request-id", "dl-batch")
            .json(&json!({ "evaluations": [
                authzen("User:alice", "read", "Document:roadmap"),
                authzen("User:bob", "read", "Document:design"),
                authzen("User:carol", "read", "Document:handbook"),
            ] })),
    )
    .expect(200)
    .json();
    assert_eq!(batch["evaluations"].as_array().unwrap().len(), 3);
    for d in ["allow", "deny", "allow"] {
        expected.push(("dl-batch".into(), d));
    }
    // Two Cedar-native decisions and one search.
    for (i, (p, a, r, allowed)) in questions[..2].iter().enumerate() {
        let id = format!("dl-c{i}");
        let body = json!({ "principal": uid(p), "action": uid(&format!("Action:{a}")), "resource": uid(r) });
        let d = Server::send(
            s.client
                .post(s.url("/v1/is_authorized"))
                .header("x-request-id", &id)
                .json(&body),
        )
        .expect(200)
        .json();
        assert_eq!(d["decision"], if *allowed { "Allow" } else { "Deny" });
        expected.push((id, if *allowed { "allow" } else { "deny" }));
    }
    Server::send(
        s.client
            .post(s.url("/access/v1/search/resource"))
            .header("x-request-id", "dl-search")
            .json(&json!({ "subject": { "type": "User", "id": "alice" }, "action": { "name": "read" }, "resource": { "type": "Document" } })),
    )
    .expect(200);
    expected.push(("dl-search".into(), "allow"));
    // Rejected requests are not decisions.
    s.post_raw("/access/v1/evaluation", "{").expect(400);
    assert_eq!(expected.len(), 16);
    // Reading the etag over the admin API (above) is an admin decision,
    // logged first like any other.
    let n = expected.len() + 1;

    // A graceful stop writes everything queued.
    let status = s.stop();
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("ok: {n} records verified (seq 1..={n})")),
        "{}",
        describe(&out)
    );

    // What was recorded is what was answered, in order.
    let rows = records(&s.data_dir);
    assert_eq!(rows.len(), n);
    assert_eq!(rows[0].1["api"], "admin");
    assert_eq!(rows[0].1["action"], r#"Action::"admin:policy.read""#);
    assert_eq!(rows[0].1["principal"], r#"BreakGlass::"admin-token""#);
    for (i, ((seq, rec), (id, decision))) in rows[1..].iter().zip(&expected).enumerate() {
        assert_eq!(*seq, i as i64 + 2);
        assert_eq!(rec["seq"], *seq);
        assert_eq!(rec["request_id"], id.as_str(), "{rec}");
        assert_eq!(rec["decision"], *decision, "{rec}");
        assert_eq!(rec["policy_version"], etag.as_str(), "{rec}");
    }
    assert_eq!(rows[1].1["principal"], uid(questions[1].0));
    assert_eq!(rows[1].1["api"], "authzen");
    assert_eq!(rows[14].1["api"], "cedar");
    assert_eq!(rows[16].1["api"], "authzen_search");

    // The chain continues across a restart.
    s.spawn();
    for i in 0..2 {
        evaluate_with_id(
            &s,
            &format!("dl-after-restart-{i}"),
            &authzen("User:alice", "read", "Document:roadmap"),
        );
    }
    assert!(s.stop().success());
    let total = n + 2;
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("ok: {total} records verified (seq 1..={total})")),
        "{}",
        describe(&out)
    );

    // Alter record 7 behind the log's back.
    let changed = tamper(
        &s.data_dir,
        "UPDATE decision_log SET record = replace(record, '\"dl-06\"', '\"dl-6x\"') WHERE seq = 7",
    );
    assert_eq!(changed, 1);
    assert_eq!(records(&s.data_dir)[6].1["request_id"], "dl-6x");
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BROKEN at record 7") && stdout.contains("6 records verified before it"),
        "{}",
        describe(&out)
    );

    // Undo it: the chain verifies again.
    tamper(
        &s.data_dir,
        "UPDATE decision_log SET record = replace(record, '\"dl-6x\"', '\"dl-06\"') WHERE seq = 7",
    );
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // A record re-linked to something else than its predecessor.
    assert_eq!(
        tamper(
            &s.data_dir,
            "UPDATE decision_log SET prev_hash = hash WHERE seq = 10"
        ),
        1
    );
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BROKEN at record 10"),
        "{}",
        describe(&out)
    );
    tamper(
        &s.data_dir,
        "UPDATE decision_log SET prev_hash = (SELECT hash FROM decision_log WHERE seq = 9) WHERE seq = 10",
    );
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // A record removed from the middle.
    assert_eq!(
        tamper(&s.data_dir, "DELETE FROM decision_log WHERE seq = 3"),
        1
    );
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("expected record 3") && stdout.contains("missing"),
        "{}",
        describe(&out)
    );
}

/// Adds `email?: String` to the example schema's context.
fn schema_with_email(dir: &Path) {
    let p = dir.join("app.cedarschema");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replace("mfa?: Bool,", "mfa?: Bool,\n    email?: String,");
    assert!(text.contains("email?: String"));
    std::fs::write(p, text).unwrap();
}

/// Every byte under `dir` (the database, its WAL and shared memory, keys).
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(entry.path().display().to_string());
            }
        }
    }
    hits
}

#[test]
fn masked_fields_never_reach_the_database() {
    let secret = "erin.secret@example.com";
    let other = "someone.else@example.org";
    let mut s = Server::builder()
        .config("[decision_log]\nmask_fields = [\"context.email\"]\n")
        .policies(schema_with_email)
        .start();

    let mut req = authzen("User:alice", "read", "Document:roadmap");
    req["context"] = json!({ "email": secret, "mfa": true });
    for _ in 0..2 {
        let d = s.post("/access/v1/evaluation", &req).expect(200).json();
        assert_eq!(d["decision"], true, "{d}");
        assert!(d["context"].get("error").is_none(), "{d}");
    }
    req["context"] = json!({ "email": other });
    s.post("/access/v1/evaluation", &req).expect(200);
    let d = s
        .post(
            "/v1/is_authorized",
            &json!({
                "principal": uid("User:bob"), "action": uid("Action:read"),
                "resource": uid("Document:handbook"), "context": { "email": secret },
            }),
        )
        .expect(200)
        .json();
    assert_eq!(d["decision"], "Allow", "{d}");
    assert!(s.stop().success());

    let hits = files_containing(&s.data_dir, secret.as_bytes());
    assert!(hits.is_empty(), "the email is stored in {hits:?}");
    let hits = files_containing(&s.data_dir, other.as_bytes());
    assert!(hits.is_empty(), "the email is stored in {hits:?}");

    // The records are there, masked with a keyed hash that still correlates.
    let rows = records(&s.data_dir);
    assert_eq!(rows.len(), 4);
    let emails: Vec<&str> = rows
        .iter()
        .map(|(_, r)| r["context"]["email"].as_str().unwrap())
        .collect();
    for e in &emails {
        assert!(e.starts_with("hmac-sha256:"), "{e}");
    }
    assert_eq!(emails[0], emails[1]);
    assert_eq!(emails[0], emails[3]);
    assert_ne!(emails[0], emails[2]);
    assert_eq!(rows[0].1["context"]["mfa"], true, "other fields are kept");
    let out = audit_verify(&s);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn redact_mode_replaces_the_value() {
    let secret = "redact.me@example.com";
    let mut s = Server::builder()
        .config("[decision_log]\nmask_fields = [\"context.email\", \"attributes.subject.*\"]\nmask_mode = \"redact\"\n")
        .policies(schema_with_email)
        .start();
    let mut req = authzen("User:bob", "read", "Document:handbook");
    req["context"] = json!({ "email": secret });
    req["subject"]["properties"] = json!({ "department": "secret-department-name" });
    let d = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(d["decision"], true, "{d}");
    assert!(s.stop().success());
    assert!(files_containing(&s.data_dir, secret.as_bytes()).is_empty());
    assert!(files_containing(&s.data_dir, b"secret-department-name").is_empty());
    let rows = records(&s.data_dir);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1["context"]["email"], "[redacted]");
    assert_eq!(
        rows[0].1["attributes"]["subject"]["department"],
        "[redacted]"
    );
}
