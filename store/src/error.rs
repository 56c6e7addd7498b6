/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL names a backend this build does not have.
    #[error("unsupported store URL `{0}`: expected sqlite://PATH or postgres://HOST/DB")]
    UnsupportedUrl(String),
    /// The database could not be opened or created.
    #[error("cannot open store at `{url}`: {source}")]
    Open {
        /// The URL that was opened.
        url: String,
        /// The underlying driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A schema migration failed.
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A group commit of the SQLite ledger failed (nothing of it was written).
    #[error("ledger write failed: {0}")]
    LedgerWrite(String),
    /// An append did not continue the chain.
    #[error("decision log append out of order: expected seq {expected}, got {got}")]
    OutOfOrder {
        /// The sequence number the store expected next.
        expected: i64,
        /// The sequence number it was given.
        got: i64,
    },
    /// A database file failed its integrity check.
    #[error("database {path} is damaged: {reason}")]
    Corrupt {
        /// The file that was checked.
        path: String,
        /// What `PRAGMA integrity_check` reported (first lines).
        reason: String,
    },
}
