//! RPM version comparison (`rpmvercmp` over epoch, version and release), as rpm 4.18 does it.

use std::cmp::Ordering;

use super::VersionError;

/// rpm's `rpmvercmp` on one field.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let ca = a.get(i).copied();
        let cb = b.get(j).copied();
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        let (si, sj) = (i, j);
        let isnum = a[i].is_ascii_digit();
        if isnum {
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        } else {
            while i < a.len() && a[i].is_ascii_alphabetic() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
        }
        let mut x = &a[si..i];
        let mut y = &b[sj..j];
        if y.is_empty() {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if isnum {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// Splits `[epoch:]version[-release]`.
fn split(s: &str) -> Result<(u64, &str, &str), VersionError> {
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
    Ok(match rest.rfind('-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, ""),
    })
}

/// Compares two `[epoch:]version[-release]` strings as `rpm.vercmp` (and Trivy's go-rpm-version) do: epoch,
/// then version, then release (a missing release sorts first).
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let (ea, va, ra) = split(a)?;
    let (eb, vb, rb) = split(b)?;
    Ok(ea
        .cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| rpmvercmp(ra, rb)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        use Ordering::*;
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0a", "1.0", Greater),
            ("1:1.0-1.el7", "1.1-1.el7", Greater),
            ("1.0.2k-19.el7", "1.0.2k-8.el7", Greater),
        ] {
            assert_eq!(compare(a, b).unwrap(), o, "{a} vs {b}");
        }
    }
}
