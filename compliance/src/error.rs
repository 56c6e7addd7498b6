use std::path::{Path, PathBuf};

use crate::catalog::Diagnostic;

/// Errors of the compliance crate.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    /// Data files (catalogues, registry, attestations, waivers) are invalid;
    /// every problem with its file and line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Load(Vec<Diagnostic>),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document could not be written or read.
    #[error("JSON: {0}")]
    Json(String),
    /// The store failed while collecting evidence.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    /// An unknown framework or format was asked for.
    #[error("{0}")]
    Usage(String),
}

impl ComplianceError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ComplianceError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn json(e: serde_json::Error) -> Self {
        ComplianceError::Json(e.to_string())
    }
}
