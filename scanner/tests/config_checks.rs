//! Every built-in configuration check against fixtures written for this project: each fixture marks the exact
//! findings it must produce with `expect: ID[, ID]` comments (on the offending line, or on a comment line right
//! above it) or, for JSON, in a `FILE.expect` file of `LINE ID` lines. A fixture without markers must produce no
//! finding. Every check must be expected somewhere (failing fixture) and passed somewhere: a `pass: ID[, ID]`
//! marker, placed like `expect:`, names the line that configures what the check looks at the safe way, and that
//! line has no finding of the check (passing fixture).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_scanner::config::{scan_path, Catalogue, ConfigOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn expected(file: &Path) -> BTreeSet<(u32, String)> {
    let sidecar = PathBuf::from(format!("{}.expect", file.display()));
    if let Ok(t) = std::fs::read_to_string(&sidecar) {
        let mut out = BTreeSet::new();
        for l in t.lines().filter(|l| !l.trim().is_empty()) {
            let (n, id) = l.split_once(' ').expect("LINE ID");
            out.insert((n.parse().unwrap(), id.trim().to_string()));
        }
        return out;
    }
    markers(file, "expect:")
}

/// (line, id) of every `tag ID[, ID]` marker in `file`: on the line itself, or on the next line that is not a
/// comment when the marker is on a comment line.
fn markers(file: &Path, tag: &str) -> BTreeSet<(u32, String)> {
    let mut out = BTreeSet::new();
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(pos) = l.find(tag) else {
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
        assert!(
            lines.get(target - 1).is_some_and(|t| !t.trim().is_empty()),
            "{}:{}: `{tag}` marks no line",
            file.display(),
            i + 1
        );
        for id in l[pos + tag.len()..].split(',') {
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

/// Checks every fixture of `family`; returns the ids expected (failing) and the ids passed.
fn check_family(family: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let cat = Catalogue::new(&[], &[]).unwrap();
    let mut seen = BTreeSet::new();
    let mut passed = BTreeSet::new();
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
        for (line, id) in markers(&f, "pass:") {
            assert!(
                cat.checks().any(|c| c.id == id),
                "{}:{line}: pass: {id} names no check",
                f.display()
            );
            if got.contains(&(line, id.clone())) || want.contains(&(line, id.clone())) {
                failures.push(format!(
                    "{}:{line}: {id} is marked as passing but is a finding there",
                    f.display()
                ));
            }
            passed.insert(id);
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
    (seen, passed)
}

fn all_expected(prefix: &str, (failing, passing): &(BTreeSet<String>, BTreeSet<String>)) {
    let cat = Catalogue::new(&[], &[]).unwrap();
    let without = |marked: &BTreeSet<String>| -> Vec<String> {
        cat.checks()
            .map(|c| c.id.clone())
            .filter(|id| id.starts_with(prefix) && !marked.contains(id))
            .collect()
    };
    assert_eq!(
        without(failing),
        Vec::<String>::new(),
        "checks without a failing fixture"
    );
    assert_eq!(
        without(passing),
        Vec::<String>::new(),
        "checks without a passing fixture"
    );
}

#[test]
fn kubernetes_checks_match_their_fixtures_exactly() {
    all_expected("PAL-K8S-", &check_family("kubernetes"));
}

#[test]
fn dockerfile_checks_match_their_fixtures_exactly() {
    all_expected("PAL-DF-", &check_family("dockerfile"));
}

#[test]
fn terraform_checks_match_their_fixtures_exactly() {
    all_expected("PAL-TF-", &check_family("terraform"));
}

#[test]
fn secret_rules_match_their_fixtures_exactly() {
    all_expected("PAL-SEC-", &check_family("secrets"));
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
