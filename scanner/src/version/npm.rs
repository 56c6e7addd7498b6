//! npm version ranges with node-semver's semantics (as Trivy's go-npm-version follows them): `||` alternatives,
//! hyphen ranges (`1.2.3 - 2.3.4`), x-ranges (`1.x`, `1.2.*`, `*`), tilde and caret ranges, and the pre-release
//! rule: a pre-release version only satisfies a comparator set when it meets every comparator AND some
//! comparator carries a pre-release on the same `[major, minor, patch]` tuple (`1.2.3-beta.2` satisfies
//! `^1.2.3-beta.1`, not `^1.2.0`).
//!
//! Versions and ranges are parsed strictly, as node-semver does outside its loose mode (no leading zeros, three
//! numeric components for a version), except that `,` also separates comparators, as Trivy's data writes them.

use std::cmp::Ordering;

use super::semver::SemVer;
use super::VersionError;

/// JavaScript's largest safe integer: node-semver rejects bigger numbers.
const MAX_SAFE: u64 = (1 << 53) - 1;
/// node-semver's longest version string.
const MAX_VERSION_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// One comparator; `None` is node-semver's `ANY` (matches everything).
type Comparator = Option<(Op, SemVer)>;

fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok().filter(|n| *n <= MAX_SAFE)
}

/// A pre-release identifier: numeric without leading zeros, or alphanumeric with at least one non-digit.
fn pre_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && (numeric(s).is_some() || !s.bytes().all(|b| b.is_ascii_digit()))
}

fn build_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Splits `1.2.3-pre.1+build` into the dotted main part and its pre-release identifiers, checking both grammars.
fn split_pre_build(s: &str) -> Option<(&str, Vec<String>)> {
    let (s, build) = match s.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    if let Some(b) = build {
        if !b.split('.').all(build_ident) {
            return None;
        }
    }
    let (main, pre) = match s.split_once('-') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let pre = match pre {
        Some(p) => {
            if !p.split('.').all(pre_ident) {
                return None;
            }
            p.split('.').map(str::to_string).collect()
        }
        None => Vec::new(),
    };
    Some((main, pre))
}

/// Parses a version as node-semver does (strict): `v?MAJOR.MINOR.PATCH(-pre)?(+build)?`.
pub fn parse_version(s: &str) -> Result<SemVer, VersionError> {
    let full = s;
    let s = s.trim();
    if s.len() > MAX_VERSION_LEN {
        return Err(VersionError::new(full, "version too long"));
    }
    let s = s.strip_prefix('v').unwrap_or(s);
    let bad = || VersionError::new(full, "not a valid npm version");
    let (main, pre) = split_pre_build(s).ok_or_else(bad)?;
    let release = main
        .split('.')
        .map(numeric)
        .collect::<Option<Vec<u64>>>()
        .filter(|r| r.len() == 3)
        .ok_or_else(bad)?;
    Ok(SemVer { release, pre })
}

/// A partial version in a range: `None` components are wildcards (`x`, `X`, `*` or missing).
struct Partial {
    parts: [Option<u64>; 3],
    pre: Vec<String>,
}

fn parse_partial(s: &str) -> Option<Partial> {
    let s = s.trim_start_matches(['v', '=']);
    let (main, pre) = split_pre_build(s)?;
    let comps: Vec<&str> = main.split('.').collect();
    if comps.len() > 3 {
        return None;
    }
    let mut parts = [None; 3];
    for (i, c) in comps.iter().enumerate() {
        parts[i] = match *c {
            "x" | "X" | "*" => None,
            n => Some(numeric(n)?),
        };
    }
    // A pre-release follows a three-part version only, and counts only when no part of it is a wildcard.
    if !pre.is_empty() && comps.len() != 3 {
        return None;
    }
    let pre = if parts.iter().all(Option::is_some) {
        pre
    } else {
        Vec::new()
    };
    Some(Partial { parts, pre })
}

fn ver(major: u64, minor: u64, patch: u64, pre: &[&str]) -> SemVer {
    SemVer {
        release: vec![major, minor, patch],
        pre: pre.iter().map(|s| s.to_string()).collect(),
    }
}

fn inc(n: u64) -> Option<u64> {
    n.checked_add(1).filter(|n| *n <= MAX_SAFE)
}

/// `>=lower <upper-0` for the wildcard positions of a partial version (`1.x`, `1.2.x`).
fn wildcard_span(major: u64, minor: Option<u64>) -> Option<Vec<Comparator>> {
    Some(match minor {
        None => vec![
            Some((Op::Ge, ver(major, 0, 0, &[]))),
            Some((Op::Lt, ver(inc(major)?, 0, 0, &["0"]))),
        ],
        Some(m) => vec![
            Some((Op::Ge, ver(major, m, 0, &[]))),
            Some((Op::Lt, ver(major, inc(m)?, 0, &["0"]))),
        ],
    })
}

fn full(p: &Partial) -> Option<SemVer> {
    let [Some(a), Some(b), Some(c)] = p.parts else {
        return None;
    };
    Some(SemVer {
        release: vec![a, b, c],
        pre: p.pre.clone(),
    })
}

fn tilde(p: &Partial) -> Option<Vec<Comparator>> {
    let [major, minor, _] = p.parts;
    let Some(major) = major else {
        return Some(vec![None]);
    };
    match full(p) {
        None => wildcard_span(major, minor),
        Some(v) => {
            let upper = ver(major, inc(v.release[1])?, 0, &["0"]);
            Some(vec![Some((Op::Ge, v)), Some((Op::Lt, upper))])
        }
    }
}

fn caret(p: &Partial) -> Option<Vec<Comparator>> {
    let [major, minor, patch] = p.parts;
    let Some(major) = major else {
        return Some(vec![None]);
    };
    let Some(minor) = minor else {
        return wildcard_span(major, None);
    };
    let Some(patch) = patch else {
        let upper = if major == 0 {
            ver(0, inc(minor)?, 0, &["0"])
        } else {
            ver(inc(major)?, 0, 0, &["0"])
        };
        return Some(vec![
            Some((Op::Ge, ver(major, minor, 0, &[]))),
            Some((Op::Lt, upper)),
        ]);
    };
    let lower = SemVer {
        release: vec![major, minor, patch],
        pre: p.pre.clone(),
    };
    let upper = if major != 0 {
        ver(inc(major)?, 0, 0, &["0"])
    } else if minor != 0 {
        ver(0, inc(minor)?, 0, &["0"])
    } else {
        ver(0, 0, inc(patch)?, &["0"])
    };
    Some(vec![Some((Op::Ge, lower)), Some((Op::Lt, upper))])
}

fn x_range(op: &str, p: &Partial) -> Option<Vec<Comparator>> {
    let [major, minor, patch] = p.parts;
    // A number after a wildcard (`x.1`, `1.x.3`) is no x-range (tilde, caret and hyphen ranges allow it).
    if (major.is_none() && minor.is_some()) || (minor.is_none() && patch.is_some()) {
        return None;
    }
    let any_x = patch.is_none() || minor.is_none() || major.is_none();
    let op = if op == "=" && any_x { "" } else { op };
    let Some(major) = major else {
        return Some(vec![if op == ">" || op == "<" {
            Some((Op::Lt, ver(0, 0, 0, &["0"])))
        } else {
            None
        }]);
    };
    if let Some(v) = full(p) {
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => Op::Eq,
        };
        return Some(vec![Some((op, v))]);
    }
    if op.is_empty() {
        return wildcard_span(major, minor);
    }
    let (m, xm) = match minor {
        Some(m) => (m, false),
        None => (0, true),
    };
    let (op, v) = match (op, xm) {
        (">", true) => (Op::Ge, ver(inc(major)?, 0, 0, &[])),
        (">", false) => (Op::Ge, ver(major, inc(m)?, 0, &[])),
        ("<=", true) => (Op::Lt, ver(inc(major)?, 0, 0, &["0"])),
        ("<=", false) => (Op::Lt, ver(major, inc(m)?, 0, &["0"])),
        ("<", _) => (Op::Lt, ver(major, m, 0, &["0"])),
        (_, _) => (Op::Ge, ver(major, m, 0, &[])),
    };
    Some(vec![Some((op, v))])
}

fn hyphen(from: &Partial, to: &Partial) -> Option<Vec<Comparator>> {
    let mut out = Vec::new();
    match from.parts {
        [None, ..] => {}
        [Some(a), None, _] => out.push(Some((Op::Ge, ver(a, 0, 0, &[])))),
        [Some(a), Some(b), None] => out.push(Some((Op::Ge, ver(a, b, 0, &[])))),
        _ => out.push(Some((Op::Ge, full(from)?))),
    }
    match to.parts {
        [None, ..] => {}
        [Some(a), None, _] => out.push(Some((Op::Lt, ver(inc(a)?, 0, 0, &["0"])))),
        [Some(a), Some(b), None] => out.push(Some((Op::Lt, ver(a, inc(b)?, 0, &["0"])))),
        _ => out.push(Some((Op::Le, full(to)?))),
    }
    if out.is_empty() {
        out.push(None);
    }
    Some(out)
}

/// One comparator token (`>=1.2`, `~1.2.3`, `^0.1`, `1.x`, `*`).
fn comparator(tok: &str) -> Option<Vec<Comparator>> {
    if let Some(rest) = tok.strip_prefix("~>").or_else(|| tok.strip_prefix('~')) {
        return tilde(&parse_partial(rest)?);
    }
    if let Some(rest) = tok.strip_prefix('^') {
        return caret(&parse_partial(rest)?);
    }
    let op_len = tok
        .bytes()
        .take_while(|b| matches!(b, b'<' | b'>' | b'='))
        .count();
    let (op, rest) = tok.split_at(op_len);
    if !matches!(op, "" | "<" | ">" | "<=" | ">=" | "=") {
        return None;
    }
    x_range(op, &parse_partial(rest)?)
}

/// Joins operators written apart from their version (`>= 1.2.3`, `^ 1.2`) to it.
fn tokens(set: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for t in set.split(|c: char| c.is_whitespace() || c == ',') {
        if t.is_empty() {
            continue;
        }
        if t.bytes()
            .all(|b| matches!(b, b'<' | b'>' | b'=' | b'~' | b'^'))
        {
            pending.push_str(t);
            continue;
        }
        out.push(format!("{pending}{t}"));
        pending.clear();
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

fn comparator_set(set: &str) -> Option<Vec<Comparator>> {
    let words: Vec<&str> = set
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if let [from, "-", to] = words.as_slice() {
        return hyphen(&parse_partial(from)?, &parse_partial(to)?);
    }
    let mut out = Vec::new();
    for t in tokens(set) {
        out.extend(comparator(&t)?);
        if out.len() > 128 {
            return None;
        }
    }
    if out.is_empty() {
        out.push(None);
    }
    Some(out)
}

fn test_one(c: &Comparator, v: &SemVer) -> bool {
    let Some((op, bound)) = c else {
        return true;
    };
    let o = v.cmp(bound);
    match op {
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Eq => o == Ordering::Equal,
    }
}

fn test_set(set: &[Comparator], v: &SemVer) -> bool {
    if !set.iter().all(|c| test_one(c, v)) {
        return false;
    }
    if v.pre.is_empty() {
        return true;
    }
    set.iter()
        .flatten()
        .any(|(_, b)| !b.pre.is_empty() && b.release == v.release)
}

/// True when `version` satisfies the npm `range`. An invalid range is an error; an invalid version satisfies
/// nothing (node-semver's `satisfies` answers false for it).
pub fn satisfies(version: &str, range: &str) -> Result<bool, VersionError> {
    if range.len() > 4096 {
        return Err(VersionError::new(range, "range too long"));
    }
    let sets = range
        .split("||")
        .map(|set| comparator_set(set.trim()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| VersionError::new(range, "not a valid npm range"))?;
    let Ok(v) = parse_version(version) else {
        return Ok(false);
    };
    Ok(sets.iter().any(|s| test_set(s, &v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_semver_examples() {
        for (v, r, want) in [
            ("1.2.3", "1.2.3 - 2.3.4", true),
            ("2.3.4", "1.2.3 - 2.3.4", true),
            ("2.3.5", "1.2.3 - 2.3.4", false),
            ("2.3.9", "1.2 - 2.3", true),
            ("2.4.0-0", "1.2 - 2.3", false),
            ("1.2.4-beta.3", "^1.2.3-beta.2", false),
            ("1.2.3-beta.4", "^1.2.3-beta.2", true),
            ("1.2.3-beta.1", "^1.2.3-beta.2", false),
            ("1.9.0", "^1.2.3-beta.2", true),
            ("1.0.0-beta", "<1.0.0-rc.1", true),
            ("0.9.0", "<1.0.0-rc.1", true),
            ("0.9.0-rc.1", "<1.0.0-rc.1", false),
            ("3.0.0", "1.x || >=2.5.0 || 5.0.0 - 7.2.3", true),
            ("1.2.3-alpha", "*", false),
            ("1.2.3-alpha", "", false),
            ("0.0.1", "^0.0.1", true),
            ("0.0.2", "^0.0.1", false),
            ("1.3.0", "~1.2", false),
            ("1.2.0", ">1.1", true),
            ("1.1.9", ">1.1", false),
            ("2.0.0", "<=1", false),
            ("1.99.0", "<=1", true),
            ("1.2.3", ">= 1.2.3, < 1.2.4", true),
            ("1.9.0", "^1.2.x", true),
            ("1.1.0", "^1.2.x", false),
            ("0.3.0", "^0.2.x", false),
            ("1.9.9", "^1.x.3", true),
            ("1.2.5", "1.2.x-beta", true),
        ] {
            assert_eq!(satisfies(v, r).unwrap(), want, "{v} in {r:?}");
        }
        for bad in [
            ">=01.2.3", "1.2.3.4", "== 1.2.3", "1.2.3 - ", "a.b.c", "1.2-beta",
        ] {
            assert!(satisfies("1.2.3", bad).is_err(), "{bad}");
        }
        assert!(!satisfies("1.2", "*").unwrap());
        assert!(!satisfies("01.2.3", "*").unwrap());
    }

    proptest! {
        #[test]
        fn never_panics(v in "[v0-9.a-z+-]{0,20}", r in "[ <>=~^|0-9.xX*a-z,-]{0,40}") {
            let _ = satisfies(&v, &r);
            let _ = parse_version(&v);
        }
    }
}
