//! Every built-in configuration check against fixtures written for this project: each fixture marks the exact
//! findings it must produce with `expect: ID[, ID]` comments (on the offending line, or on a comment line right
//! above it) or, for JSON, in a `FILE.expect` file of `LINE ID` lines. A fixture without markers must produce no
//! finding. Every check must be expected somewhere (failing fixture) and every family has a clean fixture (passing).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_scanner::config::{scan_path, Catalogue, ConfigOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn expected(file: &Path) -> BTreeSet<(u32, String)> {
    let mut out = BTreeSet::new();
    let sidecar = PathBuf::from(format!("{}.expect", file.display()));
    if let Ok(t) = std::fs::read_to_string(&sidecar) {
        for l in t.lines().filter(|l| !l.trim().is_empty()) {
            let (n, id) = l.split_once(' ').expect("LINE ID");
            out.insert((n.parse().unwrap(), id.trim().to_string()));
        }
        return out;
    }
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(pos) = l.find("expect:") else {
            continue;
        };
        let comment_only = {
            let t = l.trim_start();
            t.starts_with('#') || t.starts_with("//")
        };
        let target = if comment_only {
            // the next line that is not a comment
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim_start().starts_with('#') {
                j += 1;
            }
            j + 1
        } else {
            i + 1
        };
        for id in l[pos + 7..].split(',') {
            out.insert((target as u32, id.trim().to_string()));
        }
    }
    out
}

fn fixture_files(family: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join(family))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.display().to_string().ends_with(".expect"))
        .collect();
    v.sort();
    v
}

fn check_family(family: &str) -> BTreeSet<String> {
    let cat = Catalogue::new(&[], &[]).unwrap();
    let mut seen = BTreeSet::new();
    let mut clean = 0;
    let mut failures = Vec::new();
    for f in fixture_files(family) {
        let scan = scan_path(&f, &cat, &ConfigOptions::default()).unwrap();
        let got: BTreeSet<(u32, String)> = scan
            .findings
            .iter()
            .map(|x| (x.line, x.id.clone()))
            .collect();
        let want = expected(&f);
        if want.is_empty() {
            clean += 1;
        }
        if got != want {
            failures.push(format!(
                "{}:\n  missing:    {:?}\n  unexpected: {:?}\n  messages: {:#?}",
                f.display(),
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>(),
                scan.findings
                    .iter()
                    .map(|x| format!("{}:{} {} {} [{}]", x.file, x.line, x.id, x.message, x.field))
                    .collect::<Vec<_>>()
            ));
        }
        seen.extend(want.into_iter().map(|(_, id)| id));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(clean >= 1, "{family}: no clean (passing) fixture");
    seen
}

fn all_expected(prefix: &str, seen: &BTreeSet<String>) {
    let cat = Catalogue::new(&[], &[]).unwrap();
    let missing: Vec<&str> = cat
        .checks()
        .map(|c| c.id.as_str())
        .filter(|id| id.starts_with(prefix) && !seen.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "checks without a failing fixture: {missing:?}"
    );
}

#[test]
fn kubernetes_checks_match_their_fixtures_exactly() {
    let seen = check_family("kubernetes");
    all_expected("PAL-K8S-", &seen);
}

#[test]
fn dockerfile_checks_match_their_fixtures_exactly() {
    let seen = check_family("dockerfile");
    all_expected("PAL-DF-", &seen);
}

#[test]
fn terraform_checks_match_their_fixtures_exactly() {
    let seen = check_family("terraform");
    all_expected("PAL-TF-", &seen);
}

#[test]
fn secret_rules_match_their_fixtures_exactly() {
    let seen = check_family("secrets");
    all_expected("PAL-SEC-", &seen);
}

#[test]
fn secret_suppressed_in_place_is_kept_with_its_reason() {
    let cat = Catalogue::new(&[], &[]).unwrap();
    let scan = scan_path(
        &fixtures().join("secrets/clean.env"),
        &cat,
        &ConfigOptions::default(),
    )
    .unwrap();
    assert!(scan.findings.is_empty(), "{:?}", scan.findings);
    let s: Vec<(u32, &str, &str)> = scan
        .suppressed
        .iter()
        .map(|s| (s.finding.line, s.finding.id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        s,
        [(
            20,
            "PAL-SEC-011",
            "suppressed in place: a test fixture's value, rotated and revoked"
        )]
    );
}
