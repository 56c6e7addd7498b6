//! Palisade's storage layer.
//!
//! Everything Palisade persists goes through one trait, [`Store`], so that the
//! embedded default ([`SqliteStore`], a single file in the data directory) and a
//! shared server database can be swapped without touching callers. The trait is
//! written in domain terms (decision log records, checkpoints, policy versions),
//! never in SQL, and every method that writes more than one row is atomic: a
//! crash mid-write leaves either all of it or none of it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), palisade_store::StoreError> {
//! use palisade_store::{open, Store};
//! let store = open("sqlite://data/palisade.db").await?;
//! let head = store.chain_head().await?;
//! println!("decision log head: {head:?}");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod coordination;
mod error;
mod ledger;
mod ledger_batch;
mod model;
mod postgres;
mod snapshot;
mod sqlite;

use std::sync::Arc;

pub use coordination::{SingletonGuard, StoreEvent};
pub use error::StoreError;
pub use ledger::{
    CertCompletion, CertFilter, CertLedger, CertRecord, CrlNumberRecord, IssuerRecord,
    JoinTokenRecord, SqliteLedger,
};
pub use model::{
    ChainHead, ChainedRecord, Checkpoint, PolicyVersionRecord, ReportRecord, ScanRecordRow,
    SecretEvent, SecretMetadata,
};
pub use postgres::PostgresStore;
pub use snapshot::{check_sqlite, snapshot_sqlite, sqlite_path};
pub use sqlite::SqliteStore;

/// The storage interface shared by every Palisade component.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends decision log records in one transaction. Records must continue
    /// the chain: their `seq` values follow the current head without gaps.
    async fn append_decisions(&self, records: &[ChainedRecord]) -> Result<(), StoreError>;

    /// The last record of the decision log, or the latest checkpoint when
    /// retention pruned every record, or `None` for an empty log.
    async fn chain_head(&self) -> Result<Option<ChainHead>, StoreError>;

    /// Up to `limit` records with `seq > after_seq`, in order.
    async fn decisions_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedRecord>, StoreError>;

    /// The sequence number and hash of the last record written before `time`
    /// (an RFC 3339 timestamp), if any.
    async fn last_decision_before(&self, time: &str) -> Result<Option<ChainHead>, StoreError>;

    /// Deletes every record with `seq <= checkpoint.seq` and stores the
    /// checkpoint, atomically. Returns the number of records deleted.
    async fn prune_decisions(&self, checkpoint: &Checkpoint) -> Result<u64, StoreError>;

    /// The most recent retention checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// Records a newly activated policy version and returns its row id.
    async fn record_policy_version(&self, version: &PolicyVersionRecord)
        -> Result<i64, StoreError>;

    /// The most recent policy versions, newest first.
    async fn policy_versions(&self, limit: u32) -> Result<Vec<PolicyVersionRecord>, StoreError>;

    /// Keeps a generated compliance report in the history and returns its
    /// id; ids grow in the order reports are kept.
    async fn keep_report(&self, report: &ReportRecord) -> Result<i64, StoreError>;

    /// The last `limit` reports kept for `framework`, newest first.
    async fn reports(&self, framework: &str, limit: u32) -> Result<Vec<ReportRecord>, StoreError>;

    /// Records a change made to a secret (its metadata only).
    async fn record_secret_event(&self, event: &SecretEvent) -> Result<(), StoreError>;

    /// The metadata of every secret of `backend` changed through Palisade,
    /// by name.
    async fn secret_metadata(&self, backend: &str) -> Result<Vec<SecretMetadata>, StoreError>;

    /// Keeps a signed scan record and returns its id; ids grow in the order
    /// records are kept.
    async fn keep_scan_record(&self, record: &ScanRecordRow) -> Result<i64, StoreError>;

    /// The last `limit` scan records kept, with their ids, oldest first.
    async fn scan_records(&self, limit: u32) -> Result<Vec<(i64, ScanRecordRow)>, StoreError>;

    /// Whether several processes (replicas) may share this store.
    fn is_shared(&self) -> bool {
        false
    }

    /// Changes other replicas make to the same database, as they commit
    /// (policy versions, revocations); `None` when the backend has no other
    /// writers (SQLite). Events are hints: act on them by re-reading.
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        None
    }

    /// Takes the lock of the singleton job `job` (retention, ...) without
    /// waiting: `None` when another replica holds it. Always granted with a
    /// single process.
    async fn try_singleton(&self, job: &str) -> Result<Option<SingletonGuard>, StoreError> {
        let _ = job;
        Ok(Some(SingletonGuard::local()))
    }
}

/// Whether `url` names a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the store named by `url` and brings its schema up to date.
///
/// Supported: `sqlite://PATH` (created if missing), `sqlite::memory:`, and
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`) for
/// several replicas sharing one database.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if is_postgres(url) {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Opens the certificate ledger named by `url` (same URLs as [`open`]).
pub async fn open_ledger(url: &str) -> Result<Arc<dyn CertLedger>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteLedger::open(url).await?))
    } else if is_postgres(url) {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
