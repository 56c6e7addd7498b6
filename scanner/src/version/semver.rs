//! Semantic versions as npm, Cargo and Go use them, parsed leniently (`v` prefix, missing minor/patch = 0,
//! build metadata such as Go's `+incompatible` ignored).

use std::cmp::Ordering;

use super::VersionError;

/// A parsed semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    /// Major, minor, patch (and any further numeric components).
    pub release: Vec<u64>,
    /// Pre-release identifiers.
    pub pre: Vec<String>,
}

/// Parses a version.
pub fn parse(s: &str) -> Result<SemVer, VersionError> {
    let full = s;
    let s = s.trim().trim_start_matches(['v', 'V', '=']).trim();
    let s = s.split_once('+').map_or(s, |(a, _)| a);
    let (rel, pre) = match s.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (s, None),
    };
    if rel.is_empty() {
        return Err(VersionError::new(full, "empty version"));
    }
    let mut release = Vec::new();
    for (i, n) in rel.split('.').enumerate() {
        if i >= 8 {
            return Err(VersionError::new(full, "too many components"));
        }
        if matches!(n, "x" | "X" | "*") {
            break;
        }
        if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
            return Err(VersionError::new(full, "not a semantic version"));
        }
        release.push(
            n.parse::<u64>()
                .map_err(|_| VersionError::new(full, "number out of range"))?,
        );
    }
    while release.len() < 3 {
        release.push(0);
    }
    let pre = match pre {
        Some("") => return Err(VersionError::new(full, "empty pre-release")),
        Some(p) => p.split('.').map(str::to_string).collect(),
        None => Vec::new(),
    };
    Ok(SemVer { release, pre })
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    let an = !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit());
    let bn = !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit());
    match (an, bn) {
        (true, true) => {
            let a = a.trim_start_matches('0');
            let b = b.trim_start_matches('0');
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.release.len().max(other.release.len());
        for i in 0..n {
            let x = self.release.get(i).copied().unwrap_or(0);
            let y = other.release.get(i).copied().unwrap_or(0);
            match x.cmp(&y) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    match cmp_ident(a, b) {
                        Ordering::Equal => {}
                        o => return o,
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        }
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        use Ordering::*;
        for (a, b, o) in [
            ("1.0.0", "v1.0", Equal),
            ("1.0.0-alpha", "1.0.0-alpha.1", Less),
            ("1.0.0-alpha.beta", "1.0.0-beta", Less),
            ("1.0.0-beta.2", "1.0.0-beta.11", Less),
            ("1.0.0-rc.1", "1.0.0", Less),
            ("v2.7.0+incompatible", "v2.8.0", Less),
            ("4.17.21", "4.17.12", Greater),
        ] {
            assert_eq!(compare(a, b).unwrap(), o, "{a} vs {b}");
        }
    }
}
