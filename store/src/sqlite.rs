use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::model::{secret_metadata_from_row, secret_metadata_sql};
use crate::{
    ChainHead, ChainedRecord, Checkpoint, PolicyVersionRecord, ReportRecord, ScanRecordRow,
    SecretEvent, SecretMetadata, Store, StoreError,
};

/// Rows per multi-row INSERT: well under SQLite's bound-parameter limit.
const INSERT_CHUNK: usize = 200;

/// The embedded default store: one SQLite file in write-ahead-log mode.
///
/// Every multi-row write is a single transaction, so a crash leaves the
/// decision log either with the whole batch or without it.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = open_pool(url, SqliteSynchronous::Normal, 4, 2_000).await?;
        Ok(Self { pool })
    }
}

/// Whether `url` names an in-memory database (one per connection).
pub(crate) fn in_memory(url: &str) -> bool {
    url.contains(":memory:")
}

/// Opens (creating if needed) the SQLite database at `url` (`sqlite://PATH`
/// or `sqlite::memory:`) in WAL mode with the given fsync level, at most
/// `connections` connections and a page cache of at most `cache_kib` KiB per
/// connection, and brings the schema up to date.
///
/// Write transactions start with `BEGIN IMMEDIATE`: a deferred transaction
/// that reads and then writes cannot wait for another writer in WAL mode and
/// fails at once with "database is locked"; an immediate one takes the write
/// lock first and waits up to the busy timeout.
pub(crate) async fn open_pool(
    url: &str,
    synchronous: SqliteSynchronous,
    connections: u32,
    cache_kib: u32,
) -> Result<SqlitePool, StoreError> {
    let open_err = |source| StoreError::Open {
        url: url.to_owned(),
        source,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(open_err)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        // Negative: a size in KiB (SQLite's default is 2,000 KiB).
        .pragma("cache_size", format!("-{cache_kib}"))
        .busy_timeout(std::time::Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        // An in-memory database exists once per connection.
        .max_connections(if in_memory(url) { 1 } else { connections })
        .connect_with(options)
        .await
        .map_err(open_err)?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

fn record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ChainedRecord, sqlx::Error> {
    Ok(ChainedRecord {
        seq: row.try_get("seq")?,
        time: row.try_get("time")?,
        record: row.try_get("record")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn checkpoint_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn append_decisions(&self, records: &[ChainedRecord]) -> Result<(), StoreError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) AS seq FROM decision_log")
            .fetch_one(&mut *tx)
            .await?
            .try_get("seq")?;
        let checkpoint: Option<i64> =
            sqlx::query("SELECT MAX(seq) AS seq FROM decision_log_checkpoints")
                .fetch_one(&mut *tx)
                .await?
                .try_get("seq")?;
        let expected = last.or(checkpoint).unwrap_or(0) + 1;
        if first.seq != expected {
            return Err(StoreError::OutOfOrder {
                expected,
                got: first.seq,
            });
        }
        for (i, pair) in records.windows(2).enumerate() {
            if pair[1].seq != pair[0].seq + 1 {
                return Err(StoreError::OutOfOrder {
                    expected: first.seq + i as i64 + 1,
                    got: pair[1].seq,
                });
            }
        }
        for chunk in records.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO decision_log (seq, time, record, prev_hash, hash) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str("(?,?,?,?,?)");
            }
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query
                    .bind(r.seq)
                    .bind(&r.time)
                    .bind(&r.record)
                    .bind(&r.prev_hash)
                    .bind(&r.hash);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn chain_head(&self) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Some(ChainHead {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            }));
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
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    async fn last_decision_before(&self, time: &str) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM decision_log WHERE time < ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(time)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some(ChainHead {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            }),
            None => None,
        })
    }

    async fn prune_decisions(&self, checkpoint: &Checkpoint) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO decision_log_checkpoints (seq, hash, created_at, key_id, signature) \
             VALUES (?,?,?,?,?)",
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(&checkpoint.created_at)
        .bind(&checkpoint.key_id)
        .bind(&checkpoint.signature)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM decision_log WHERE seq <= ?")
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
        Ok(match row {
            Some(row) => Some(checkpoint_from_row(&row)?),
            None => None,
        })
    }

    async fn record_policy_version(
        &self,
        version: &PolicyVersionRecord,
    ) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO policy_versions (etag, source, created_at, bundle) VALUES (?,?,?,?)",
        )
        .bind(&version.etag)
        .bind(&version.source)
        .bind(&version.created_at)
        .bind(&version.bundle)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    async fn policy_versions(&self, limit: u32) -> Result<Vec<PolicyVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT etag, source, created_at, bundle FROM policy_versions ORDER BY id DESC LIMIT ?",
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
        let id = sqlx::query(
            "INSERT INTO compliance_reports (framework, generated_at, digest, report) \
             VALUES (?,?,?,?)",
        )
        .bind(&report.framework)
        .bind(&report.generated_at)
        .bind(&report.digest)
        .bind(&report.report)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    async fn record_secret_event(&self, event: &SecretEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secret_events (backend, name, version, operation, at, actor) \
             VALUES (?,?,?,?,?,?)",
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
        let rows = sqlx::query(&secret_metadata_sql("?"))
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
             WHERE framework = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(framework)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_from_row).collect()
    }

    async fn keep_scan_record(&self, record: &ScanRecordRow) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO scan_records (target, recorded_at, digest, record) VALUES (?,?,?,?)",
        )
        .bind(&record.target)
        .bind(&record.recorded_at)
        .bind(&record.digest)
        .bind(&record.record)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    async fn scan_records(&self, limit: u32) -> Result<Vec<(i64, ScanRecordRow)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, target, recorded_at, digest, record FROM \
             (SELECT * FROM scan_records ORDER BY id DESC LIMIT ?) ORDER BY id",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(ScanRecordRow::from_row)
            .collect::<Result<_, _>>()?)
    }
}

fn report_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ReportRecord, StoreError> {
    Ok(ReportRecord {
        framework: row.try_get("framework")?,
        generated_at: row.try_get("generated_at")?,
        digest: row.try_get("digest")?,
        report: row.try_get("report")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, time: &str) -> ChainedRecord {
        ChainedRecord {
            seq,
            time: time.into(),
            record: format!("{{\"n\":{seq}}}"),
            prev_hash: format!("h{}", seq - 1),
            hash: format!("h{seq}"),
        }
    }

    async fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn append_read_and_head() {
        let (_d, store) = temp_store().await;
        assert_eq!(store.chain_head().await.unwrap(), None);
        let batch: Vec<_> = (1..=450).map(|i| rec(i, "2026-01-01T00:00:00Z")).collect();
        store.append_decisions(&batch).await.unwrap();
        let head = store.chain_head().await.unwrap().unwrap();
        assert_eq!((head.seq, head.hash.as_str()), (450, "h450"));
        let page = store.decisions_after(100, 10).await.unwrap();
        assert_eq!(page.len(), 10);
        assert_eq!(page[0], rec(101, "2026-01-01T00:00:00Z"));
    }

    #[tokio::test]
    async fn append_refuses_gaps_and_leaves_nothing_behind() {
        let (_d, store) = temp_store().await;
        store.append_decisions(&[rec(1, "t")]).await.unwrap();
        let err = store
            .append_decisions(&[rec(2, "t"), rec(4, "t")])
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::OutOfOrder { got: 4, .. }),
            "{err}"
        );
        let err = store.append_decisions(&[rec(3, "t")]).await.unwrap_err();
        assert!(matches!(err, StoreError::OutOfOrder { expected: 2, .. }));
        assert_eq!(store.chain_head().await.unwrap().unwrap().seq, 1);
    }

    #[tokio::test]
    async fn prune_keeps_checkpoint_as_head() {
        let (_d, store) = temp_store().await;
        let batch = vec![
            rec(1, "2026-01-01T00:00:00Z"),
            rec(2, "2026-01-02T00:00:00Z"),
            rec(3, "2026-01-03T00:00:00Z"),
        ];
        store.append_decisions(&batch).await.unwrap();
        let cut = store
            .last_decision_before("2026-01-02T12:00:00Z")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cut.seq, 2);
        let cp = Checkpoint {
            seq: cut.seq,
            hash: cut.hash,
            created_at: "2026-01-04T00:00:00Z".into(),
            key_id: "k".into(),
            signature: "s".into(),
        };
        assert_eq!(store.prune_decisions(&cp).await.unwrap(), 2);
        assert_eq!(store.latest_checkpoint().await.unwrap(), Some(cp.clone()));
        assert_eq!(store.decisions_after(0, 10).await.unwrap().len(), 1);
        let cp3 = Checkpoint {
            seq: 3,
            hash: "h3".into(),
            ..cp
        };
        store.prune_decisions(&cp3).await.unwrap();
        // Everything pruned: the head is the checkpoint, and appends continue from it.
        assert_eq!(store.chain_head().await.unwrap().unwrap().seq, 3);
        store.append_decisions(&[rec(4, "t")]).await.unwrap();
    }

    #[tokio::test]
    async fn policy_versions_newest_first() {
        let (_d, store) = temp_store().await;
        for (i, etag) in ["a", "b"].iter().enumerate() {
            let id = store
                .record_policy_version(&PolicyVersionRecord {
                    etag: (*etag).into(),
                    source: "directory".into(),
                    created_at: "t".into(),
                    bundle: "{}".into(),
                })
                .await
                .unwrap();
            assert_eq!(id, i as i64 + 1);
        }
        let v = store.policy_versions(10).await.unwrap();
        assert_eq!(
            v.iter().map(|v| v.etag.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
    }
}
