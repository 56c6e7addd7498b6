//! Alpine (apk) version comparison with apk-tools' own semantics, so that results agree with `apk version -t`
//! and with Trivy (whose comparator follows apk-tools): a version is read as a stream of tokens
//! (`digits{.digits}[letter]{_suffix[N]}[-rN]`), leading zeros of a dotted component count against it
//! (`1.02 < 1.1`), pre-release suffixes (`_alpha`, `_beta`, `_pre`, `_rc`) sort before the bare version and
//! post-release ones (`_cvs`, `_svn`, `_git`, `_hg`, `_p`) after it. Checked against apk-tools' test vectors.

use std::cmp::Ordering;

use super::VersionError;

/// Token kinds, in apk-tools' order (the order matters: a version that stops earlier in it is greater).
mod kind {
    pub(super) const INVALID: i8 = -1;
    pub(super) const DIGIT_OR_ZERO: i8 = 0;
    pub(super) const DIGIT: i8 = 1;
    pub(super) const LETTER: i8 = 2;
    pub(super) const SUFFIX: i8 = 3;
    pub(super) const SUFFIX_NO: i8 = 4;
    pub(super) const REVISION_NO: i8 = 5;
    pub(super) const END: i8 = 6;
}
use kind::*;

const PRE_SUFFIXES: [&[u8]; 4] = [b"alpha", b"beta", b"pre", b"rc"];
const POST_SUFFIXES: [&[u8]; 5] = [b"cvs", b"svn", b"git", b"hg", b"p"];

/// Position in a version string and the kind of the token that starts there.
#[derive(Clone, Copy)]
struct Tokens<'a> {
    rest: &'a [u8],
    kind: i8,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens {
            rest: s.as_bytes(),
            kind: DIGIT,
        }
    }

    /// The value of the current token; moves on to the next one.
    fn value(&mut self) -> i128 {
        let s = self.rest;
        if s.is_empty() {
            self.kind = END;
            return 0;
        }
        let digits = |s: &[u8]| {
            let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let v = s[..n].iter().fold(0i128, |v, c| {
                v.saturating_mul(10).saturating_add(i128::from(c - b'0'))
            });
            (v, n)
        };
        let (value, used, then) = match self.kind {
            DIGIT_OR_ZERO if s[0] == b'0' => {
                // Leading zeros of a dotted component: worth minus their count, and what follows is read as a
                // number token, except a suffix, which starts right away (`6.0_pre1 < 6.0`, as apk-tools' current
                // vectors require; older ports, Trivy's among them, read an empty number first and get it
                // backwards).
                let n = s.iter().take_while(|c| **c == b'0').count();
                let then = (s.get(n) != Some(&b'_')).then_some(DIGIT);
                (-(n as i128), n, then)
            }
            DIGIT_OR_ZERO | DIGIT | SUFFIX_NO | REVISION_NO => {
                let (v, n) = digits(s);
                (v, n, None)
            }
            LETTER => (i128::from(s[0]), 1, None),
            SUFFIX => {
                let pre = PRE_SUFFIXES.iter().position(|p| s.starts_with(p));
                let post = POST_SUFFIXES.iter().position(|p| s.starts_with(p));
                match (pre, post) {
                    (Some(i), _) => (i as i128 - 4, PRE_SUFFIXES[i].len(), None),
                    (None, Some(i)) => (i as i128, POST_SUFFIXES[i].len(), None),
                    (None, None) => {
                        self.kind = INVALID;
                        return -1;
                    }
                }
            }
            _ => {
                self.kind = INVALID;
                return -1;
            }
        };
        self.rest = &s[used..];
        if self.rest.is_empty() {
            self.kind = END;
        } else if let Some(k) = then {
            self.kind = k;
        } else {
            self.advance_kind();
        }
        value
    }

    /// Reads the separator (if any) that decides the next token's kind.
    fn advance_kind(&mut self) {
        let cur = self.kind;
        let next = match self.rest.first().copied() {
            None | Some(0) => END,
            Some(c) if (cur == DIGIT || cur == DIGIT_OR_ZERO) && c.is_ascii_lowercase() => LETTER,
            Some(c) if cur == LETTER && c.is_ascii_digit() => DIGIT,
            Some(c) if cur == SUFFIX && c.is_ascii_digit() => SUFFIX_NO,
            Some(c) => {
                let k = match c {
                    b'.' => DIGIT_OR_ZERO,
                    b'_' => SUFFIX,
                    b'-' if self.rest.get(1) == Some(&b'r') => {
                        self.rest = &self.rest[1..];
                        REVISION_NO
                    }
                    _ => INVALID,
                };
                self.rest = &self.rest[1..];
                k
            }
        };
        let allowed_back = (next == DIGIT_OR_ZERO && cur == DIGIT)
            || (next == SUFFIX && cur == SUFFIX_NO)
            || (next == DIGIT && cur == LETTER);
        self.kind = if next < cur && !allowed_back {
            INVALID
        } else {
            next
        };
    }
}

/// True when apk-tools accepts `s` as a version.
pub fn is_valid(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut t = Tokens::new(s);
    while t.kind != END && t.kind != INVALID {
        t.value();
    }
    t.kind == END
}

/// apk-tools' comparison, which also orders versions it does not accept (as `apk version -t` does).
pub fn compare_lenient(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (Tokens::new(a), Tokens::new(b));
    let (mut av, mut bv) = (0, 0);
    while x.kind == y.kind && x.kind != END && x.kind != INVALID && av == bv {
        av = x.value();
        bv = y.value();
    }
    if av != bv {
        return av.cmp(&bv);
    }
    if x.kind == y.kind {
        return Ordering::Equal;
    }
    // Equal so far: the longer version is greater, unless what it goes on with is a pre-release suffix.
    if x.kind == SUFFIX && { x }.value() < 0 {
        return Ordering::Less;
    }
    if y.kind == SUFFIX && { y }.value() < 0 {
        return Ordering::Greater;
    }
    y.kind.cmp(&x.kind)
}

/// Compares two apk versions; a version apk-tools rejects is an error (Trivy skips such packages).
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    for v in [a, b] {
        if !is_valid(v) {
            return Err(VersionError::new(v, "not a valid apk version"));
        }
    }
    Ok(compare_lenient(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn total_and_antisymmetric(a in "[0-9a-z._-]{0,24}", b in "[0-9a-z._-]{0,24}") {
            let ab = compare_lenient(&a, &b);
            prop_assert_eq!(ab, compare_lenient(&b, &a).reverse());
            prop_assert_eq!(compare_lenient(&a, &a), Ordering::Equal);
            let _ = compare(&a, &b);
        }
    }

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
