//! Version comparison per ecosystem, and the version-constraint strings of the Trivy database
//! (`< 1.2.3`, `>= 2.1.3, < 3.0.0`, `^1.2 || ~2.0`, `==1.2.*`).

pub mod apk;
pub mod dpkg;
pub mod npm;
pub mod pep440;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;

/// A version string that the ecosystem's grammar rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {version:?}: {reason}")]
pub struct VersionError {
    /// The version as given.
    pub version: String,
    /// What is wrong with it.
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(version: &str, reason: &str) -> Self {
        VersionError {
            version: version.chars().take(128).collect(),
            reason: reason.to_string(),
        }
    }
}

/// Which ordering a version follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian / Ubuntu (`dpkg --compare-versions`).
    Dpkg,
    /// Alpine / Wolfi.
    Apk,
    /// Red Hat family.
    Rpm,
    /// Semantic versions (Cargo).
    Semver,
    /// npm: semantic versions with node-semver's ranges (hyphen ranges, x-ranges, the pre-release rule).
    Npm,
    /// Go modules (semver with `v`, `+incompatible` ignored).
    Go,
    /// Python (PEP 440).
    Pep440,
}

impl Scheme {
    /// Compares two versions.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Rpm => rpm::compare(a, b),
            Scheme::Semver | Scheme::Npm | Scheme::Go => semver::compare(a, b),
            Scheme::Pep440 => pep440::compare(a, b),
        }
    }

    /// True when `version` satisfies `constraint`: alternatives separated by `||`, each a conjunction of
    /// comparators separated by `,` or whitespace; a bare version means equality.
    pub fn satisfies(self, version: &str, constraint: &str) -> Result<bool, VersionError> {
        if constraint.len() > 4096 {
            return Err(VersionError::new(constraint, "constraint too long"));
        }
        if self == Scheme::Npm {
            return npm::satisfies(version, constraint);
        }
        for alt in constraint.split("||") {
            let comparators = parse_conjunction(alt)?;
            if comparators.is_empty() {
                continue;
            }
            let mut all = true;
            for (op, v) in comparators {
                if !self.check(version, op, v)? {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn check(self, version: &str, op: &str, bound: &str) -> Result<bool, VersionError> {
        // Wildcards: `1.2.*` / `1.2.x` with = or !=.
        let wildcard = bound
            .strip_suffix(".*")
            .or_else(|| bound.strip_suffix(".x"))
            .or_else(|| bound.strip_suffix(".X"));
        if let Some(prefix) = wildcard {
            let m = self.prefix_match(version, prefix)?;
            return Ok(match op {
                "!=" => !m,
                "" | "=" | "==" => m,
                ">=" => self.compare(version, prefix)? != Ordering::Less,
                "<" => self.compare(version, prefix)? == Ordering::Less,
                _ => m,
            });
        }
        if bound == "*" || bound.is_empty() {
            return Ok(true);
        }
        let c = self.compare(version, bound)?;
        Ok(match op {
            "" | "=" | "==" | "===" => c == Ordering::Equal,
            "!=" => c != Ordering::Equal,
            "<" => c == Ordering::Less,
            "<=" => c != Ordering::Greater,
            ">" => c == Ordering::Greater,
            ">=" => c != Ordering::Less,
            "~=" => {
                // PEP 440 compatible release: >= bound, == bound-without-last-component.*
                let parts: Vec<&str> = bound.split('.').collect();
                if parts.len() < 2 {
                    return Err(VersionError::new(bound, "~= needs at least two components"));
                }
                c != Ordering::Less
                    && self.prefix_match(version, &parts[..parts.len() - 1].join("."))?
            }
            "~" | "^" => {
                if c == Ordering::Less {
                    return Ok(false);
                }
                let sv = semver::parse(bound)?;
                let given = bound
                    .trim_start_matches(['v', '='])
                    .split(['-', '+'])
                    .next()
                    .unwrap_or_default()
                    .split('.')
                    .count();
                let r = &sv.release;
                let upper: Vec<u64> = if op == "~" {
                    if given >= 2 {
                        vec![r[0], r[1] + 1, 0]
                    } else {
                        vec![r[0] + 1, 0, 0]
                    }
                } else if r[0] > 0 || given == 1 {
                    vec![r[0] + 1, 0, 0]
                } else if r[1] > 0 || given == 2 {
                    vec![0, r[1] + 1, 0]
                } else {
                    vec![0, 0, r[2] + 1]
                };
                let upper = semver::SemVer {
                    release: upper,
                    pre: vec!["0".to_string()],
                };
                semver::parse(version)? < upper
            }
            _ => return Err(VersionError::new(op, "unknown comparison operator")),
        })
    }

    fn prefix_match(self, version: &str, prefix: &str) -> Result<bool, VersionError> {
        match self {
            Scheme::Pep440 => {
                let v = pep440::parse(version)?;
                let p = pep440::parse(prefix)?;
                let n = p.release().len();
                let mut rel = v.release().to_vec();
                rel.resize(rel.len().max(n), 0);
                Ok(rel[..n] == *p.release())
            }
            _ => {
                let v = semver::parse(version)?;
                let n = prefix.split('.').count();
                let p = semver::parse(prefix)?;
                Ok(v.release[..n.min(v.release.len())] == p.release[..n.min(p.release.len())])
            }
        }
    }
}

/// Splits `>= 1.0, < 2.0` or `>=1.0 <2.0` into (operator, version) pairs.
fn parse_conjunction(s: &str) -> Result<Vec<(&str, &str)>, VersionError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let op_start = i;
        while i < b.len() && matches!(b[i], b'<' | b'>' | b'=' | b'!' | b'~' | b'^') {
            i += 1;
        }
        let op = &s[op_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let v_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b',' {
            i += 1;
        }
        let v = &s[v_start..i];
        if v.is_empty() {
            return Err(VersionError::new(s, "operator without a version"));
        }
        if out.len() > 64 {
            return Err(VersionError::new(s, "too many comparators"));
        }
        out.push((op, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints() {
        let s = Scheme::Semver;
        assert!(s.satisfies("2.1.2", "< 2.1.3").unwrap());
        assert!(!s
            .satisfies("2.1.2", ">= 3.1.0 || >= 2.1.3, < 3.0.0")
            .unwrap());
        assert!(s
            .satisfies("2.1.4", ">= 3.1.0 || >= 2.1.3, < 3.0.0")
            .unwrap());
        assert!(s.satisfies("1.2.9", "^1.2.3").unwrap());
        assert!(!s.satisfies("2.0.0", "^1.2.3").unwrap());
        assert!(!s.satisfies("0.3.0", "^0.2.3").unwrap());
        assert!(s.satisfies("1.2.9", "~1.2.3").unwrap());
        assert!(!s.satisfies("1.3.0", "~1.2.3").unwrap());
        let p = Scheme::Pep440;
        assert!(p.satisfies("0.15.0", "< 0.15.3").unwrap());
        assert!(!p.satisfies("0.15.0", "0.15.3 || 0.11.6").unwrap());
        assert!(p.satisfies("1.4.5", "~=1.4.2").unwrap());
        assert!(!p.satisfies("1.5.0", "~=1.4.2").unwrap());
        assert!(p.satisfies("1.2.7", "==1.2.*").unwrap());
        let g = Scheme::Go;
        assert!(g.satisfies("v2.7.0+incompatible", "< v2.8.0").unwrap());
        assert!(g.satisfies("v0.14.0", ">= 0, < 0.3.7").is_ok());
    }
}
