//! The shared backend: PostgreSQL, for several replicas on one database.
//!
//! One type, [`PostgresStore`], implements both [`Store`] and [`CertLedger`]
//! over one connection pool. What differs from SQLite:
//! - **Migrations** run at start while holding a session advisory lock, so
//!   replicas starting together migrate once.
//! - **The decision log** is one chain for every replica. An append takes a
//!   transaction-level advisory lock, checks that the batch continues the
//!   stored head and inserts it; a replica whose view of the head is stale
//!   gets [`StoreError::OutOfOrder`], re-reads the head and re-chains.
//! - **Serials**: the ledger's primary key refuses a serial that any replica
//!   reserved; the CA draws random serials and retries with a new one.
//! - **Events**: recording a policy version and revoking a certificate send a
//!   `NOTIFY` in the same transaction; [`Store::events`] hears them.
//! - **Singleton jobs** hold a session advisory lock for their run.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use tokio::sync::broadcast;

use crate::coordination::{lock_key, SingletonGuard, StoreEvent};
use crate::ledger::{
    CertCompletion, CertFilter, CertLedger, CertRecord, CrlNumberRecord, IssuerRecord,
    JoinTokenRecord,
};
use crate::model::{secret_metadata_from_row, secret_metadata_sql};
use crate::{
    ChainHead, ChainedRecord, Checkpoint, PolicyVersionRecord, ReportRecord, ScanRecordRow,
    SecretEvent, SecretMetadata, Store, StoreError,
};

/// The `LISTEN`/`NOTIFY` channel replicas announce changes on.
const CHANNEL: &str = "palisade_events";

/// Rows per multi-row statement (arrays bound as one parameter each).
const INSERT_CHUNK: usize = 1_000;

/// The store and certificate ledger on a shared PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    events: Arc<OnceLock<broadcast::Sender<StoreEvent>>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`) and brings the
    /// schema up to date under an advisory lock.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            url: redact(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_err)?;
        // sqlx's TLS uses rustls's process-wide provider, which rustls cannot
        // choose by itself once a build links more than one (the AWS SDK
        // brings aws-lc-rs): name the workspace's, unless one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let mut conn = pool.acquire().await.map_err(open_err)?;
        let key = lock_key("migrations");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        let migrated = sqlx::migrate!("./migrations/postgres")
            .run(&mut *conn)
            .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        migrated?;
        Ok(Self {
            pool,
            events: Arc::new(OnceLock::new()),
        })
    }

    /// Starts (once) the task that listens for other replicas' changes.
    fn event_sender(&self) -> &broadcast::Sender<StoreEvent> {
        self.events.get_or_init(|| {
            let (tx, _) = broadcast::channel(256);
            tokio::spawn(listen(self.pool.clone(), tx.clone()));
            tx
        })
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Forwards `NOTIFY`s to subscribers; after a lost connection (when
/// notifications may have been missed) it sends [`StoreEvent::Resync`].
async fn listen(pool: PgPool, tx: broadcast::Sender<StoreEvent>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "store event listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "store event listener cannot LISTEN; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let _ = tx.send(StoreEvent::Resync);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    let _ = tx.send(StoreEvent::from_payload(n.payload()));
                }
                Ok(None) => {
                    // Reconnected: what was sent meanwhile is lost.
                    let _ = tx.send(StoreEvent::Resync);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "store event listener failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

fn head_from_row(row: &PgRow) -> Result<ChainHead, sqlx::Error> {
    Ok(ChainHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn append_decisions(&self, records: &[ChainedRecord]) -> Result<(), StoreError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        for (i, pair) in records.windows(2).enumerate() {
            if pair[1].seq != pair[0].seq + 1 {
                return Err(StoreError::OutOfOrder {
                    expected: first.seq + i as i64 + 1,
                    got: pair[1].seq,
                });
            }
        }
        let mut tx = self.pool.begin().await?;
        // One writer at a time across every replica.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("decision-log"))
            .execute(&mut *tx)
            .await?;
        let last: i64 = sqlx::query(
            "SELECT COALESCE((SELECT MAX(seq) FROM decision_log), \
             (SELECT MAX(seq) FROM decision_log_checkpoints), 0) AS seq",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
        if first.seq != last + 1 {
            return Err(StoreError::OutOfOrder {
                expected: last + 1,
                got: first.seq,
            });
        }
        for chunk in records.chunks(INSERT_CHUNK) {
            let seqs: Vec<i64> = chunk.iter().map(|r| r.seq).collect();
            let column = |f: fn(&ChainedRecord) -> &str| {
                chunk.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>()
            };
            sqlx::query(
                "INSERT INTO decision_log (seq, time, record, prev_hash, hash) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])",
            )
            .bind(seqs)
            .bind(column(|r| &r.time))
            .bind(column(|r| &r.record))
            .bind(column(|r| &r.prev_hash))
            .bind(column(|r| &r.hash))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn chain_head(&self) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Some(head_from_row(&row)?));
        }
        Ok(self.latest_checkpoint().await?.map(|c| ChainHead {
            seq: c.seq,
            hash: c.hash,
        }))
    }

    async fn decisions_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, time, record, prev_hash, hash FROM decision_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ChainedRecord {
                    seq: row.try_get("seq")?,
                    time: row.try_get("time")?,
                    record: row.try_get("record")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    async fn last_decision_before(&self, time: &str) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM decision_log WHERE time < $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(time)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    async fn prune_decisions(&self, checkpoint: &Checkpoint) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("decision-log"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO decision_log_checkpoints (seq, hash, created_at, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(&checkpoint.created_at)
        .bind(&checkpoint.key_id)
        .bind(&checkpoint.signature)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM decision_log WHERE seq <= $1")
            .bind(checkpoint.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash, created_at, key_id, signature FROM decision_log_checkpoints \
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Checkpoint {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
            created_at: row.try_get("created_at")?,
            key_id: row.try_get("key_id")?,
            signature: row.try_get("signature")?,
        }))
    }

    async fn record_policy_version(
        &self,
        version: &PolicyVersionRecord,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO policy_versions (etag, source, created_at, bundle) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&version.etag)
        .bind(&version.source)
        .bind(&version.created_at)
        .bind(&version.bundle)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        notify(&mut tx, StoreEvent::PolicyVersion).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn policy_versions(&self, limit: u32) -> Result<Vec<PolicyVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT etag, source, created_at, bundle FROM policy_versions \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PolicyVersionRecord {
                    etag: row.try_get("etag")?,
                    source: row.try_get("source")?,
                    created_at: row.try_get("created_at")?,
                    bundle: row.try_get("bundle")?,
                })
            })
            .collect()
    }

    async fn keep_report(&self, report: &ReportRecord) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO compliance_reports (framework, generated_at, digest, report) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&report.framework)
        .bind(&report.generated_at)
        .bind(&report.digest)
        .bind(&report.report)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn record_secret_event(&self, event: &SecretEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secret_events (backend, name, version, operation, at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&event.backend)
        .bind(&event.name)
        .bind(&event.version)
        .bind(&event.operation)
        .bind(&event.at)
        .bind(&event.actor)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn secret_metadata(&self, backend: &str) -> Result<Vec<SecretMetadata>, StoreError> {
        let rows = sqlx::query(&secret_metadata_sql("$1"))
            .bind(backend)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(secret_metadata_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn reports(&self, framework: &str, limit: u32) -> Result<Vec<ReportRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT framework, generated_at, digest, report FROM compliance_reports \
             WHERE framework = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(framework)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReportRecord {
                    framework: row.try_get("framework")?,
                    generated_at: row.try_get("generated_at")?,
                    digest: row.try_get("digest")?,
                    report: row.try_get("report")?,
                })
            })
            .collect()
    }

    async fn keep_scan_record(&self, record: &ScanRecordRow) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO scan_records (target, recorded_at, digest, record) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&record.target)
        .bind(&record.recorded_at)
        .bind(&record.digest)
        .bind(&record.record)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn scan_records(&self, limit: u32) -> Result<Vec<(i64, ScanRecordRow)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, target, recorded_at, digest, record FROM \
             (SELECT * FROM scan_records ORDER BY id DESC LIMIT $1) AS newest ORDER BY id",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ScanRecordRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn events(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.event_sender().subscribe())
    }

    async fn try_singleton(&self, job: &str) -> Result<Option<SingletonGuard>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let key = lock_key(job);
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?
            .try_get("got")?;
        Ok(got.then(|| SingletonGuard::postgres(conn, key)))
    }
}

/// Queues a `NOTIFY` that is delivered when `tx` commits.
async fn notify(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: StoreEvent,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(event.payload())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const CERT_COLUMNS: &str = "serial, issuer_id, spiffe_id, sans, public_key_hash, not_before, \
     not_after, requester, status, tbs_der, cert_der, revoked_at, revocation_reason, created_at";

fn cert_from_row(row: &PgRow) -> Result<CertRecord, StoreError> {
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

fn token_from_row(row: &PgRow) -> Result<JoinTokenRecord, StoreError> {
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
impl CertLedger for PostgresStore {
    async fn write_batch(
        &self,
        reserve: &[CertRecord],
        complete: &[CertCompletion],
    ) -> Result<(), StoreError> {
        if reserve.is_empty() && complete.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in reserve.chunks(INSERT_CHUNK) {
            let text = |f: fn(&CertRecord) -> &str| {
                chunk.iter().map(|c| f(c).to_owned()).collect::<Vec<_>>()
            };
            let sans: Vec<String> = chunk
                .iter()
                .map(|c| serde_json::to_string(&c.sans).unwrap_or_else(|_| "[]".into()))
                .collect();
            let tbs: Vec<Vec<u8>> = chunk.iter().map(|c| c.tbs_der.clone()).collect();
            // A serial that exists (reserved by any replica) violates the
            // primary key: the whole batch fails and nothing is written.
            sqlx::query(
                "INSERT INTO ca_certificates (serial, issuer_id, spiffe_id, sans, \
                 public_key_hash, not_before, not_after, requester, status, tbs_der, cert_der, \
                 created_at) \
                 SELECT s, i, sp, sa, pk, nb, na, rq, 'reserved', t, NULL, ca FROM UNNEST(\
                 $1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], \
                 $7::TEXT[], $8::TEXT[], $9::BYTEA[], $10::TEXT[]) \
                 AS v(s, i, sp, sa, pk, nb, na, rq, t, ca)",
            )
            .bind(text(|c| &c.serial))
            .bind(text(|c| &c.issuer_id))
            .bind(text(|c| &c.spiffe_id))
            .bind(sans)
            .bind(text(|c| &c.public_key_hash))
            .bind(text(|c| &c.not_before))
            .bind(text(|c| &c.not_after))
            .bind(text(|c| &c.requester))
            .bind(tbs)
            .bind(text(|c| &c.created_at))
            .execute(&mut *tx)
            .await?;
        }
        for chunk in complete.chunks(INSERT_CHUNK) {
            let serials: Vec<String> = chunk.iter().map(|c| c.serial.clone()).collect();
            let ders: Vec<Vec<u8>> = chunk.iter().map(|c| c.cert_der.clone()).collect();
            // A serial that is unknown or completed with other bytes leaves
            // fewer rows changed than asked: the batch fails. The same bytes again are a no-op (deterministic
            // signatures: a replica's recovery re-derives them).
            let n = sqlx::query(
                "UPDATE ca_certificates c SET cert_der = v.der, \
                 status = CASE c.status WHEN 'reserved' THEN 'issued' ELSE c.status END \
                 FROM UNNEST($1::TEXT[], $2::BYTEA[]) AS v(serial, der) \
                 WHERE c.serial = v.serial AND (c.cert_der IS NULL OR c.cert_der = v.der)",
            )
            .bind(serials)
            .bind(ders)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != chunk.len() as u64 {
                return Err(StoreError::Query(sqlx::Error::RowNotFound));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cert(&self, serial: &str) -> Result<Option<CertRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE serial = $1"
        ))
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    async fn incomplete_certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE status IN ('reserved', 'revoked') \
             AND cert_der IS NULL ORDER BY created_at, serial"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn list_certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>, StoreError> {
        let limit = if filter.limit == 0 {
            1000
        } else {
            filter.limit
        };
        let rows = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM ca_certificates \
             WHERE ($1::TEXT IS NULL OR spiffe_id = $1) \
             AND (CARDINALITY($2::TEXT[]) = 0 OR status = ANY($2)) \
             AND ($3::TEXT IS NULL OR not_after < $3) \
             AND ($4::TEXT IS NULL OR not_after > $4) \
             ORDER BY created_at DESC, serial LIMIT $5"
        ))
        .bind(&filter.spiffe_id)
        .bind(&filter.statuses)
        .bind(&filter.expires_before)
        .bind(&filter.expires_after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn revoke_cert(&self, serial: &str, reason: &str, at: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM ca_certificates WHERE serial = $1 FOR UPDATE")
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            let changed = sqlx::query(
                "UPDATE ca_certificates SET status = 'revoked', revoked_at = $1, \
                 revocation_reason = $2 WHERE serial = $3 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(reason)
            .bind(serial)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 {
                notify(&mut tx, StoreEvent::Revocation).await?;
            }
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
            "SELECT {CERT_COLUMNS} FROM ca_certificates WHERE issuer_id = $1 \
             AND revoked_at IS NOT NULL AND not_after >= $2 ORDER BY serial"
        ))
        .bind(issuer_id)
        .bind(not_after_min)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn put_issuer(&self, i: &IssuerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ca_issuers (id, kind, status, cert_pem, sealed_key, parent_id, \
             not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, \
             sealed_key = EXCLUDED.sealed_key",
        )
        .bind(&i.id)
        .bind(&i.kind)
        .bind(&i.status)
        .bind(&i.cert_pem)
        .bind(&i.sealed_key)
        .bind(&i.parent_id)
        .bind(&i.not_after)
        .bind(&i.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, status, cert_pem, sealed_key, parent_id, not_after, created_at \
             FROM ca_issuers ORDER BY created_at, ord",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
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
            })
            .collect()
    }

    async fn put_join_token(&self, t: &JoinTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ca_join_tokens (token_hash, spiffe_id, expires_at, created_by, \
             created_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token_hash)
        .bind(&t.spiffe_id)
        .bind(&t.expires_at)
        .bind(&t.created_by)
        .bind(&t.created_at)
        .bind(&t.used_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn burn_join_token(
        &self,
        token_hash: &str,
        now: &str,
    ) -> Result<Option<JoinTokenRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE ca_join_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             AND expires_at > $1 RETURNING token_hash, spiffe_id, expires_at, created_by, \
             created_at, used_at",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn next_crl_number(&self, issuer_id: &str, now: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO ca_crl_numbers (issuer_id, created_at) VALUES ($1, $2) RETURNING number",
        )
        .bind(issuer_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("number")?)
    }

    async fn latest_crls(&self) -> Result<Vec<CrlNumberRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (issuer_id) issuer_id, number, created_at FROM ca_crl_numbers \
             ORDER BY issuer_id, number DESC",
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
        let mut tx = self.pool.begin().await?;
        // The row exists from the first call on; replicas racing to create
        // it both end up locking the same row.
        sqlx::query(
            "INSERT INTO ca_bundle_sequence (id, sequence, digest, updated_at) \
             VALUES (1, 0, '', $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row =
            sqlx::query("SELECT sequence, digest FROM ca_bundle_sequence WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let mut sequence: i64 = row.try_get("sequence")?;
        let stored: String = row.try_get("digest")?;
        if stored != digest {
            sequence += 1;
            sqlx::query(
                "UPDATE ca_bundle_sequence SET sequence = $1, digest = $2, updated_at = $3 \
                 WHERE id = 1",
            )
            .bind(sequence)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(u64::try_from(sequence).unwrap_or(0))
    }

    fn events(&self) -> Option<broadcast::Receiver<StoreEvent>> {
        Some(self.event_sender().subscribe())
    }

    async fn singleton(&self, job: &str) -> Result<SingletonGuard, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let key = lock_key(job);
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(SingletonGuard::postgres(conn, key))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/palisade"),
            "postgres://app@db:5432/palisade"
        );
        assert_eq!(redact("postgres://db/palisade"), "postgres://db/palisade");
    }
}
