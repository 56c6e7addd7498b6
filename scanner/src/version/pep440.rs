//! PEP 440 versions (Python), ordered as `packaging.version.Version` orders them.

use std::cmp::Ordering;

use super::VersionError;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    /// A dev release with no pre/post sorts before any pre-release.
    NegInf,
    Some(u8, u64),
    PosInf,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Str(String),
    Num(u64),
}

/// A parsed PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<LocalPart>,
}

impl Pep440 {
    /// The release segment (`1.2.3`).
    pub fn release(&self) -> &[u64] {
        &self.release
    }

    /// True for pre-releases and dev releases.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        u64,
        Vec<u64>,
        Pre,
        Option<u64>,
        (bool, u64),
        Option<&[LocalPart]>,
    ) {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Pre::NegInf,
            (None, _, _) => Pre::PosInf,
            (Some((l, n)), _, _) => Pre::Some(l, n),
        };
        // post: None sorts first; dev: None sorts last; local: None sorts first.
        let dev = (self.dev.is_none(), self.dev.unwrap_or(0));
        let local = (!self.local.is_empty()).then_some(&self.local[..]);
        (self.epoch, release, pre, self.post, dev, local)
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat_sep(&mut self) -> bool {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn number(&mut self) -> Option<Result<u64, ()>> {
        let st = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.i += 1;
        }
        if st == self.i {
            return None;
        }
        Some(
            std::str::from_utf8(&self.s[st..self.i])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(()),
        )
    }
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.i..];
        // longest match first
        let mut best: Option<(usize, usize)> = None;
        for (k, w) in words.iter().enumerate() {
            if rest.len() >= w.len()
                && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
                && best.is_none_or(|(_, l)| w.len() > l)
            {
                best = Some((k, w.len()));
            }
        }
        let (k, l) = best?;
        self.i += l;
        Some(k)
    }
}

/// Parses a PEP 440 version (normalising alternative spellings as `packaging` does).
pub fn parse(full: &str) -> Result<Pep440, VersionError> {
    let t = full.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    let bad = |why: &str| VersionError::new(full, why);
    let mut c = Cursor {
        s: t.as_bytes(),
        i: 0,
    };
    let first = c
        .number()
        .ok_or_else(|| bad("not a PEP 440 version"))?
        .map_err(|_| bad("number out of range"))?;
    let mut epoch = 0;
    let mut release = vec![];
    if c.peek() == Some(b'!') {
        c.i += 1;
        epoch = first;
        release.push(
            c.number()
                .ok_or_else(|| bad("missing release"))?
                .map_err(|_| bad("number out of range"))?,
        );
    } else {
        release.push(first);
    }
    while c.peek() == Some(b'.') && matches!(c.s.get(c.i + 1), Some(d) if d.is_ascii_digit()) {
        c.i += 1;
        release.push(
            c.number()
                .ok_or_else(|| bad("bad release"))?
                .map_err(|_| bad("number out of range"))?,
        );
        if release.len() > 32 {
            return Err(bad("too many release components"));
        }
    }
    let mut pre = None;
    let save = c.i;
    c.eat_sep();
    if let Some(k) = c.word(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]) {
        let letter = match k {
            0 | 1 => 0,
            2 | 3 => 1,
            _ => 2,
        };
        c.eat_sep();
        let n = match c.number() {
            Some(r) => r.map_err(|_| bad("number out of range"))?,
            None => 0,
        };
        pre = Some((letter, n));
    } else {
        c.i = save;
    }
    let mut post = None;
    let save = c.i;
    if c.peek() == Some(b'-') && matches!(c.s.get(c.i + 1), Some(d) if d.is_ascii_digit()) {
        c.i += 1;
        post = Some(
            c.number()
                .unwrap_or(Ok(0))
                .map_err(|_| bad("number out of range"))?,
        );
    } else {
        c.eat_sep();
        if c.word(&["post", "rev", "r"]).is_some() {
            c.eat_sep();
            post = Some(match c.number() {
                Some(r) => r.map_err(|_| bad("number out of range"))?,
                None => 0,
            });
        } else {
            c.i = save;
        }
    }
    let mut dev = None;
    let save = c.i;
    c.eat_sep();
    if c.word(&["dev"]).is_some() {
        c.eat_sep();
        dev = Some(match c.number() {
            Some(r) => r.map_err(|_| bad("number out of range"))?,
            None => 0,
        });
    } else {
        c.i = save;
    }
    let mut local = vec![];
    if c.peek() == Some(b'+') {
        c.i += 1;
        let rest = std::str::from_utf8(&c.s[c.i..]).map_err(|_| bad("bad local version"))?;
        for part in rest.split(['.', '-', '_']) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad("bad local version"));
            }
            local.push(if part.bytes().all(|b| b.is_ascii_digit()) {
                LocalPart::Num(part.parse().map_err(|_| bad("number out of range"))?)
            } else {
                LocalPart::Str(part.to_ascii_lowercase())
            });
        }
        c.i = c.s.len();
    }
    if c.i != c.s.len() {
        return Err(bad("trailing characters"));
    }
    Ok(Pep440 {
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    })
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
            ("1.0", "1.0.0", Equal),
            ("1.0.dev1", "1.0a1", Less),
            ("1.0a1", "1.0b1", Less),
            ("1.0rc1", "1.0", Less),
            ("1.0", "1.0.post1", Less),
            ("1.0.post1.dev1", "1.0.post1", Less),
            ("1.0+local", "1.0", Greater),
            ("1!0.1", "2.0", Greater),
            ("1.0-1", "1.0.post1", Equal),
            ("0.15.0", "0.15.3", Less),
        ] {
            assert_eq!(compare(a, b).unwrap(), o, "{a} vs {b}");
        }
    }
}
