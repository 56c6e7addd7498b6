//! The certificate authority's durable state: issuers, the certificate
//! ledger, join tokens and CRL numbers.
//!
//! [`SqliteLedger`] opens its own connections with `synchronous = FULL`: a
//! committed transaction survives power loss, not only a process crash. Its
//! batch writes ([`CertLedger::write_batch`]) let the CA commit many
//! issuances with one fsync (group commit).

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::{Row, SqlitePool};

use crate::{SingletonGuard, StoreError, StoreEvent};

/// A CA certificate (root or intermediate) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRecord {
    /// SHA-256 of the certificate DER, hex.
    pub id: String,
    /// `root` or `intermediate`.
    pub kind: String,
    /// `active`, `retiring` (still in the trust bundle) or `retired`.
    pub status: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key sealed under the KEK (envelope JSON); `None` when
    /// kept offline.
    pub sealed_key: Option<String>,
    /// The issuer's issuer (`None` for a root).
    pub parent_id: Option<String>,
    /// RFC 3339.
    pub not_after: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A certificate's ledger entry, written before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Id of the issuing CA certificate.
    pub issuer_id: String,
    /// The SPIFFE ID (the URI SAN).
    pub spiffe_id: String,
    /// Other SANs (DNS names, IP addresses).
    pub sans: Vec<String>,
    /// SHA-256 of the SubjectPublicKeyInfo, hex.
    pub public_key_hash: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// Who asked (join token, mTLS SPIFFE ID, admin).
    pub requester: String,
    /// `reserved`, `issued` or `revoked`.
    pub status: String,
    /// The to-be-signed certificate, DER.
    pub tbs_der: Vec<u8>,
    /// The signed certificate, DER (after issuance).
    pub cert_der: Option<Vec<u8>>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// RFC 5280 reason name, when revoked.
    pub revocation_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A signed certificate to attach to its reserved entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertCompletion {
    /// The serial reserved before signing.
    pub serial: String,
    /// The signed certificate, DER.
    pub cert_der: Vec<u8>,
}

/// Filters for [`CertLedger::list_certs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertFilter {
    /// Only this SPIFFE ID.
    pub spiffe_id: Option<String>,
    /// Only these statuses (empty: any).
    pub statuses: Vec<String>,
    /// Only certificates whose `not_after` is before this (RFC 3339).
    pub expires_before: Option<String>,
    /// Only certificates whose `not_after` is after this (RFC 3339).
    pub expires_after: Option<String>,
    /// At most this many (newest first); 0 means 1000.
    pub limit: u32,
}

/// The newest CRL number signed for an issuer (see
/// [`CertLedger::latest_crls`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlNumberRecord {
    /// The issuer whose CRL it numbers.
    pub issuer_id: String,
    /// The CRL number.
    pub number: i64,
    /// RFC 3339: when it was taken (the CRL's thisUpdate).
    pub created_at: String,
}

/// A one-time join token as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The SPIFFE ID it may obtain.
    pub spiffe_id: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once burnt.
    pub used_at: Option<String>,
}

/// The CA's storage interface.
#[async_trait::async_trait]
pub trait CertLedger: Send + Sync + 'static {
    /// In one transaction (one fsync): inserts `reserve` entries (status
    /// `reserved`; a serial that exists is an error and nothing is written)
    /// and attaches `complete` certificates (status `issued`). Completing an
    /// entry again with the same certificate is a no-op (CA signatures are
    /// deterministic: a recovered certificate is the one first signed); an
    /// unknown serial or a different certificate fails the whole batch.
    async fn write_batch(
        &self,
        reserve: &[CertRecord],
        complete: &[CertCompletion],
    ) -> Result<(), StoreError>;

    /// One entry by serial.
    async fn cert(&self, serial: &str) -> Result<Option<CertRecord>, StoreError>;

    /// Every entry reserved and never completed (no certificate attached,
    /// whatever its status), oldest first: what a crash between a
    /// reservation and its completion leaves behind.
    async fn incomplete_certs(&self) -> Result<Vec<CertRecord>, StoreError>;

    /// Entries matching `filter`, newest first.
    async fn list_certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>, StoreError>;

    /// Marks a certificate revoked. Returns false if no such serial exists;
    /// revoking twice keeps the first time and reason.
    async fn revoke_cert(&self, serial: &str, reason: &str, at: &str) -> Result<bool, StoreError>;

    /// Entries of `issuer_id` that are revoked and not expired before
    /// `not_after_min` (for the CRL).
    async fn revoked_certs(
        &self,
        issuer_id: &str,
        not_after_min: &str,
    ) -> Result<Vec<CertRecord>, StoreError>;

    /// Stores or replaces an issuer.
    async fn put_issuer(&self, issuer: &IssuerRecord) -> Result<(), StoreError>;

    /// Every issuer, oldest first.
    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError>;

    /// Stores a join token.
    async fn put_join_token(&self, token: &JoinTokenRecord) -> Result<(), StoreError>;

    /// Burns the token with this hash if it exists, is unused and has not
    /// expired at `now`, atomically; returns it. A second call returns `None`.
    async fn burn_join_token(
        &self,
        token_hash: &str,
        now: &str,
    ) -> Result<Option<JoinTokenRecord>, StoreError>;

    /// A new, strictly increasing CRL number for `issuer_id`.
    async fn next_crl_number(&self, issuer_id: &str, now: &str) -> Result<i64, StoreError>;

    /// The newest CRL number of every issuer that has one, with the time it
    /// was taken; reads only (for evidence that must not change the CA).
    async fn latest_crls(&self) -> Result<Vec<CrlNumberRecord>, StoreError>;

    /// The trust bundle's sequence number for a bundle whose contents hash
    /// to `digest`, atomically: the stored number while the digest is the
    /// stored one; otherwise the stored number plus one (1 for the first
    /// bundle), stored with the new digest. It never decreases.
    async fn bundle_sequence(&self, digest: &str, now: &str) -> Result<u64, StoreError>;

    /// Revocations made by other replicas on the same database, as they
    /// commit; `None` when the backend has no other writers (SQLite).
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<StoreEvent>> {
        None
    }

    /// Waits for the lock of the singleton job `job` (CRL generation, ...):
    /// one replica at a time runs it. Immediate with a single process.
    async fn singleton(&self, job: &str) -> Result<SingletonGuard, StoreError> {
        let _ = job;
        Ok(SingletonGuard::local())
    }
}

/// Page cache of the ledger's writing connection, in KiB (filled only as
/// pages are read).
const LEDGER_CACHE_KIB: u32 = 64 * 1024;

/// The SQLite ledger (shares the database file with [`crate::SqliteStore`]).
///
/// Group commits ([`CertLedger::write_batch`]) go through one connection of
/// their own, on a thread of its own (see `ledger_batch.rs`). In WAL mode a
/// connection drops its page cache whenever another connection has committed
/// since its last transaction; with writes spread over a pool, each group
/// commit would read the pages it updates back from the file. Serials are
/// random, so each issuance lands on a random page of the serial index: that
/// connection keeps up to [`LEDGER_CACHE_KIB`] of pages instead of SQLite's
/// default 2 MB. The ledger's other writes (revocations, tokens, issuers),
/// and commits of [`crate::SqliteStore`] to the same file (the decision log),
/// still drop that cache.
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    /// Reads.
    pool: SqlitePool,
    /// Writes other than group commits: one connection (the same pool as
    /// `pool` for an in-memory database, which exists once per connection).
    writer: SqlitePool,
    /// Group commits of a database file; `None` in memory, where they go
    /// through `writer`.
    batches: Option<crate::ledger_batch::BatchWriter>,
}

impl SqliteLedger {
    /// Opens the database at `url` (`sqlite://PATH` or `sqlite::memory:`)
    /// with full fsync on commit, and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = crate::sqlite::open_pool(url, SqliteSynchronous::Full, 4, 2_000).await?;
        let Some(path) = crate::sqlite_path(url) else {
            return Ok(Self {
                writer: pool.clone(),
                pool,
                batches: None,
            });
        };
        let writer = crate::sqlite::open_pool(url, SqliteSynchronous::Full, 1, 2_000).await?;
        let batches = crate::ledger_batch::BatchWriter::open(&path, LEDGER_CACHE_KIB)?;
        Ok(Self {
            pool,
            writer,
            batches: Some(batches),
        })
    }
}

const CERT_COLUMNS: &str = "serial, issuer_id, spiffe_id, sans, public_key_hash, not_before, \
     not_after, requester, status, tbs_der, cert_der, revoked_at, revocation_reason, created_at";

/// Records one reservation. Single-row statements need no statement journal:
/// for a multi-row `INSERT` or an `UPDATE ... FROM`, SQLite first copies every
/// page the statement touches into a sub-journal, in case it fails half-way.
/// Group commits run it once per certificate (`ledger_batch.rs`).
pub(crate) const RESERVE_ONE: &str =
    "INSERT INTO ca_certificates (serial, issuer_id, spiffe_id, sans, \
     public_key_hash, not_before, not_after, requester, status, tbs_der, cert_der, created_at) \
     VALUES (?,?,?,?,?,?,?,?,'reserved',?,NULL,?);";

/// Records one signed certificate (binds: certificate, serial, certificate).
/// A serial that is unknown or completed with other bytes changes no row.
pub(crate) const COMPLETE_ONE: &str = "UPDATE ca_certificates SET cert_der = ?, \
     status = CASE status WHEN 'reserved' THEN 'issued' ELSE status END \
     WHERE serial = ? AND (cert_der IS NULL OR cert_der = ?);";

fn cert_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<CertRecord, StoreError> {
    let sans: String = row.try_get("sans")?;
    Ok(CertRecord {
        serial: row.try_get("serial")?,
        issuer_id: row.try_get("issuer_id")?,
        spiffe_id: row.try_get("spiffe_id")?,
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        public_key_hash: row.try_get("public_key_hash")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        requester: row.try_get("requester")?,
        status: row.try_get("status")?,
        tbs_der: row.try_get("tbs_der")?,
        cert_der: row.try_get("cert_der")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: row.try_get("revocation_reason")?,
        created_at: row.try_get("created_at")?,
    })
}

fn issuer_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<IssuerRecord, StoreError> {
    Ok(IssuerRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        status: row.try_get("status")?,
        cert_pem: row.try_get("cert_pem")?,
        sealed_key: row.try_get("sealed_key")?,
        parent_id: row.try_get("parent_id")?,
        not_after: row.try_get("not_after")?,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<JoinTokenRecord, StoreError> {
    Ok(JoinTokenRecord {
        token_hash: row.try_get("token_hash")?,
        spiffe_id: row.try_get("spiffe_id")?,
        expires_at: row.try_get("expires_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        used_at: row.try_get("used_at")?,
    })
}

#[async_trait::async_trait]
impl CertLedger for SqliteLedger {
    async fn write_batch(
        &self,
        reserve: &[CertRecord],
        complete: &[CertCompletion],
    ) -> Result<(), StoreError> {
        if reserve.is_empty() && complete.is_empty() {
            return Ok(());
        }
        if let Some(batches) = &self.batches {
            return batches.write(reserve, complete).await;
        }
        // In memory (documentation examples, tests): the same statements,
        // one at a time through sqlx; speed does not matter here.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for c in reserve {
            let sans = serde_json::to_string(&c.sans).unwrap_or_else(|_| "[]".into());
            sqlx::query(RESERVE_ONE)
                .bind(&c.serial)
                .bind(&c.issuer_id)
                .bind(&c.spiffe_id)
                .bind(sans)
                .bind(&c.public_key_hash)
                .bind(&c.not_before)
                .bind(&c.not_after)
                .bind(&c.requester)
                .bind(&c.tbs_der)
                .bind(&c.created_at)
                .execute(&mut *tx)
                .await?;
        }
        for c in complete {
            // A serial that is unknown or completed with other bytes changes
            // no row, and fails the whole batch.
            let changed = sqlx::query(COMPLETE_ONE)
                .bind(&c.cert_der)
                .bind(&c.serial)
                .bind(&c.cert_der)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(StoreError::Query(sqlx::Error::RowNotFound));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cert(&self, serial: &str) -> Result<Option<CertRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE serial = ?"
        ))
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    async fn incomplete_certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        // `issued` always carries its certificate: the status index narrows
        // the scan to reserved and revoked entries.
        let rows = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE status IN ('reserved', 'revoked') \
             AND cert_der IS NULL ORDER BY created_at, serial"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn list_certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>, StoreError> {
        let mut sql = format!("SELECT {CERT_COLUMNS} FROM ca_certificates WHERE 1=1");
        if filter.spiffe_id.is_some() {
            sql.push_str(" AND spiffe_id = ?");
        }
        if !filter.statuses.is_empty() {
            sql.push_str(" AND status IN (");
            sql.push_str(&vec!["?"; filter.statuses.len()].join(","));
            sql.push(')');
        }
        if filter.expires_before.is_some() {
            sql.push_str(" AND not_after < ?");
        }
        if filter.expires_after.is_some() {
            sql.push_str(" AND not_after > ?");
        }
        sql.push_str(" ORDER BY created_at DESC, serial LIMIT ?");
        let mut q = sqlx::query(&sql);
        if let Some(s) = &filter.spiffe_id {
            q = q.bind(s);
        }
        for s in &filter.statuses {
            q = q.bind(s);
        }
        if let Some(t) = &filter.expires_before {
            q = q.bind(t);
        }
        if let Some(t) = &filter.expires_after {
            q = q.bind(t);
        }
        let limit = if filter.limit == 0 {
            1000
        } else {
            filter.limit
        };
        q = q.bind(i64::from(limit));
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn revoke_cert(&self, serial: &str, reason: &str, at: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let exists = sqlx::query("SELECT 1 FROM ca_certificates WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            sqlx::query(
                "UPDATE ca_certificates SET status = 'revoked', revoked_at = ?, \
                 revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(reason)
            .bind(serial)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(exists)
    }

    async fn revoked_certs(
        &self,
        issuer_id: &str,
        not_after_min: &str,
    ) -> Result<Vec<CertRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE issuer_id = ? \
             AND revoked_at IS NOT NULL AND not_after >= ? ORDER BY serial"
        ))
        .bind(issuer_id)
        .bind(not_after_min)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn put_issuer(&self, i: &IssuerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ca_issuers (id, kind, status, cert_pem, sealed_key, parent_id, not_after, \
             created_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET \
             status = excluded.status, sealed_key = excluded.sealed_key",
        )
        .bind(&i.id)
        .bind(&i.kind)
        .bind(&i.status)
        .bind(&i.cert_pem)
        .bind(&i.sealed_key)
        .bind(&i.parent_id)
        .bind(&i.not_after)
        .bind(&i.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, status, cert_pem, sealed_key, parent_id, not_after, created_at \
             FROM ca_issuers ORDER BY created_at, rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(issuer_from_row).collect()
    }

    async fn put_join_token(&self, t: &JoinTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ca_join_tokens (token_hash, spiffe_id, expires_at, created_by, \
             created_at, used_at) VALUES (?,?,?,?,?,?)",
        )
        .bind(&t.token_hash)
        .bind(&t.spiffe_id)
        .bind(&t.expires_at)
        .bind(&t.created_by)
        .bind(&t.created_at)
        .bind(&t.used_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn burn_join_token(
        &self,
        token_hash: &str,
        now: &str,
    ) -> Result<Option<JoinTokenRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE ca_join_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL \
             AND expires_at > ? RETURNING token_hash, spiffe_id, expires_at, created_by, \
             created_at, used_at",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn next_crl_number(&self, issuer_id: &str, now: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO ca_crl_numbers (issuer_id, created_at) VALUES (?, ?) RETURNING number",
        )
        .bind(issuer_id)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("number")?)
    }

    async fn latest_crls(&self) -> Result<Vec<CrlNumberRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.issuer_id, c.number, c.created_at FROM ca_crl_numbers c \
             WHERE c.number = (SELECT MAX(d.number) FROM ca_crl_numbers d \
             WHERE d.issuer_id = c.issuer_id) ORDER BY c.issuer_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CrlNumberRecord {
                    issuer_id: row.try_get("issuer_id")?,
                    number: row.try_get("number")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn bundle_sequence(&self, digest: &str, now: &str) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let stored = sqlx::query("SELECT sequence, digest FROM ca_bundle_sequence WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        let sequence = match stored {
            Some(row) => {
                let sequence: i64 = row.try_get("sequence")?;
                let stored_digest: String = row.try_get("digest")?;
                if stored_digest == digest {
                    tx.commit().await?;
                    return Ok(u64::try_from(sequence).unwrap_or(0));
                }
                sequence + 1
            }
            None => 1,
        };
        sqlx::query(
            "INSERT INTO ca_bundle_sequence (id, sequence, digest, updated_at) VALUES (1, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET sequence = excluded.sequence, \
             digest = excluded.digest, updated_at = excluded.updated_at",
        )
        .bind(sequence)
        .bind(digest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(sequence).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(serial: &str) -> CertRecord {
        CertRecord {
            serial: serial.into(),
            issuer_id: "i1".into(),
            spiffe_id: "spiffe://example.org/a".into(),
            sans: vec!["a.example.org".into()],
            public_key_hash: "00".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-01-01T01:00:00Z".into(),
            requester: "admin".into(),
            status: "reserved".into(),
            tbs_der: vec![1, 2, 3],
            cert_der: None,
            revoked_at: None,
            revocation_reason: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn large_batches_commit_whole_or_not_at_all() {
        // A database file (group commits on the ledger's own thread) and an
        // in-memory one (group commits through sqlx, a statement at a time).
        let dir = tempfile::tempdir().unwrap();
        let file = format!("sqlite://{}", dir.path().join("l.db").display());
        for url in [file.as_str(), "sqlite::memory:"] {
            batches_commit_whole_or_not_at_all(url).await;
        }
    }

    async fn batches_commit_whole_or_not_at_all(url: &str) {
        let l = SqliteLedger::open(url).await.unwrap();
        let serial = |i: usize| format!("{i:04x}");
        let done = |i: usize| CertCompletion {
            serial: serial(i),
            cert_der: vec![i as u8, 1],
        };
        // 45 rows in one transaction.
        let first: Vec<_> = (0..45).map(|i| rec(&serial(i))).collect();
        l.write_batch(&first, &[]).await.unwrap();
        // Reservations of new serials and completions of earlier ones share
        // a transaction (group commit).
        let second: Vec<_> = (45..90).map(|i| rec(&serial(i))).collect();
        let completions: Vec<_> = (0..45).map(done).collect();
        l.write_batch(&second, &completions).await.unwrap();
        for i in [0, 31, 32, 44] {
            let c = l.cert(&serial(i)).await.unwrap().unwrap();
            assert_eq!(c.status, "issued");
            assert_eq!(c.cert_der, Some(vec![i as u8, 1]));
        }
        assert_eq!(
            l.cert(&serial(89)).await.unwrap().unwrap().status,
            "reserved"
        );

        // One bad completion among many (a serial listed twice with other
        // bytes, an unknown one, one already completed with other bytes)
        // fails the whole batch: nothing of it is written, the new
        // reservation included.
        let other = |i: usize| CertCompletion {
            serial: serial(i),
            cert_der: vec![0xee],
        };
        for bad in [
            vec![done(50), other(50)],
            vec![done(51), done(999)],
            vec![done(52), other(3)],
        ] {
            let mut batch: Vec<_> = (53..80).map(done).collect();
            batch.extend(bad);
            assert!(
                l.write_batch(&[rec("ffff")], &batch).await.is_err(),
                "{url}"
            );
            assert!(l.cert("ffff").await.unwrap().is_none());
            for i in 50..80 {
                assert_eq!(
                    l.cert(&serial(i)).await.unwrap().unwrap().status,
                    "reserved"
                );
            }
        }
    }

    #[tokio::test]
    async fn reserve_complete_revoke_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("l.db").display());
        let l = SqliteLedger::open(&url).await.unwrap();
        l.write_batch(&[rec("01"), rec("02")], &[]).await.unwrap();
        // A reused serial fails the whole batch: nothing of it is written.
        assert!(l.write_batch(&[rec("03"), rec("01")], &[]).await.is_err());
        assert!(l.cert("03").await.unwrap().is_none());
        let done = CertCompletion {
            serial: "01".into(),
            cert_der: vec![9],
        };
        l.write_batch(&[rec("04")], std::slice::from_ref(&done))
            .await
            .unwrap();
        let c = l.cert("01").await.unwrap().unwrap();
        assert_eq!((c.status.as_str(), c.cert_der), ("issued", Some(vec![9])));
        // Completing again with the same certificate is a no-op (a
        // recovery re-derived it); with another one it is refused.
        l.write_batch(&[], std::slice::from_ref(&done))
            .await
            .unwrap();
        let other = CertCompletion {
            serial: "01".into(),
            cert_der: vec![8],
        };
        assert!(l.write_batch(&[], &[other]).await.is_err());
        assert_eq!(l.cert("01").await.unwrap().unwrap().cert_der, Some(vec![9]));
        // Only the reservation never completed is incomplete.
        let incomplete: Vec<String> = l
            .incomplete_certs()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        assert_eq!(incomplete, vec!["02".to_owned(), "04".to_owned()]);

        assert!(l
            .revoke_cert("01", "keyCompromise", "2026-01-01T00:30:00Z")
            .await
            .unwrap());
        assert!(!l
            .revoke_cert("ff", "keyCompromise", "2026-01-01T00:30:00Z")
            .await
            .unwrap());
        let revoked = l.revoked_certs("i1", "2026-01-01T00:00:00Z").await.unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(
            revoked[0].revocation_reason.as_deref(),
            Some("keyCompromise")
        );
        let listed = l
            .list_certs(&CertFilter {
                statuses: vec!["revoked".into()],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);

        let t = JoinTokenRecord {
            token_hash: "h".into(),
            spiffe_id: "spiffe://example.org/a".into(),
            expires_at: "2026-01-01T01:00:00Z".into(),
            created_by: "admin".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            used_at: None,
        };
        l.put_join_token(&t).await.unwrap();
        assert!(
            l.burn_join_token("h", "2026-01-01T02:00:00Z")
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(l
            .burn_join_token("h", "2026-01-01T00:10:00Z")
            .await
            .unwrap()
            .is_some());
        assert!(
            l.burn_join_token("h", "2026-01-01T00:11:00Z")
                .await
                .unwrap()
                .is_none(),
            "burnt"
        );

        let a = l.next_crl_number("i1", "t").await.unwrap();
        let b = l.next_crl_number("i1", "t").await.unwrap();
        assert!(b > a);
    }

    #[tokio::test]
    async fn bundle_sequence_grows_with_each_change_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("l.db").display());
        let l = SqliteLedger::open(&url).await.unwrap();
        assert_eq!(l.bundle_sequence("d1", "t").await.unwrap(), 1);
        assert_eq!(l.bundle_sequence("d1", "t").await.unwrap(), 1, "unchanged");
        assert_eq!(l.bundle_sequence("d2", "t").await.unwrap(), 2);
        drop(l);
        let l = SqliteLedger::open(&url).await.unwrap();
        assert_eq!(l.bundle_sequence("d2", "t").await.unwrap(), 2, "reopened");
        // Back to earlier contents is a change too: the number still grows.
        assert_eq!(l.bundle_sequence("d1", "t").await.unwrap(), 3);
    }
}
