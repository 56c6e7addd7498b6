//! SPIFFE IDs (SPIFFE-ID specification, section 2).

use std::fmt;

use crate::CaError;

/// Longest SPIFFE ID accepted, in bytes (the specification's limit).
pub const MAX_SPIFFE_ID_LEN: usize = 2048;

/// A validated SPIFFE ID: `spiffe://TRUST-DOMAIN[/PATH]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    id: String,
    td_len: usize,
}

fn invalid(id: &str, reason: impl Into<String>) -> CaError {
    CaError::InvalidSpiffeId {
        id: id.chars().take(128).collect(),
        reason: reason.into(),
    }
}

impl SpiffeId {
    /// Parses and validates `s`: lowercase `spiffe` scheme, a trust domain
    /// of `[a-z0-9._-]`, path segments of `[A-Za-z0-9._-]` that are not
    /// empty, `.` or `..`; no port, user info, query or fragment.
    pub fn parse(s: &str) -> Result<Self, CaError> {
        if s.len() > MAX_SPIFFE_ID_LEN {
            return Err(invalid(s, "longer than 2048 bytes"));
        }
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| invalid(s, "must start with spiffe://"))?;
        let (td, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if td.is_empty() {
            return Err(invalid(s, "empty trust domain"));
        }
        if !td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        {
            return Err(invalid(
                s,
                "trust domain may contain only lowercase letters, digits, `.`, `-` and `_`",
            ));
        }
        if !path.is_empty() {
            for seg in path[1..].split('/') {
                if seg.is_empty() {
                    return Err(invalid(s, "empty path segment or trailing `/`"));
                }
                if seg == "." || seg == ".." {
                    return Err(invalid(s, "`.` and `..` path segments are not allowed"));
                }
                if !seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
                {
                    return Err(invalid(
                        s,
                        "path may contain only letters, digits, `.`, `-`, `_` and `/`",
                    ));
                }
            }
        }
        Ok(Self {
            id: s.to_owned(),
            td_len: td.len(),
        })
    }

    /// The trust domain name (without the scheme).
    pub fn trust_domain(&self) -> &str {
        &self.id["spiffe://".len().."spiffe://".len() + self.td_len]
    }

    /// The path, `""` or starting with `/`.
    pub fn path(&self) -> &str {
        &self.id["spiffe://".len() + self.td_len..]
    }

    /// The whole ID.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// Checks that the ID belongs to `trust_domain` and names a workload
    /// (has a path).
    pub fn require_member_of(&self, trust_domain: &str) -> Result<(), CaError> {
        if self.trust_domain() != trust_domain {
            return Err(invalid(
                &self.id,
                format!("not in the CA's trust domain `{trust_domain}`"),
            ));
        }
        if self.path().is_empty() {
            return Err(invalid(&self.id, "a workload ID needs a path"));
        }
        Ok(())
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// Checks a trust domain name as configured (`example.org` or `spiffe://example.org`)
/// and returns it without the scheme.
pub fn parse_trust_domain(s: &str) -> Result<String, CaError> {
    let td = s
        .strip_prefix("spiffe://")
        .unwrap_or(s)
        .trim_end_matches('/');
    let id = SpiffeId::parse(&format!("spiffe://{td}"))?;
    if !id.path().is_empty() {
        return Err(invalid(s, "a trust domain has no path"));
    }
    Ok(id.trust_domain().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_and_invalid() {
        let id = SpiffeId::parse("spiffe://example.org/ns/prod/sa/web").unwrap();
        assert_eq!(id.trust_domain(), "example.org");
        assert_eq!(id.path(), "/ns/prod/sa/web");
        id.require_member_of("example.org").unwrap();
        assert!(id.require_member_of("other.org").is_err());
        for bad in [
            "http://example.org/a",
            "SPIFFE://example.org/a",
            "spiffe://",
            "spiffe:///a",
            "spiffe://Example.org/a",
            "spiffe://example.org:443/a",
            "spiffe://user@example.org/a",
            "spiffe://example.org/a/",
            "spiffe://example.org//a",
            "spiffe://example.org/./a",
            "spiffe://example.org/../a",
            "spiffe://example.org/a?x=1",
            "spiffe://example.org/a#f",
            "spiffe://example.org/a b",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
        assert!(SpiffeId::parse("spiffe://example.org")
            .unwrap()
            .require_member_of("example.org")
            .is_err());
        assert_eq!(
            parse_trust_domain("spiffe://example.org").unwrap(),
            "example.org"
        );
        assert!(parse_trust_domain("example.org/x").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(s in ".{0,300}") {
            if let Ok(id) = SpiffeId::parse(&s) {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert_eq!(format!("spiffe://{}{}", id.trust_domain(), id.path()), s);
            }
        }
    }
}
