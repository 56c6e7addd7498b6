/// Errors from the certificate authority.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The CA has no issuers yet.
    #[error("the CA is not initialized: run `palisade ca init`")]
    NotInitialized,
    /// `init` on a CA that already has issuers.
    #[error("the CA is already initialized (use rotation to replace its certificates)")]
    AlreadyInitialized,
    /// A SPIFFE ID is malformed or outside the trust domain.
    #[error("invalid SPIFFE ID `{id}`: {reason}")]
    InvalidSpiffeId {
        /// The ID as given (truncated).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The request (CSR, SANs, TTL) is not acceptable.
    #[error("bad certificate request: {0}")]
    BadRequest(String),
    /// Authentication failed (bad, expired or used join token; no client certificate).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The policy does not allow this caller this SPIFFE ID.
    #[error("not authorized: {0}")]
    Forbidden(String),
    /// No certificate with this serial.
    #[error("no certificate with serial {0}")]
    UnknownSerial(String),
    /// Key generation, signing or encoding failed.
    #[error("certificate operation failed: {0}")]
    Crypto(String),
    /// The ledger could not be written or read: nothing was handed out.
    #[error("certificate ledger: {0}")]
    Ledger(#[from] palisade_store::StoreError),
    /// A ledger write failed: the certificate was not handed out.
    #[error("certificate ledger write failed (nothing was issued): {0}")]
    LedgerWrite(String),
    /// The CA server could not be reached or refused a renewal (retryable).
    #[error("CA server: {0}")]
    Unavailable(String),
    /// A certificate expired before it could be renewed.
    #[error("certificate expired: {0}")]
    Expired(String),
    /// The key-encryption key or the secrets backend failed.
    #[error("CA key protection: {0}")]
    Secrets(#[from] palisade_secrets::SecretsError),
}

impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError::Crypto(e.to_string())
    }
}
