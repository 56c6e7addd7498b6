//! The `palisade` command line: `policy validate`, `policy test`, `authorize`.

mod common;

use std::path::{Path, PathBuf};

use common::{copy_dir, describe, examples_dir, run_cli};
use serde_json::Value;

/// A scratch directory with a copy of the example bundle in `policies/`.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let bundle = root.path().join("policies");
    copy_dir(&examples_dir(), &bundle);
    (root, bundle)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_accepts_the_example_bundle() {
    let root = tempfile::tempdir().unwrap();
    let out = run_cli(root.path(), &["policy", "validate", s(&examples_dir())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ok: "), "{}", describe(&out));
    assert!(
        text.contains("validated against the schema"),
        "{}",
        describe(&out)
    );
}

#[test]
fn validate_names_file_line_and_column_of_each_problem() {
    let (root, bundle) = scratch();
    std::fs::write(
        bundle.join("broken.cedar"),
        "// a comment\npermit (principal, action, resource)\nwhen { principal.clearance >>> 3 };\n",
    )
    .unwrap();
    std::fs::write(
        bundle.join("more.entities.json"),
        "[\n  { \"uid\": oops }\n]\n",
    )
    .unwrap();
    let out = run_cli(root.path(), &["policy", "validate", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: broken.cedar:3:29: ") && l.contains("unexpected token")),
        "{}",
        describe(&out)
    );
    assert!(
        err.lines().any(
            |l| l.starts_with("error: more.entities.json:2:12: ") && l.contains("invalid JSON")
        ),
        "{}",
        describe(&out)
    );
    assert!(err.contains("2 error(s)"), "{}", describe(&out));

    // A policy that parses but does not validate against the schema.
    std::fs::remove_file(bundle.join("broken.cedar")).unwrap();
    std::fs::remove_file(bundle.join("more.entities.json")).unwrap();
    std::fs::write(
        bundle.join("shoes.cedar"),
        "@id(\"shoes\")\npermit (principal, action, resource)\n  when { principal.shoe_size > 3 };\n",
    )
    .unwrap();
    let out = run_cli(root.path(), &["policy", "validate", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("error: shoes.cedar:3:10: ") && stderr(&out).contains("shoe_size"),
        "{}",
        describe(&out)
    );
}

#[test]
fn validate_survives_a_policy_nested_too_deep_for_the_parser() {
    let (root, bundle) = scratch();
    let depth = 100_000;
    std::fs::write(
        bundle.join("deep.cedar"),
        format!(
            "@id(\"deep\")\npermit (principal, action, resource) when {{ {}true{} }};\n",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
    )
    .unwrap();
    let out = run_cli(root.path(), &["policy", "validate", s(&bundle)]);
    // Valid or refused with a diagnostic; not killed by a signal.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "palisade policy validate crashed on a deeply nested policy: {:?}\n{}",
        out.status,
        describe(&out)
    );
    if out.status.code() == Some(1) {
        assert!(stderr(&out).contains("deep.cedar"), "{}", describe(&out));
    }
}

#[test]
fn policy_test_passes_on_the_example() {
    let root = tempfile::tempdir().unwrap();
    let out = run_cli(root.path(), &["policy", "test", s(&examples_dir())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(examples_dir().join("documents.tests.json")).unwrap(),
    )
    .unwrap();
    let text = stdout(&out);
    let passes = text.lines().filter(|l| l.starts_with("PASS ")).count();
    assert_eq!(passes, cases.len(), "{}", describe(&out));
    assert!(!text.contains("FAIL"), "{}", describe(&out));
    assert!(
        text.contains(&format!("{} passed, 0 failed", cases.len())),
        "{}",
        describe(&out)
    );
}

#[test]
fn policy_test_reports_a_wrong_expectation() {
    let (root, bundle) = scratch();
    std::fs::write(
        bundle.join("wrong.tests.json"),
        r#"[
  { "name": "bob reads the design doc",
    "request": { "principal": "User::\"bob\"", "action": "Action::\"read\"", "resource": "Document::\"design\"", "context": {} },
    "decision": "allow" },
  { "name": "alice reads the roadmap for the wrong reason",
    "request": { "principal": "User::\"alice\"", "action": "Action::\"read\"", "resource": "Document::\"roadmap\"", "context": {} },
    "decision": "allow", "reason": ["public-read"] },
  { "name": "carol reads the handbook",
    "request": { "principal": "User::\"carol\"", "action": "Action::\"read\"", "resource": "Document::\"handbook\"", "context": {} },
    "decision": "allow" }
]"#,
    )
    .unwrap();
    let out = run_cli(root.path(), &["policy", "test", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let fail = lines
        .iter()
        .position(|l| {
            l.starts_with("FAIL ") && l.ends_with("wrong.tests.json: bob reads the design doc")
        })
        .unwrap_or_else(|| panic!("no FAIL line for the case:\n{}", describe(&out)));
    assert!(
        lines[fail + 1].contains("decision: expected allow, got deny"),
        "{}",
        describe(&out)
    );
    let fail = lines
        .iter()
        .position(|l| {
            l.starts_with("FAIL ")
                && l.ends_with("wrong.tests.json: alice reads the roadmap for the wrong reason")
        })
        .unwrap_or_else(|| panic!("no FAIL line for the case:\n{}", describe(&out)));
    let detail = lines[fail + 1..].join("\n");
    assert!(
        detail.contains("reason: expected but missing") && detail.contains("public-read"),
        "{}",
        describe(&out)
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("PASS ")
                && l.ends_with("wrong.tests.json: carol reads the handbook")),
        "{}",
        describe(&out)
    );
    assert!(text.contains(" passed, 2 failed"), "{}", describe(&out));

    // --tests runs only the given file.
    let out = run_cli(
        root.path(),
        &[
            "policy",
            "test",
            s(&bundle),
            "--tests",
            s(&bundle.join("wrong.tests.json")),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stdout(&out).contains("1 passed, 2 failed"),
        "{}",
        describe(&out)
    );

    // Nothing to run is an error of its own.
    let empty = root.path().join("empty.tests.json");
    std::fs::write(&empty, "[]").unwrap();
    let out = run_cli(
        root.path(),
        &["policy", "test", s(&bundle), "--tests", s(&empty)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

fn authorize(args: &[&str]) -> std::process::Output {
    let root = tempfile::tempdir().unwrap();
    let examples = examples_dir();
    let mut all = vec!["authorize", "--policies", s(&examples)];
    all.extend_from_slice(args);
    run_cli(root.path(), &all)
}

fn answer(o: &std::process::Output) -> Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(o)))
}

#[test]
fn authorize_exits_0_on_allow_and_1_on_deny() {
    let out = authorize(&[
        "--principal",
        "User::\"alice\"",
        "--action",
        "Action::\"read\"",
        "--resource",
        "Document::\"roadmap\"",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let a = answer(&out);
    assert_eq!(a["decision"], "Allow");
    assert_eq!(
        a["reasons"],
        serde_json::json!(["owners-full-access", "staff-read-by-clearance"])
    );

    let out = authorize(&[
        "--principal",
        "User::\"bob\"",
        "--action",
        "Action::\"read\"",
        "--resource",
        "Document::\"design\"",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(answer(&out)["decision"], "Deny");

    // Context and request-scoped entities.
    let delete = [
        "--principal",
        "User::\"alice\"",
        "--action",
        "Action::\"delete\"",
        "--resource",
        "Document::\"roadmap\"",
    ];
    let out = authorize(&delete);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        answer(&out)["reasons"],
        serde_json::json!(["delete-needs-mfa"])
    );
    let mut with_mfa = delete.to_vec();
    with_mfa.extend(["--context", "{\"mfa\": true}"]);
    let out = authorize(&with_mfa);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = authorize(&[
        "--principal",
        "User::\"dave\"",
        "--action",
        "Action::\"read\"",
        "--resource",
        "Document::\"roadmap\"",
        "--entities",
        r#"[{"uid":{"type":"User","id":"dave"},"attrs":{"department":"ops","clearance":2},"parents":[{"type":"Group","id":"staff"}]}]"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        answer(&out)["reasons"],
        serde_json::json!(["staff-read-by-clearance"])
    );

    // Usage errors are neither allow nor deny.
    let out = authorize(&[
        "--principal",
        "alice",
        "--action",
        "Action::\"read\"",
        "--resource",
        "Document::\"roadmap\"",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--principal"), "{}", describe(&out));
    let out = authorize(&[
        "--principal",
        "User::\"alice\"",
        "--action",
        "Action::\"read\"",
        "--resource",
        "Document::\"roadmap\"",
        "--context",
        "{not json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--context"), "{}", describe(&out));
}
