use std::fmt;

use zeroize::Zeroizing;

use crate::SecretsError;

/// Longest accepted secret name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Largest accepted secret value, in bytes (AWS Secrets Manager's own limit).
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// A secret value: zeroed on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes. Call sites that use this are the ones to review.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for SecretValue {
    fn from(b: &[u8]) -> Self {
        Self::new(b.to_vec())
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue([REDACTED; {} bytes])", self.0.len())
    }
}

/// One version of a secret as read from a store.
#[derive(Debug, Clone)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// The backend's version identifier (`"1"`, `"2"`, ... for the local
    /// store and OpenBao; a version id for AWS Secrets Manager).
    pub version: String,
    /// The value.
    pub value: SecretValue,
}

/// Checks a secret name: 1..=256 bytes of `[A-Za-z0-9._/-]`, no empty,
/// `.` or `..` segment, no leading or trailing `/`. The same names work on
/// every backend.
pub fn validate_name(name: &str) -> Result<(), SecretsError> {
    let bad = |reason| {
        Err(SecretsError::InvalidName {
            name: name.chars().take(MAX_NAME_LEN).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 256 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
    {
        return bad("only letters, digits and . _ / - are allowed");
    }
    if name
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("empty, `.` or `..` path segment");
    }
    Ok(())
}

pub(crate) fn check_value(value: &SecretValue) -> Result<(), SecretsError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(SecretsError::ValueTooLarge { len: value.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "ca/intermediate-1.key", "A_b.c-d/e"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            ".",
            "a b",
            "é",
            &"x".repeat(257),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_redacts() {
        let v = SecretValue::from("hunter2");
        assert_eq!(format!("{v:?}"), "SecretValue([REDACTED; 7 bytes])");
    }
}
