use crate::catalog::Diagnostic;

/// Errors of the compliance crate.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    /// Data files (catalogues, registry, attestations, waivers) are invalid;
    /// every problem with its file and line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Load(Vec<Diagnostic>),
    /// A JSON document could not be written or read.
    #[error("JSON: {0}")]
    Json(String),
    /// The store failed while collecting evidence.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
    /// What was asked cannot be done: an unknown framework or format, a
    /// posted body that is not a scan summary.
    #[error("{0}")]
    Usage(String),
}

impl ComplianceError {
    pub(crate) fn json(e: serde_json::Error) -> Self {
        ComplianceError::Json(e.to_string())
    }
}
