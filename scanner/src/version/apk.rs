//! Alpine (apk) version comparison: `digits{.digits}[letter]{_suffix[N]}[-rN]`.

use std::cmp::Ordering;

use super::VersionError;

#[derive(Debug, PartialEq, Eq)]
struct ApkVersion {
    numbers: Vec<u64>,
    letter: Option<u8>,
    suffixes: Vec<(i32, u64)>,
    revision: u64,
}

fn suffix_rank(s: &str) -> Option<i32> {
    Some(match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => return None,
    })
}

fn num(s: &str, full: &str) -> Result<u64, VersionError> {
    if s.is_empty() {
        return Ok(0);
    }
    s.parse::<u64>()
        .map_err(|_| VersionError::new(full, "number out of range"))
}

fn parse(full: &str) -> Result<ApkVersion, VersionError> {
    let s = full.trim();
    let (body, revision) = match s.rsplit_once("-r") {
        Some((b, r)) if !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit()) => {
            (b, num(r, full)?)
        }
        _ => (s, 0),
    };
    let mut parts = body.split('_');
    let head = parts.next().unwrap_or_default();
    let (digits, letter) = match head.bytes().last() {
        Some(c) if c.is_ascii_lowercase() => (&head[..head.len() - 1], Some(c)),
        _ => (head, None),
    };
    if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(VersionError::new(full, "apk versions start with a digit"));
    }
    let mut numbers = Vec::new();
    for n in digits.split('.') {
        if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
            return Err(VersionError::new(full, "bad version number"));
        }
        numbers.push(num(n, full)?);
    }
    let mut suffixes = Vec::new();
    for p in parts {
        let split = p.find(|c: char| c.is_ascii_digit()).unwrap_or(p.len());
        let rank =
            suffix_rank(&p[..split]).ok_or_else(|| VersionError::new(full, "unknown suffix"))?;
        suffixes.push((rank, num(&p[split..], full)?));
    }
    Ok(ApkVersion {
        numbers,
        letter,
        suffixes,
        revision,
    })
}

/// Compares two apk versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    for i in 0..a.numbers.len().max(b.numbers.len()) {
        match (a.numbers.get(i), b.numbers.get(i)) {
            (Some(x), Some(y)) => match x.cmp(y) {
                Ordering::Equal => {}
                o => return Ok(o),
            },
            (Some(_), None) => return Ok(Ordering::Greater),
            (None, Some(_)) => return Ok(Ordering::Less),
            (None, None) => {}
        }
    }
    match a.letter.cmp(&b.letter) {
        Ordering::Equal => {}
        o => return Ok(o),
    }
    for i in 0..a.suffixes.len().max(b.suffixes.len()) {
        let x = a.suffixes.get(i).copied().unwrap_or((0, 0));
        let y = b.suffixes.get(i).copied().unwrap_or((0, 0));
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return Ok(o),
        }
    }
    Ok(a.revision.cmp(&b.revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        use Ordering::*;
        for (a, b, o) in [
            ("1.1.1d-r0", "1.1.1d-r2", Less),
            ("1.1.20-r4", "1.1.20-r5", Less),
            ("1.2.3", "1.2.3_rc1", Greater),
            ("1.2.3_p1", "1.2.3", Greater),
            ("1.2", "1.2.1", Less),
            ("2.35.2-r0", "2.35.10-r0", Less),
            ("1.0a", "1.0b", Less),
        ] {
            assert_eq!(compare(a, b).unwrap(), o, "{a} vs {b}");
        }
    }
}
