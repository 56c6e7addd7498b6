//! The restore drill, with real processes: serve with the CA, issue certificates, revoke one, make
//! decisions, back up while the server runs, destroy the data directory, restore, start again — the
//! certificates, the revocation (in the ledger and in the CRL, read by OpenSSL) and the decision log are
//! intact and `palisade audit verify` passes with the original key. Plus the scheduled mode's retention
//! and the refusals that protect live data.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

const MASTER_KEY_FILE: &str = "master.key";

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `palisade --config C --data-dir D ARGS`.
fn run(s: &Server, args: &[&str]) -> Output {
    palisade()
        .arg("--config")
        .arg(s.config_file.as_ref().unwrap())
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(s: &Server, args: &[&str]) -> String {
    let out = run(s, args);
    assert!(
        out.status.success(),
        "palisade {args:?}: {}",
        describe(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The CA ledger as the operator sees it: one JSON object per certificate.
fn ledger(s: &Server) -> Vec<Value> {
    let mut v: Vec<Value> = ok(s, &["ca", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by_key(|c| c["serial"].as_str().unwrap().to_owned());
    v
}

/// Decision log records committed so far.
fn decision_count(data_dir: &Path) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", data_dir.join("palisade.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM decision_log")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    })
}

/// The serials listed in the CRL, as OpenSSL (an independent parser) reads them.
fn crl_serials(s: &Server, dir: &Path) -> Vec<String> {
    let pem = dir.join("crl.pem");
    std::fs::write(&pem, ok(s, &["ca", "crl"])).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&pem)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl crl: {}", describe(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("palisade-backup-")
        })
        .collect();
    v.sort();
    v
}

fn all_bytes(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.push(std::fs::read(p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A server with the CA routes, its master key outside the data directory (as an operator keeps it:
/// the backup never holds it), in the returned directory.
fn drill_server() -> (Server, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let root = keys.path().to_owned();
    let config = format!(
        "[ca]\nserve = true\n[secrets]\nmaster_key_file = \"{}\"\n",
        root.join(MASTER_KEY_FILE).display()
    );
    let cfg_path = root.join("palisade.toml");
    std::fs::write(&cfg_path, &config).unwrap();
    let server = Server::builder()
        .config(&config)
        .policies(move |policy_dir| {
            let data_dir = policy_dir.parent().unwrap().join("data");
            let out = palisade()
                .arg("--config")
                .arg(&cfg_path)
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["ca", "init", "--trust-domain", "example.org"])
                .output()
                .unwrap();
            assert!(out.status.success(), "ca init: {}", describe(&out));
        })
        .start();
    (server, keys)
}

#[test]
fn restore_drill_brings_back_certificates_revocations_and_a_verifiable_decision_log() {
    let (mut s, keydir) = drill_server();
    let work = s.root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    // Certificates, one revoked.
    for name in ["api", "db", "web"] {
        ok(
            &s,
            &[
                "ca",
                "issue",
                "--spiffe-id",
                &format!("spiffe://example.org/{name}"),
                "--out-cert",
                work.join(format!("{name}.pem")).to_str().unwrap(),
                "--out-key",
                work.join(format!("{name}.key")).to_str().unwrap(),
            ],
        );
    }
    // The ledger also holds the server's own TLS certificate and the test
    // client's: these three are the drill's.
    let issued: Vec<Value> = ledger(&s)
        .into_iter()
        .filter(|c| {
            ["api", "db", "web"]
                .iter()
                .any(|n| c["spiffe_id"] == format!("spiffe://example.org/{n}").as_str())
        })
        .collect();
    assert_eq!(issued.len(), 3, "{issued:?}");
    let revoked = issued[1]["serial"].as_str().unwrap().to_owned();
    ok(&s, &["ca", "revoke", &revoked, "--reason", "keyCompromise"]);
    // Decisions: allows and denies.
    for (who, what) in [
        ("alice", "roadmap"),
        ("bob", "roadmap"),
        ("mallory", "payroll"),
    ] {
        s.post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "User", "id": who}, "action": {"name": "read"},
                    "resource": {"type": "Document", "id": what}}),
        )
        .expect(200);
    }
    let logged = poll_until("decisions committed to the log", || {
        let n = decision_count(&s.data_dir);
        (n >= 3).then_some(n)
    });
    let before_ledger = ledger(&s);
    let statuses: Vec<(&str, &str)> = before_ledger
        .iter()
        .map(|c| (c["serial"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .filter(|(_, st)| *st == "revoked")
        .collect();
    assert_eq!(statuses, vec![(revoked.as_str(), "revoked")]);
    let before_crl = crl_serials(&s, &work);
    assert_eq!(
        before_crl,
        vec![revoked.to_ascii_lowercase().replace(':', "")]
    );
    let before_verify = ok(&s, &["audit", "verify"]);
    assert!(
        before_verify.starts_with(&format!("ok: {logged} records")),
        "{before_verify}"
    );
    let keys: Vec<Vec<u8>> = [
        "decision-log-signing.pk8",
        "decision-log-mask.key",
        "admin.token",
    ]
    .iter()
    .map(|f| std::fs::read(s.data_dir.join(f)).unwrap())
    .collect();
    let master_key = std::fs::read(keydir.path().join(MASTER_KEY_FILE)).unwrap();

    // Backup while the server runs.
    let bk = s.root.path().join("backups");
    let printed = ok(&s, &["backup", bk.to_str().unwrap()]);
    let taken = backups(&bk);
    assert_eq!(taken.len(), 1);
    assert_eq!(printed.trim(), taken[0].to_str().unwrap());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(taken[0].join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["store"], "sqlite");
    // No key in plaintext anywhere in the backup.
    for blob in all_bytes(&taken[0]) {
        for k in &keys {
            assert!(!contains(&blob, k), "a plaintext key file is in the backup");
        }
        assert!(
            !contains(&blob, master_key.trim_ascii()),
            "the master key is in the backup"
        );
    }

    // Restoring over live data is refused, even with --force while the server holds the store.
    let out = run(&s, &["restore", taken[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        describe(&out)
    );
    let out = run(&s, &["restore", "--force", taken[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stop the server"),
        "{}",
        describe(&out)
    );

    // Disaster: the data directory is gone.
    s.stop();
    std::fs::remove_dir_all(&s.data_dir).unwrap();
    let printed = ok(&s, &["restore", taken[0].to_str().unwrap()]);
    assert!(printed.contains("restored"), "{printed}");
    s.spawn();

    // Everything from before is back; the restarted server adds only its
    // own new TLS certificate.
    let (after, fresh): (Vec<Value>, Vec<Value>) = ledger(&s)
        .into_iter()
        .partition(|c| before_ledger.contains(c));
    assert_eq!(after, before_ledger);
    assert!(
        fresh.len() == 1 && fresh[0]["requester"] == "server:tls-listener",
        "{fresh:?}"
    );
    assert_eq!(crl_serials(&s, &work), before_crl);
    for (f, k) in [
        "decision-log-signing.pk8",
        "decision-log-mask.key",
        "admin.token",
    ]
    .iter()
    .zip(&keys)
    {
        assert_eq!(&std::fs::read(s.data_dir.join(f)).unwrap(), k, "{f}");
    }
    assert_eq!(ok(&s, &["audit", "verify"]), before_verify);
    // The chain goes on after the restore, and still verifies.
    s.post(
        "/access/v1/evaluation",
        &json!({"subject": {"type": "User", "id": "alice"}, "action": {"name": "read"},
                "resource": {"type": "Document", "id": "roadmap"}}),
    )
    .expect(200);
    poll_until("the new decision committed", || {
        (decision_count(&s.data_dir) == logged + 1).then_some(())
    });
    let after = ok(&s, &["audit", "verify"]);
    assert!(
        after.starts_with(&format!("ok: {} records", logged + 1)),
        "{after}"
    );
}

#[test]
fn a_tampered_backup_is_refused_before_anything_is_touched() {
    let (mut s, _keydir) = drill_server();
    let bk = s.root.path().join("backups");
    ok(&s, &["backup", bk.to_str().unwrap()]);
    let taken = backups(&bk).pop().unwrap();
    s.stop();
    std::fs::remove_dir_all(&s.data_dir).unwrap();
    let sealed = taken.join("admin.token.sealed.json");
    let mut text = std::fs::read_to_string(&sealed).unwrap();
    text = text.replacen("\"ciphertext\": \"", "\"ciphertext\": \"AAAA", 1);
    std::fs::write(&sealed, text).unwrap();
    let out = run(&s, &["restore", taken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match the manifest"),
        "{}",
        describe(&out)
    );
    assert!(!s.data_dir.exists(), "nothing was written");
}

#[test]
fn scheduled_backups_keep_only_the_newest() {
    let (s, _keydir) = drill_server();
    let bk = s.root.path().join("backups");
    let child = palisade()
        .arg("--config")
        .arg(s.config_file.as_ref().unwrap())
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args([
            "backup",
            bk.to_str().unwrap(),
            "--every",
            "1s",
            "--keep",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    poll_until("four scheduled backups", || {
        seen.extend(backups(&bk));
        (seen.len() >= 4).then_some(())
    });
    let status = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    // Retention left the two newest, complete.
    let left = backups(&bk);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        seen.iter()
            .filter(|b| !left.contains(b))
            .all(|b| b < &left[0]),
        "the newest are kept: {left:?} of {seen:?}"
    );
    for b in &left {
        assert!(b.join("manifest.json").is_file(), "{b:?} is complete");
    }
}
