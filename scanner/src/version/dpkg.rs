//! Debian version comparison (`dpkg --compare-versions`): epoch, upstream version, revision; `~` sorts before
//! everything, letters before other characters.

use std::cmp::Ordering;

use super::VersionError;

/// A parsed Debian version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

/// Parses `[epoch:]upstream[-revision]`.
pub fn parse(s: &str) -> Result<DebVersion<'_>, VersionError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(VersionError::new(s, "empty version"));
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((e, r)) => (
            e.parse::<u64>()
                .map_err(|_| VersionError::new(s, "epoch is not a number"))?,
            r,
        ),
        None => (0, s),
    };
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err(VersionError::new(s, "empty upstream version"));
    }
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        // dpkg warns but still compares; Trivy's go-deb-version rejects. Accept, like dpkg.
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(VersionError::new(s, "whitespace in version"));
    }
    Ok(DebVersion {
        epoch,
        upstream,
        revision,
    })
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0i32;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Compares two Debian versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        use Ordering::*;
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0-1", "1.0-1+deb12u1", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0-0", Equal),
            ("1.01", "1.1", Equal),
        ] {
            assert_eq!(compare(a, b).unwrap(), o, "{a} vs {b}");
        }
    }
}
