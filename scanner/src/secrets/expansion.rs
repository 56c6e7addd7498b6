//! Parameter expansions in values: `${NAME}`, `${NAME:-default}`, `$(command)`, `$NAME`, as shells, Docker
//! Compose, Kubernetes, Terraform and CI systems write them.
//!
//! An expansion is a reference, resolved where the file is used, not a secret; but the literal default it falls
//! back to (`${DB_PASSWORD:-hunter2}`) ships with the file like any other value. Secret rules with a `name` group
//! read `NAME: value` and `NAME=value` as assignments, and inside an expansion the same characters are operators:
//! in `postgres://app:${DB_PASSWORD:-dev}@db/app` the `:` after `DB_PASSWORD` starts the `:-` operator. So before
//! any filter runs, the engine resolves each match to the literal it stands for ([`literal`]):
//!
//! - a name that is the parameter of an expansion (`${NAME:-word}`, `${NAME=word}`) stands for the expansion's
//!   default `word`; any other operator (`:?` error message, `:+` alternative, `#`/`%`/`/` patterns, substrings)
//!   and a plain `${NAME}` stand for nothing;
//! - a value that is an expansion stands for its default in the same way; `$(command)`, `$((arithmetic))`,
//!   `$NAME`, `${{ expression }}` (GitHub Actions) and Terraform's `${var.x}` stand for nothing; `$$` is Compose's
//!   escaped `$`;
//! - a default is resolved again (`${A:-${B:-word}}`), at most [`MAX_DEPTH`] deep.
//!
//! Bounded: an expansion is read up to [`MAX_EXPANSION`] bytes and never past the end of its line; an unclosed or
//! longer one stands for nothing (it is not a literal either).

use std::ops::Range;

/// Longest expansion read, in bytes.
const MAX_EXPANSION: usize = 1024;
/// Deepest nesting of defaults followed.
const MAX_DEPTH: usize = 4;

/// The literal a rule's match stands for, as a range of `bytes`: the matched `value` itself, the default of the
/// parameter expansion it is part of, or `None` when it is only a reference. `name` is the match's `name` group.
pub(crate) fn literal(
    bytes: &[u8],
    name: Option<Range<usize>>,
    value: Range<usize>,
) -> Option<Range<usize>> {
    if let Some(open) = name.and_then(|n| opening_before(bytes, n.start)) {
        return default_of(bytes, open, 0);
    }
    resolve(bytes, value, 0)
}

/// Where the expansion whose parameter starts at `at` opens (`${NAME`, `${#NAME`, `${!NAME`).
fn opening_before(bytes: &[u8], at: usize) -> Option<usize> {
    let before = &bytes[..at];
    if before.ends_with(b"${") {
        Some(at - 2)
    } else if before.ends_with(b"${#") || before.ends_with(b"${!") {
        Some(at - 3)
    } else {
        None
    }
}

fn resolve(bytes: &[u8], value: Range<usize>, depth: usize) -> Option<Range<usize>> {
    match &bytes[value.clone()] {
        [b'$', b'{', b'{', ..] => None,
        [b'$', b'{', ..] => default_of(bytes, value.start, depth),
        [b'$', b'$', _, ..] if depth <= MAX_DEPTH => {
            resolve(bytes, value.start + 1..value.end, depth + 1)
        }
        [b'$', c, ..] if *c == b'(' || *c == b'_' || c.is_ascii_alphabetic() => None,
        _ => Some(value),
    }
}

/// The default word of the expansion opening at `open` (`${`), resolved in turn.
fn default_of(bytes: &[u8], open: usize, depth: usize) -> Option<Range<usize>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let base = open + 2;
    let s = bytes.get(base..bytes.len().min(open + MAX_EXPANSION))?;
    let mut i = usize::from(matches!(s.first(), Some(b'#' | b'!')));
    let name = s[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if name == 0 {
        return None;
    }
    i += name;
    i += match &s[i..] {
        [b':', b'-' | b'=', ..] => 2,
        [b'-' | b'=', ..] => 1,
        _ => return None,
    };
    let start = i;
    let mut nested = 0usize;
    loop {
        match s.get(i)? {
            b'\n' => return None,
            b'$' if s.get(i + 1) == Some(&b'{') => {
                nested += 1;
                i += 1;
            }
            b'}' if nested == 0 => break,
            b'}' => nested -= 1,
            _ => {}
        }
        i += 1;
    }
    let mut word = base + start..base + i;
    if let [q @ (b'"' | b'\''), .., last] = &bytes[word.clone()] {
        if q == last {
            word = word.start + 1..word.end - 1;
        }
    }
    if word.is_empty() {
        return None;
    }
    resolve(bytes, word, depth + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal of the value starting at `at` in `s` (to the end).
    fn lit_of_value(s: &str, at: &str) -> Option<String> {
        let start = s.find(at).unwrap();
        literal(s.as_bytes(), None, start..s.len()).map(|r| s[r].to_string())
    }

    /// The literal of a match whose name is `name` and whose value is the rest of `s`.
    fn lit_of_name(s: &str, name: &str) -> Option<String> {
        let start = s.find(name).unwrap();
        let n = start..start + name.len();
        literal(s.as_bytes(), Some(n.clone()), n.end..s.len()).map(|r| s[r].to_string())
    }

    #[test]
    fn values_resolve_to_their_literal_or_nothing() {
        let v = |s: &str| lit_of_value(s, "$");
        assert_eq!(v("x=${A}"), None);
        assert_eq!(v("x=${A:-dev}"), Some("dev".into()));
        assert_eq!(v("x=${A-dev}"), Some("dev".into()));
        assert_eq!(v("x=${A:=dev}"), Some("dev".into()));
        assert_eq!(v("x=${A=\"d v\"}"), Some("d v".into()));
        assert_eq!(v("x=${A:?must be set}"), None);
        assert_eq!(v("x=${A:+alt}"), None);
        assert_eq!(v("x=${A:0:8}"), None);
        assert_eq!(v("x=${A#prefix}"), None);
        assert_eq!(v("x=${var.db_password}"), None);
        assert_eq!(v("x=${{ secrets.DB }}"), None);
        assert_eq!(v("x=$(cat f)"), None);
        assert_eq!(v("x=$((1+2))"), None);
        assert_eq!(v("x=$DB"), None);
        assert_eq!(v("x=$${DB}"), None);
        assert_eq!(v("x=${A:-${B:-inner}}"), Some("inner".into()));
        assert_eq!(v("x=${A:-${B}}"), None);
        assert_eq!(v("x=${A:-$(cat f)}"), None);
        assert_eq!(v("x=${A:-}"), None);
        assert_eq!(v("x=${A:-unclosed"), None);
        assert_eq!(v("x=${A:-split\n}"), None);
        assert_eq!(v("x=$5ecret"), Some("$5ecret".into()));
        assert_eq!(v("x=$"), Some("$".into()));
    }

    #[test]
    fn a_name_inside_an_expansion_is_its_parameter() {
        let s = "postgres://app:${DB_PASSWORD:-dev}@db/app";
        assert_eq!(lit_of_name(s, "DB_PASSWORD"), Some("dev".into()));
        let s = "redis://:${REDIS_PASSWORD:?required}@cache";
        assert_eq!(lit_of_name(s, "REDIS_PASSWORD"), None);
        let s = "${#DB_PASSWORD:-x}";
        assert_eq!(lit_of_name(s, "DB_PASSWORD"), Some("x".into()));
        let s = "DB_PASSWORD: hunter2hunter2";
        assert_eq!(
            lit_of_name(s, "DB_PASSWORD"),
            Some(": hunter2hunter2".into())
        );
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let mut deep = String::from("x=");
        for _ in 0..10 {
            deep.push_str("${A:-");
        }
        deep.push_str("word");
        deep.push_str(&"}".repeat(10));
        assert_eq!(lit_of_value(&deep, "$"), None);
        let long = format!("x=${{A:-{}}}", "w".repeat(2 * MAX_EXPANSION));
        assert_eq!(lit_of_value(&long, "$"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_in_bounds(s in proptest::collection::vec(
            proptest::sample::select(b"${}()-:=?+#!\"'$AB_ 9\n.".to_vec()), 0..64), at in 0usize..64) {
            let at = at.min(s.len());
            if let Some(r) = literal(&s, None, at..s.len()) {
                proptest::prop_assert!(r.start <= r.end && r.end <= s.len());
            }
            if let Some(r) = literal(&s, Some(at..at), at..s.len()) {
                proptest::prop_assert!(r.start <= r.end && r.end <= s.len());
            }
        }
    }
}
