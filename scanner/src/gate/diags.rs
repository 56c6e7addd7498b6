//! What the gate reports besides pass/fail: suppressions and expired ignore entries.

use std::fmt;

/// A gate diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnostic {
    /// An ignore entry is past its expiry date: it no longer suppresses.
    ExpiredIgnore {
        /// Vulnerability id.
        id: String,
        /// Its reason.
        reason: String,
        /// The expiry date.
        expired: String,
    },
    /// An ignore entry matched nothing.
    UnusedIgnore {
        /// Vulnerability id.
        id: String,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::ExpiredIgnore {
                id,
                reason,
                expired,
            } => {
                write!(f, "ignore entry for {id} expired on {expired} and no longer suppresses it (reason was: {reason})")
            }
            Diagnostic::UnusedIgnore { id } => {
                write!(f, "ignore entry for {id} matched no finding")
            }
        }
    }
}
