//! `palisade report` from the shell: a report from the data directory's
//! store and CA, a signed bundle that `report verify` accepts and whose
//! alteration it names, `report diff`, and file:line errors for a bad
//! framework file.

mod common;

use common::{describe, run_cli};

#[test]
fn report_bundle_verify_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let out = run_cli(d, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        out
    };
    ok(&["ca", "init", "--trust-domain", "example.org"]);
    ok(&[
        "ca",
        "issue",
        "--spiffe-id",
        "spiffe://example.org/web",
        "--out-cert",
        "web.pem",
        "--out-key",
        "web.key",
    ]);

    let out = ok(&["report", "--framework", "hipaa", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["framework"]["id"], "hipaa");
    let check = |id: &str| {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(check("ca.short-lived-certs"), "pass");
    assert_eq!(check("ca.initialized"), "pass");
    // No decisions were ever logged, no scan recorded: those do not pass.
    assert_eq!(check("audit.log-active"), "fail");
    assert_eq!(check("scan.recent"), "no_evidence");

    ok(&[
        "report",
        "--framework",
        "hipaa",
        "--format",
        "bundle",
        "-o",
        "bundle.json",
    ]);
    let out = ok(&["report", "verify", "bundle.json"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: hipaa report"),
        "{}",
        describe(&out)
    );
    let mut b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("bundle.json")).unwrap()).unwrap();
    let controls = b["report"]["controls"].as_array_mut().unwrap();
    let i = controls.iter().position(|c| c["status"] == "fail").unwrap();
    let id = controls[i]["id"].as_str().unwrap().to_owned();
    controls[i]["status"] = "pass".into();
    std::fs::write(d.join("altered.json"), serde_json::to_string(&b).unwrap()).unwrap();
    let out = run_cli(d, &["report", "verify", "altered.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("control `{id}` was changed")),
        "{}",
        describe(&out)
    );

    let out = ok(&["report", "diff", "--framework", "hipaa"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("control(s) changed status"),
        "{}",
        describe(&out)
    );

    let html = ok(&[
        "report",
        "--framework",
        "soc2",
        "--format",
        "html",
        "--no-keep",
    ]);
    assert!(String::from_utf8_lossy(&html.stdout).contains("<svg"));

    std::fs::write(
        d.join("ours.toml"),
        "[framework]\nid = \"ours\"\ntitle = \"Ours\"\n[[family]]\nid = \"F\"\ntitle = \"F\"\n[[control]]\nid = \"O-1\"\nfamily = \"F\"\ntitle = \"t\"\nautomation = \"automated\"\nchecks = [\"nope\"]\nrationale = \"r\"\n",
    )
    .unwrap();
    let out = run_cli(d, &["report", "--framework", "ours.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ours.toml:12: control `O-1`: unknown check id `nope`"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_config_scan_recorded_by_the_gate_is_scan_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan_config/app"),
        &d.join("app"),
    );
    let out = run_cli(
        d,
        &[
            "scan",
            "config",
            "app",
            "--fail-on",
            "high",
            "--record",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let scan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let highs = scan["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["Misconfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m["Severity"] == "HIGH")
        .count() as u64;
    assert!(highs > 0, "the fixture has high findings: {scan}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gate: recorded app"),
        "{}",
        describe(&out)
    );

    let out = run_cli(d, &["report", "--framework", "soc2", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = r["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "scans:app")
        .unwrap_or_else(|| panic!("no evidence scans:app in {}", r["evidence"]))["content"]
        .clone();
    assert_eq!(e["valid"], true);
    assert_eq!(e["gate_passed"], false);
    assert_eq!(e["counts"]["HIGH"], highs, "{e}");
}
