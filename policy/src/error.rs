use std::path::Path;

use crate::diagnostic::Diagnostic;

/// Errors from loading, validating and serving policies.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("cannot read `{path}`: {message}")]
    Io {
        /// The path that failed.
        path: String,
        /// Why.
        message: String,
    },
    /// A file or bundle exceeds a size bound.
    #[error("`{path}` exceeds the {limit}-byte limit")]
    TooLarge {
        /// The file that crossed the bound.
        path: String,
        /// The bound, in bytes.
        limit: u64,
    },
    /// The bundle has errors: nothing was loaded.
    #[error("policy bundle rejected with {} error(s):\n{}", .0.len(), render(.0))]
    Invalid(Vec<Diagnostic>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    /// An update named a version that is no longer the one served.
    #[error("policy version conflict: If-Match is `{expected}` but `{current}` is being served")]
    Conflict {
        /// The etag the client expected.
        expected: String,
        /// The etag being served.
        current: String,
    },
    /// A key or configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl PolicyError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The diagnostics of an invalid bundle, if that is what this is.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid(d) => d,
            _ => &[],
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}
