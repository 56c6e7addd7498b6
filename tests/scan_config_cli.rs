//! `palisade scan config` and `palisade gate` from the shell: secrets never printed in full in any format,
//! snapshots of the user-facing output, the per-file size cap (flag and configuration key), users' own checks and secret rules loaded without recompiling, and one
//! gate over an image and configuration together (ignore file with paths, reasons and expiry; thresholds; exit
//! codes).

mod common;
#[path = "../scanner/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use common::{describe, run_cli};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every secret in scanner/tests/fixtures/config/secrets that a rule reports (fake, written for the tests).
const LEAKED: &[&str] = &[
    "AKIAZ4QXNL7RTW2PB5MK",
    "q8Zt3Lr/Kw9Vx2Nb+Hj5Pf7Yd1Gm4Sc6Ae0Ru8Xo",
    "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sAb",
    "ghs_9Kq2Wm7Rt4Zx8Vn3Bp6Ly1Hd5Jf0Gc2Ae7Qu9",
    "glpat-Xq3mZr8Kt2Wv9Nb4Lp7Y",
    "xoxb-2948571038-7734829102-Qm8Rt2Zx9Kw4Vn3Bp6Ly",
    "https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/Zk3Rm9Qx2Wt7Vn4Bp8Ly5Hd",
    "sk_live_51Hq8ZtLr4Kw9Vx2Nb5Hj7Pf3Yd",
    "rk_live_51Mv2Rt8Kq4Zx9Wn3Bp6Ly1Hd",
    "Tr0ub4dor&3xkcd",
    "f3b9c1d8e2a74b6c9d0e1f2a3b4c5d6e",
    "N8#vq2Lm!xR4",
    "7d9F2kQ8zR4mX1vB6nL3pW0tY5hJ",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "MHcCAQEEIFakeKeyWrittenForPalisadeTestsOnly",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCFakeFakeFakeKey01",
    "N8vq2LmxR4Kw",
    "7d9F2kQ8zR4mX1vB6nL3pW0t",
    "Zq8Rt2Zx9Kw4",
    "Hd5Jf0Gc2Ae7",
];

#[test]
fn no_output_format_prints_a_whole_secret() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("scanner/tests/fixtures/config/secrets");
    for format in ["table", "json", "sarif"] {
        let out = run_cli(
            dir.path(),
            &["scan", "config", s(&fixtures), "--format", format],
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The scan found them (redacted) ...
        for id in ["PAL-SEC-001", "PAL-SEC-002", "PAL-SEC-009", "PAL-SEC-011"] {
            assert!(all.contains(id), "{format}: no {id}\n{all}");
        }
        assert!(all.contains("ghp_**** (40 chars)"), "{format}\n{all}");
        // ... and no output holds one whole.
        for secret in LEAKED {
            assert!(!all.contains(secret), "{format} prints {secret}");
        }
    }
    // The JWT too (generated into the fixture, so checked by its signature part).
    let out = run_cli(
        dir.path(),
        &["scan", "config", s(&fixtures), "--format", "json"],
    );
    assert!(!String::from_utf8_lossy(&out.stdout)
        .contains("Zm9yZ2VkLXNpZ25hdHVyZS1wYWxpc2FkZS10ZXN0LTAx"));
}

/// Compares `got` with the snapshot `name` (UPDATE_SNAPSHOTS=1 rewrites it).
fn snapshot(name: &str, got: &str) {
    let p = repo().join("tests/snapshots/scan_config").join(name);
    let got = got.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&p, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", p.display()));
    assert!(
        got == want,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n--- got\n{got}\n--- want\n{want}"
    );
}

#[test]
fn table_json_and_sarif_match_their_snapshots() {
    for (format, file) in [
        ("table", "table.txt"),
        ("json", "report.json"),
        ("sarif", "report.sarif"),
    ] {
        let out = run_cli(
            &repo().join("tests/fixtures/scan_config"),
            &["scan", "config", "app", "--format", format],
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        snapshot(file, &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn users_checks_and_secret_rules_load_without_recompiling() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: docker.io/library/nginx:1.27\n",
    )
    .unwrap();
    std::fs::write(
        app.join("deploy.sh"),
        "#!/bin/sh\nexport ACME_TOKEN=acme_Zq8Rt2Zx9Kw4Vn3Bp6Ly1Hd5Jf0Gc2Ae\nexport ACME_TEST=acme_test_Zq8Rt2Zx9Kw4Vn3Bp6Ly1Hd5Jf0\n",
    )
    .unwrap();
    let checks = dir.path().join("acme.toml");
    std::fs::write(
        &checks,
        r#"
[[check]]
id = "ACME-001"
title = "Images come from our registry"
severity = "high"
target = "container"
message = "image {value} is not from registry.acme.example"
risk = "Images from elsewhere are neither scanned nor signed."
remediation = "Push the image to registry.acme.example and deploy it from there."
[[check.when]]
path = "image"
not_matches = "^registry\\.acme\\.example/"

[[secret]]
id = "ACME-SEC-001"
title = "ACME deploy token"
severity = "critical"
regex = '''\b(?P<secret>acme_[A-Za-z0-9_]{32,})'''
keywords = ["acme_"]
allow = ["^acme_test_"]
risk = "Anyone who reads the file can deploy as us."
remediation = "Revoke the token and load it from the secrets store at run time."
"#,
    )
    .unwrap();
    let out = run_cli(
        dir.path(),
        &[
            "scan",
            "config",
            "app",
            "--checks",
            s(&checks),
            "--format",
            "json",
            "--skip-check",
            "PAL-K8S-041",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<(String, String, u64)> = report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Misconfigurations"].as_array().unwrap().clone())
        .filter(|m| m["ID"].as_str().unwrap().starts_with("ACME-"))
        .map(|m| {
            (
                m["ID"].as_str().unwrap().to_string(),
                m["File"].as_str().unwrap().to_string(),
                m["Line"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("ACME-001".to_string(), "app/pod.yaml".to_string(), 8),
            ("ACME-SEC-001".to_string(), "app/deploy.sh".to_string(), 2),
        ]
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("acme_Zq8Rt2Zx9Kw4Vn3Bp6Ly1Hd5Jf0Gc2Ae"));
    // The catalogue lists them; a broken rule is a clear error (exit 2), not a silent pass.
    let out = run_cli(
        dir.path(),
        &[
            "scan",
            "config",
            "app",
            "--checks",
            s(&checks),
            "--list-checks",
        ],
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("ACME-001")
            && listing.contains("ACME-SEC-001")
            && listing.contains("PAL-SEC-009")
    );
    std::fs::write(&checks, "[[secret]]\nid = \"ACME-SEC-002\"\ntitle = \"t\"\nseverity = \"high\"\nregex = \"(unclosed\"\nrisk = \"r\"\nremediation = \"f\"\n").unwrap();
    let out = run_cli(
        dir.path(),
        &["scan", "config", "app", "--checks", s(&checks)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ACME-SEC-002: bad regular expression"),
        "{}",
        describe(&out)
    );
}

#[test]
fn one_gate_over_an_image_and_configuration() {
    let img = support::test_image();
    let pkgs = support::dpkg_query(&img["PALISADE_TEST_ROOTFS"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    support::image_db(&db, &pkgs);
    let cfg = dir.path().join("deploy");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("app.env"),
        "# rotated\nSTRIPE_KEY=sk_live_51Hq8ZtLr4Kw9Vx2Nb5Hj7Pf3Yd\n",
    )
    .unwrap();
    let archive = img["PALISADE_TEST_DOCKER_ARCHIVE"].as_str();
    let ignore = dir.path().join("ignore.toml");
    let gate = |extra: &[&str]| {
        let mut args = vec![
            "gate",
            "--image",
            archive,
            "--db",
            s(&db),
            "--config-path",
            "deploy",
            "--fail-on",
            "critical",
        ];
        args.extend_from_slice(extra);
        run_cli(dir.path(), &args)
    };
    // The image's critical CVE and the config's critical secret: one verdict, two blocking findings.
    let out = gate(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gate: FAILED: 2 finding(s) at or above CRITICAL"),
        "{}",
        describe(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    assert!(
        text.contains("CVE-2099-1007") && text.contains("PAL-SEC-008"),
        "{text}"
    );
    // Ignoring the CVE alone leaves the secret: still failing, with 1.
    std::fs::write(&ignore, "[[ignore]]\nid = \"CVE-2099-1007\"\nreason = \"not reachable\"\nexpires = \"2999-12-31\"\n").unwrap();
    let out = gate(&["--ignore-file", s(&ignore)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FAILED: 1 finding(s)"),
        "{}",
        describe(&out)
    );
    // An entry for the secret under another path does not apply; under its path it does: the gate passes.
    let mut text = std::fs::read_to_string(&ignore).unwrap();
    text.push_str("[[ignore]]\nid = \"PAL-SEC-008\"\npath = \"elsewhere/\"\nreason = \"other\"\nexpires = \"2999-12-31\"\n");
    std::fs::write(&ignore, &text).unwrap();
    let out = gate(&["--ignore-file", s(&ignore)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    text.push_str("[[ignore]]\nid = \"PAL-SEC-008\"\npath = \"deploy/\"\nreason = \"test key, revoked\"\nexpires = \"2999-12-31\"\n");
    std::fs::write(&ignore, &text).unwrap();
    let out = gate(&["--ignore-file", s(&ignore), "--exit-code", "7"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gate: passed"), "{}", describe(&out));
    assert!(
        stderr.contains("ignore entry for PAL-SEC-008 matched no finding"),
        "{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("test key, revoked"),
        "{}",
        describe(&out)
    );
    // Expired: the entry no longer suppresses, the chosen exit code says so.
    std::fs::write(
        &ignore,
        text.replace(
            "test key, revoked\"\nexpires = \"2999-12-31\"",
            "test key, revoked\"\nexpires = \"2020-01-01\"",
        ),
    )
    .unwrap();
    let out = gate(&["--ignore-file", s(&ignore), "--exit-code", "7"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    // Nothing to gate, or a missing path: 2.
    let out = run_cli(dir.path(), &["gate", "--fail-on", "low"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = run_cli(
        dir.path(),
        &["gate", "--config-path", "missing/", "--fail-on", "low"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    // A saved config report gates together with a live one.
    let saved = dir.path().join("saved.json");
    let out = run_cli(
        dir.path(),
        &["scan", "config", "deploy", "-f", "json", "-o", s(&saved)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = run_cli(
        dir.path(),
        &[
            "gate",
            s(&saved),
            "--config-path",
            "deploy",
            "--fail-on",
            "high",
            "-f",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FAILED: 2 finding(s)"),
        "{}",
        describe(&out)
    );
}

/// (file name, line, id, message) of every finding in a JSON report.
fn findings(stdout: &[u8]) -> Vec<(String, u64, String, String)> {
    let report: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    let mut out = Vec::new();
    for r in report["Results"].as_array().unwrap() {
        for f in r["Misconfigurations"].as_array().into_iter().flatten() {
            out.push((
                f["File"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                f["Line"].as_u64().unwrap(),
                f["ID"].as_str().unwrap().to_string(),
                f["Message"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[test]
fn a_file_over_the_size_cap_is_reported_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let pad = format!("# {}\n", "x".repeat(5000));
    // A manifest and a text file over a 4096-byte cap, each holding something a scan must not miss.
    std::fs::write(
        tree.join("a-big.yaml"),
        format!("{pad}apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  namespace: prod\nspec:\n  containers:\n    - name: big\n      image: nginx:1.27\n      securityContext:\n        privileged: true\n"),
    )
    .unwrap();
    std::fs::write(
        tree.join("b-notes.txt"),
        format!("{pad}GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sAb\n"),
    )
    .unwrap();
    // Small files after them in the walk: the scan goes on to them.
    std::fs::write(
        tree.join("c-pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  containers:\n    - name: web\n      image: nginx:1.27\n      securityContext:\n        privileged: true\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("d.env"),
        "STRIPE_KEY=sk_live_51Hq8ZtLr4Kw9Vx2Nb5Hj7Pf3Yd\n",
    )
    .unwrap();
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "config", "tree", "-f", "json"];
        args.extend_from_slice(extra);
        run_cli(dir.path(), &args)
    };
    let ids_in = |found: &[(String, u64, String, String)], file: &str| -> Vec<String> {
        found
            .iter()
            .filter(|f| f.0 == file)
            .map(|f| f.2.clone())
            .collect()
    };
    // The default cap (8 MiB) reads everything.
    let out = scan(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let all = findings(&out.stdout);
    assert!(
        ids_in(&all, "a-big.yaml").contains(&"PAL-K8S-005".to_string()),
        "{all:#?}"
    );
    assert_eq!(ids_in(&all, "b-notes.txt"), ["PAL-SEC-004"], "{all:#?}");

    let capped = |out: &std::process::Output| {
        assert_eq!(out.status.code(), Some(0), "{}", describe(out));
        let found = findings(&out.stdout);
        // The manifest over the cap is a finding of its own, with a clear message; nothing of it was checked.
        let big: Vec<_> = found.iter().filter(|f| f.0 == "a-big.yaml").collect();
        assert_eq!(big.len(), 1, "{found:#?}");
        assert_eq!((big[0].1, big[0].2.as_str()), (1, "PAL-CFG-001"));
        assert!(
            big[0].3.ends_with(
                "larger than the per-file size cap (4096 bytes), not parsed or searched for secrets"
            ),
            "{}",
            big[0].3
        );
        // The text file over the cap was not searched, and the user is told so.
        assert!(ids_in(&found, "b-notes.txt").is_empty(), "{found:#?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(
                "b-notes.txt: larger than the per-file size cap (4096 bytes), not searched for secrets"
            ),
            "{}",
            describe(out)
        );
        // The scan went on.
        assert!(
            ids_in(&found, "c-pod.yaml").contains(&"PAL-K8S-005".to_string()),
            "{found:#?}"
        );
        assert_eq!(ids_in(&found, "d.env"), ["PAL-SEC-008"], "{found:#?}");
    };
    capped(&scan(&["--max-file-bytes", "4096"]));

    // The same cap from the configuration file; the flag overrides it.
    let cfg = dir.path().join("palisade.toml");
    std::fs::write(&cfg, "[scanner]\nconfig_max_file_bytes = 4096\n").unwrap();
    capped(&scan(&["--config", s(&cfg)]));
    let out = scan(&["--config", s(&cfg), "--max-file-bytes", "8192"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !findings(&out.stdout).iter().any(|f| f.2 == "PAL-CFG-001"),
        "{}",
        describe(&out)
    );

    // The gate does not pass a file it could not check.
    let out = run_cli(
        dir.path(),
        &[
            "--config",
            s(&cfg),
            "gate",
            "--config-path",
            "tree/a-big.yaml",
            "--fail-on",
            "medium",
            "-f",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let ids: Vec<String> = findings(&out.stdout).into_iter().map(|f| f.2).collect();
    assert_eq!(ids, ["PAL-CFG-001"], "{}", describe(&out));

    // A zero cap is refused, naming what to fix.
    std::fs::write(&cfg, "[scanner]\nconfig_max_file_bytes = 0\n").unwrap();
    let out = scan(&["--config", s(&cfg)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("[scanner] config_max_file_bytes must be at least 1"),
        "{}",
        describe(&out)
    );
    let out = scan(&["--max-file-bytes", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// `palisade scan config - -f json` with `input` on standard input: (file, line, id) of each finding.
fn scan_stdin(cwd: &Path, input: &str) -> Vec<(String, u64, String)> {
    use std::io::Write as _;
    let mut child = common::palisade()
        .current_dir(cwd)
        .args(["scan", "config", "-", "-f", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    findings(&out.stdout)
        .into_iter()
        .map(|(file, line, id, _)| (file, line, id))
        .collect()
}

#[test]
fn standard_input_is_recognised_by_content_and_gitignored_files_are_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let f = |line: u64, id: &str| ("-".to_string(), line, id.to_string());
    assert_eq!(
        scan_stdin(
            dir.path(),
            "FROM debian:latest\nRUN curl -fsSL https://get.example.com/install.sh | sh\n"
        ),
        [
            f(1, "PAL-DF-001"),
            f(1, "PAL-DF-002"),
            f(1, "PAL-DF-012"),
            f(2, "PAL-DF-005")
        ]
    );
    assert_eq!(
        scan_stdin(
            dir.path(),
            "resource \"aws_kms_key\" \"k\" {\n  enable_key_rotation = false\n}\n"
        ),
        [f(2, "PAL-TF-010")]
    );
    assert_eq!(
        scan_stdin(
            dir.path(),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\nspec:\n  hostNetwork: true\n  containers: []\n"
        )
        .into_iter()
        .filter(|x| x.2 == "PAL-K8S-002")
        .collect::<Vec<_>>(),
        [f(5, "PAL-K8S-002")]
    );

    // A tree with .gitignore-style excludes: what they name is not scanned, the rest is.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("generated")).unwrap();
    std::fs::write(tree.join(".gitignore"), "generated/\n*.local.env\n").unwrap();
    let leaked = "STRIPE_KEY=sk_live_51Hq8ZtLr4Kw9Vx2Nb5Hj7Pf3Yd\n";
    std::fs::write(tree.join("generated/app.env"), leaked).unwrap();
    std::fs::write(tree.join("dev.local.env"), leaked).unwrap();
    std::fs::write(tree.join("app.env"), leaked).unwrap();
    let out = run_cli(dir.path(), &["scan", "config", "tree", "-f", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let files: Vec<String> = findings(&out.stdout).into_iter().map(|x| x.0).collect();
    assert_eq!(files, ["app.env"], "{}", describe(&out));
}
