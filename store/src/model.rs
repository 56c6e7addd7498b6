use serde::{Deserialize, Serialize};

/// One record of the hash-chained decision log as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedRecord {
    /// Position in the chain, starting at 1, without gaps.
    pub seq: i64,
    /// When the decision was made (RFC 3339, UTC).
    pub time: String,
    /// The record itself: canonical JSON, exactly the bytes that were hashed.
    pub record: String,
    /// Hash of the previous record (or checkpoint), hex.
    pub prev_hash: String,
    /// `sha256(prev_hash || "\n" || record)`, hex.
    pub hash: String,
}

/// The end of the chain: where the next record attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the last record.
    pub seq: i64,
    /// Hash of the last record.
    pub hash: String,
}

/// A signed statement of the chain's state where retention cut it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the last pruned record.
    pub seq: i64,
    /// Hash of the last pruned record: the next record's `prev_hash`.
    pub hash: String,
    /// When the cut was made (RFC 3339).
    pub created_at: String,
    /// Which signing key signed it.
    pub key_id: String,
    /// Signature over `seq`, `hash` and `created_at`, hex.
    pub signature: String,
}

/// A policy version as recorded in the store's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionRecord {
    /// Content hash of the bundle.
    pub etag: String,
    /// What caused it: `directory`, `admin-api`, `sighup`, ...
    pub source: String,
    /// When it was activated (RFC 3339).
    pub created_at: String,
    /// The bundle (policies, schema, entities) as JSON.
    pub bundle: String,
}

/// A generated compliance report as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The framework assessed (`soc2`, `hipaa`, `gdpr` or a custom id).
    pub framework: String,
    /// When the report was generated (RFC 3339).
    pub generated_at: String,
    /// SHA-256 of `report`, hex.
    pub digest: String,
    /// The report's JSON export.
    pub report: String,
}
