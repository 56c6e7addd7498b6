//! The CI gate on the real Debian image's findings: thresholds, `--ignore-unfixed`, the ignore file (mandatory
//! reasons, expiry dates: expired entries stop suppressing and are reported), OpenVEX `not_affected` with its
//! justification.

mod support;

use palisade_scanner::gate::{evaluate, parse_ignore_file, parse_openvex, Diagnostic, GateConfig};
use palisade_scanner::scan::{scan, ScanOptions, Target};
use palisade_scanner::{Finding, Severity, VulnDb};
use support::*;
use time::macros::date;

fn findings() -> Vec<Finding> {
    let env = test_image();
    let pkgs = dpkg_query(&env["PALISADE_TEST_ROOTFS"]);
    let dir = tempfile::tempdir().unwrap();
    image_db(dir.path(), &pkgs);
    let db = VulnDb::open(dir.path()).unwrap();
    scan(
        &db,
        &Target::Image(env["PALISADE_TEST_DOCKER_ARCHIVE"].clone()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap()
    .findings
}

#[test]
fn thresholds() {
    let all = findings();
    let count = |s: Severity| all.iter().filter(|f| f.severity.0 >= s).count();
    for (t, expect) in [
        (Severity::Critical, count(Severity::Critical)),
        (Severity::High, count(Severity::High)),
        (Severity::Low, count(Severity::Low)),
    ] {
        let o = evaluate(
            all.clone(),
            &GateConfig {
                fail_on: Some(t),
                ..Default::default()
            },
            date!(2026 - 01 - 01),
            "img",
        );
        assert_eq!(o.blocking, expect, "{t}");
        assert_eq!(o.passed(), expect == 0);
    }
    assert_eq!(
        count(Severity::Critical),
        1,
        "zlib's CVE-2099-1007 is the one critical"
    );
    let none = evaluate(
        all.clone(),
        &GateConfig::default(),
        date!(2026 - 01 - 01),
        "img",
    );
    assert!(none.passed(), "no threshold, no failure");
}

#[test]
fn ignore_unfixed_drops_util_linux() {
    let all = findings();
    let o = evaluate(
        all.clone(),
        &GateConfig {
            ignore_unfixed: true,
            fail_on: Some(Severity::Medium),
            ..Default::default()
        },
        date!(2026 - 01 - 01),
        "img",
    );
    assert!(o.remaining.iter().all(|f| !f.fixed_version.is_empty()));
    assert!(o
        .suppressed
        .iter()
        .all(|s| s.finding.id == "CVE-2099-1003" && s.reason.contains("unfixed")));
    assert_eq!(
        o.suppressed.len(),
        all.iter().filter(|f| f.id == "CVE-2099-1003").count()
    );
}

#[test]
fn ignore_file_with_reasons_and_expiry() {
    let all = findings();
    let ignores = parse_ignore_file(
        r#"
[[ignore]]
id = "CVE-2099-1007"
reason = "zlib inflate is never fed untrusted input here"
expires = "2026-06-30"

[[ignore]]
id = "CVE-2099-1004"
package = "libcap2"
reason = "accepted until the next base image"
expires = "2025-12-31"

[[ignore]]
id = "CVE-2000-0000"
reason = "stale entry"
expires = "2030-01-01"
"#,
    )
    .unwrap();
    let cfg = GateConfig {
        fail_on: Some(Severity::Critical),
        ignores,
        ..Default::default()
    };
    // Before expiry: the critical zlib finding is suppressed, so a critical gate passes.
    let o = evaluate(all.clone(), &cfg, date!(2026 - 03 - 01), "img");
    assert!(o.passed());
    let z = o
        .suppressed
        .iter()
        .find(|s| s.finding.id == "CVE-2099-1007")
        .unwrap();
    assert!(
        z.reason.contains("never fed untrusted input") && z.reason.contains("2026-06-30"),
        "{}",
        z.reason
    );
    // libcap2's entry expired: it no longer suppresses and is reported.
    assert!(o.remaining.iter().any(|f| f.id == "CVE-2099-1004"));
    assert!(o.diagnostics.contains(&Diagnostic::ExpiredIgnore {
        id: "CVE-2099-1004".into(),
        reason: "accepted until the next base image".into(),
        expired: "2025-12-31".into()
    }));
    assert!(o.diagnostics.contains(&Diagnostic::UnusedIgnore {
        id: "CVE-2000-0000".into()
    }));
    // After zlib's expiry the gate fails again.
    let o = evaluate(all, &cfg, date!(2026 - 07 - 01), "img");
    assert!(!o.passed());
    assert_eq!(o.blocking, 1);

    // Reasons and expiry dates are mandatory.
    assert!(parse_ignore_file("[[ignore]]\nid = \"X\"\nexpires = \"2030-01-01\"\n").is_err());
    assert!(parse_ignore_file("[[ignore]]\nid = \"X\"\nreason = \"r\"\n").is_err());
    assert!(parse_ignore_file(
        "[[ignore]]\nid = \"X\"\nreason = \" \"\nexpires = \"2030-01-01\"\n"
    )
    .is_err());
    assert!(
        parse_ignore_file("[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpires = \"soon\"\n").is_err()
    );
}

#[test]
fn openvex_not_affected_suppresses_with_its_justification() {
    let all = findings();
    let libc6 = all
        .iter()
        .find(|f| f.pkg_name == "libc6")
        .unwrap()
        .purl
        .clone();
    let vex = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.org/vex/1",
        "author": "security@example.org",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {"vulnerability": {"name": "CVE-2099-1001"}, "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": libc6.split('?').next().unwrap()}]}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": "CVE-2099-1004"}, "products": [{"@id": "pkg:deb/debian/libcap2"}], "status": "under_investigation"}
        ]
    });
    let statements = parse_openvex(vex.to_string().as_bytes()).unwrap();
    let o = evaluate(
        all.clone(),
        &GateConfig {
            vex: statements,
            fail_on: Some(Severity::Low),
            ..Default::default()
        },
        date!(2026 - 01 - 01),
        "img",
    );
    // Only libc6's finding is suppressed (libc-bin has the same CVE but is not named), with the justification.
    let sup: Vec<_> = o
        .suppressed
        .iter()
        .map(|s| (s.finding.pkg_name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        sup,
        vec![(
            "libc6",
            "VEX not_affected: vulnerable_code_not_in_execute_path"
        )]
    );
    assert!(o
        .remaining
        .iter()
        .any(|f| f.id == "CVE-2099-1001" && f.pkg_name == "libc-bin"));
    assert!(
        o.remaining.iter().any(|f| f.id == "CVE-2099-1004"),
        "under_investigation does not suppress"
    );
    // not_affected without a justification is refused; so is a document that is not OpenVEX.
    let bad = serde_json::json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "X"}, "status": "not_affected"}]});
    assert!(parse_openvex(bad.to_string().as_bytes()).is_err());
    assert!(parse_openvex(b"{\"statements\": []}").is_err());
}
