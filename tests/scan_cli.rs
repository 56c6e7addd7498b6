//! `palisade scan`, `palisade gate` and `palisade db` from the shell, as a CI step would run them: exit codes
//! (0 passed, 1 or `--exit-code` for findings over the threshold, 2 for a failed scan), the ignore file, saved
//! JSON reports, `scan fs` honouring `.gitignore`, and `db status`.

mod common;
#[path = "../scanner/tests/support/mod.rs"]
mod support;

use std::path::Path;

use common::{describe, run_cli};

struct Env {
    dir: tempfile::TempDir,
    archive: String,
}

fn env() -> Env {
    let img = support::test_image();
    let pkgs = support::dpkg_query(&img["PALISADE_TEST_ROOTFS"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    support::image_db(&dir.path().join("db"), &pkgs);
    Env {
        archive: img["PALISADE_TEST_DOCKER_ARCHIVE"].clone(),
        dir,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn exit_codes_and_the_ignore_file() {
    let e = env();
    let db = e.dir.path().join("db");
    let base = [
        "scan",
        "image",
        e.archive.as_str(),
        "--db",
        s(&db),
        "--quiet",
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        run_cli(e.dir.path(), &args)
    };
    // No threshold: findings are a report, not a failure.
    let out = run(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["SchemaVersion"], 2);
    assert_eq!(report["Results"][0]["Class"], "os-pkgs");
    // One critical finding (zlib): --fail-on critical fails with 1.
    let out = run(&["--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("gate: FAILED: 1 finding(s) at or above CRITICAL"),
        "{}",
        describe(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CVE-2099-1007"));
    // A chosen exit code.
    let out = run(&["--fail-on", "low", "--exit-code", "3", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    // Suppressed by the ignore file (with its reason shown), the gate passes.
    let ignore = e.dir.path().join("ignore.toml");
    std::fs::write(&ignore, "[[ignore]]\nid = \"CVE-2099-1007\"\nreason = \"not reachable\"\nexpires = \"2999-12-31\"\n").unwrap();
    let out = run(&["--fail-on", "critical", "--ignore-file", s(&ignore)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not reachable"),
        "{}",
        describe(&out)
    );
    // An ignore entry without a reason is a configuration error: exit 2.
    std::fs::write(
        &ignore,
        "[[ignore]]\nid = \"CVE-2099-1007\"\nexpires = \"2999-12-31\"\n",
    )
    .unwrap();
    let out = run(&["--fail-on", "critical", "--ignore-file", s(&ignore)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    // The scan itself failing is 2, distinct from findings.
    let out = run_cli(
        e.dir.path(),
        &[
            "scan",
            "image",
            "/nonexistent/image.tar",
            "--db",
            s(&db),
            "--fail-on",
            "low",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let bad_db = e.dir.path().join("bad.db");
    std::fs::write(&bad_db, vec![0u8; 10_000]).unwrap();
    let out = run_cli(
        e.dir.path(),
        &["scan", "image", e.archive.as_str(), "--db", s(&bad_db)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("corrupt"),
        "{}",
        describe(&out)
    );
}

#[test]
fn gate_on_a_saved_report() {
    let e = env();
    let db = e.dir.path().join("db");
    let report = e.dir.path().join("report.json");
    let out = run_cli(
        e.dir.path(),
        &[
            "scan",
            "image",
            e.archive.as_str(),
            "--db",
            s(&db),
            "-q",
            "-f",
            "json",
            "-o",
            s(&report),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = run_cli(e.dir.path(), &["gate", s(&report), "--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // Unfixed util-linux is medium; ignoring unfixed findings does not change a high gate...
    let out = run_cli(
        e.dir.path(),
        &[
            "gate",
            s(&report),
            "--fail-on",
            "medium",
            "--ignore-unfixed",
            "-f",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let gated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let os = &gated["Results"][0];
    assert!(os["Vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["VulnerabilityID"] != "CVE-2099-1003"));
    assert!(!os["ExperimentalModifiedFindings"]
        .as_array()
        .unwrap()
        .is_empty());
    // ...and nothing is critical once zlib's finding is VEXed not_affected.
    let vex = e.dir.path().join("vex.json");
    std::fs::write(&vex, r#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-2099-1007"},"products":[{"@id":"pkg:deb/debian/zlib1g"}],"status":"not_affected","justification":"inline_mitigations_already_exist"}]}"#).unwrap();
    let out = run_cli(
        e.dir.path(),
        &[
            "gate",
            s(&report),
            "--fail-on",
            "critical",
            "--vex",
            s(&vex),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("inline_mitigations_already_exist"),
        "{}",
        describe(&out)
    );
}

#[test]
fn scan_fs_honours_gitignore_and_db_status() {
    let e = env();
    let db = e.dir.path().join("db");
    let src = e.dir.path().join("repo");
    let lock = "version = 3\n[[package]]\nname = \"ammonia\"\nversion = \"2.1.2\"\n";
    for d in ["app", "ignored", "deep/a/b"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
        std::fs::write(src.join(d).join("Cargo.lock"), lock).unwrap();
    }
    std::fs::write(src.join(".gitignore"), "ignored/\n").unwrap();
    std::fs::write(src.join("app/requirements.txt"), "Werkzeug==0.15.0\n").unwrap();
    let out = run_cli(
        e.dir.path(),
        &["scan", "fs", s(&src), "--db", s(&db), "-f", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut targets: Vec<(String, usize)> = r["Results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Target"].as_str().unwrap().to_string(),
                t["Vulnerabilities"].as_array().unwrap().len(),
            )
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            ("app/Cargo.lock".into(), 1),
            ("app/requirements.txt".into(), 1),
            ("deep/a/b/Cargo.lock".into(), 1)
        ],
        "{}",
        describe(&out)
    );
    // db status reads metadata.json next to trivy.db.
    let out = common::palisade()
        .current_dir(e.dir.path())
        .args(["db", "status"])
        .env("PALISADE_SCANNER_DB_DIR", &db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("updated at: 2099-01-01T00:00:00Z"), "{text}");
}
