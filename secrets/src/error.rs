/// Errors from the secrets layer. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The URL names no backend this build has, or is malformed.
    #[error("invalid secrets URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (it never holds credentials).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret name breaks the naming rules.
    #[error("invalid secret name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A value is larger than every backend accepts.
    #[error("secret value of {len} bytes is larger than the 64 KiB limit")]
    ValueTooLarge {
        /// Its size.
        len: usize,
    },
    /// No secret (or no such version) under that name.
    #[error("secret `{name}` not found{}", version.as_ref().map(|v| format!(" (version {v})")).unwrap_or_default())]
    NotFound {
        /// The name looked up.
        name: String,
        /// The version asked for, if one was.
        version: Option<String>,
    },
    /// The master key or key-encryption key does not open this data.
    #[error("wrong key: {0}")]
    WrongKey(String),
    /// The master key could not be found or is malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The local store file is damaged or not a Palisade secrets file.
    #[error("secrets file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Local file I/O failed.
    #[error("secrets file {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The remote backend could not be reached or refused the request.
    #[error("{backend} at {address}: {message}")]
    Backend {
        /// `openbao` or `aws-secrets-manager`.
        backend: &'static str,
        /// Where it was asked.
        address: String,
        /// What it said (no secret values).
        message: String,
    },
}

impl SecretsError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
