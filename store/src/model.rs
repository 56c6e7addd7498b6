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

/// One change made to a secret through Palisade: its metadata, never its
/// value (which stays in the secrets backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEvent {
    /// The backend's description (`local:PATH`, `openbao+http://...`; no
    /// credentials).
    pub backend: String,
    /// The secret's name.
    pub name: String,
    /// The version written; `None` for a deletion.
    pub version: Option<String>,
    /// `put` or `delete`.
    pub operation: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who made the change (the operating-system user of the CLI, or the
    /// admin principal of an API call).
    pub actor: String,
}

/// What the store knows of one secret: its latest version and change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMetadata {
    /// The secret's name.
    pub name: String,
    /// The latest version written (the one before a deletion, if deleted).
    pub latest_version: Option<String>,
    /// How many versions were written through Palisade.
    pub versions: u64,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: String,
    /// Whether the last change deleted it.
    pub deleted: bool,
}

/// The query behind `Store::secret_metadata`, for a backend whose first bind
/// parameter is written `p1` (`?` in SQLite, `$1` in PostgreSQL): one row per
/// name, from its latest event, with the count and the latest of its puts.
pub(crate) fn secret_metadata_sql(p1: &str) -> String {
    format!(
        "SELECT e.name, e.operation, e.at, e.actor, \
           (SELECT COUNT(*) FROM secret_events p \
             WHERE p.backend = e.backend AND p.name = e.name AND p.operation = 'put') AS versions, \
           (SELECT p.version FROM secret_events p \
             WHERE p.backend = e.backend AND p.name = e.name AND p.operation = 'put' \
             ORDER BY p.id DESC LIMIT 1) AS latest_version \
         FROM secret_events e \
         WHERE e.backend = {p1} AND e.id = \
           (SELECT MAX(m.id) FROM secret_events m WHERE m.backend = e.backend AND m.name = e.name) \
         ORDER BY e.name"
    )
}

/// A row of [`secret_metadata_sql`].
pub(crate) fn secret_metadata_from_row<R>(row: &R) -> Result<SecretMetadata, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let operation: String = row.try_get("operation")?;
    Ok(SecretMetadata {
        name: row.try_get("name")?,
        latest_version: row.try_get("latest_version")?,
        versions: u64::try_from(row.try_get::<i64, _>("versions")?).unwrap_or(0),
        updated_at: row.try_get("at")?,
        updated_by: row.try_get("actor")?,
        deleted: operation == "delete",
    })
}

/// A signed scan record as kept in the store (`palisade gate --record`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecordRow {
    /// What was scanned.
    pub target: String,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
    /// SHA-256 of `record`, hex.
    pub digest: String,
    /// The signed record, JSON.
    pub record: String,
}

impl ScanRecordRow {
    /// A `scan_records` row (`id`, `target`, `recorded_at`, `digest`,
    /// `record`) of either backend, with its id.
    pub(crate) fn from_row<R: sqlx::Row>(row: &R) -> Result<(i64, Self), sqlx::Error>
    where
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        &'static str: sqlx::ColumnIndex<R>,
    {
        Ok((
            row.try_get("id")?,
            ScanRecordRow {
                target: row.try_get("target")?,
                recorded_at: row.try_get("recorded_at")?,
                digest: row.try_get("digest")?,
                record: row.try_get("record")?,
            },
        ))
    }
}
