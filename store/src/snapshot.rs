//! Consistent copies of the embedded store while a server writes to it.
//!
//! `VACUUM INTO` reads the whole database inside one read transaction: the copy is the database as of
//! one commit, whatever the writers do meanwhile (in WAL mode they are not blocked), and it is a
//! compact, self-contained file (no `-wal`/`-shm` beside it). A shared PostgreSQL store is backed up
//! with PostgreSQL's own tools (`pg_basebackup`, WAL archiving, point-in-time recovery), not here.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::StoreError;

/// The database file of a `sqlite://PATH` URL; `None` for other URLs and in-memory databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    if crate::sqlite::in_memory(url) {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn existing(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let open_err = |source| StoreError::Open {
        url: url.to_owned(),
        source,
    };
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(open_err)?
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30)))
}

/// Writes a consistent copy of the SQLite store at `url` to `dest`, which must not exist yet, while
/// the store may be in use by a running server.
pub async fn snapshot_sqlite(url: &str, dest: &Path) -> Result<(), StoreError> {
    if sqlite_path(url).is_none() {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    let mut conn = existing(url)?
        .connect()
        .await
        .map_err(|source| StoreError::Open {
            url: url.to_owned(),
            source,
        })?;
    sqlx::query("VACUUM INTO ?")
        .bind(dest.to_string_lossy().as_ref())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Checks a database file with `PRAGMA integrity_check` (for example a snapshot before it is restored).
pub async fn check_sqlite(path: &Path) -> Result<(), StoreError> {
    let url = format!("sqlite://{}", path.display());
    let mut conn = existing(&url)?
        .read_only(true)
        .connect()
        .await
        .map_err(|source| StoreError::Open {
            url: url.clone(),
            source,
        })?;
    // A file damaged badly enough fails the pragma itself ("database disk image is malformed").
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    conn.close().await?;
    match rows.as_slice() {
        [(ok,)] if ok == "ok" => Ok(()),
        _ => Err(StoreError::Corrupt {
            path: path.display().to_string(),
            reason: rows
                .into_iter()
                .map(|(r,)| r)
                .take(5)
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open, ChainedRecord};

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:///d/p.db"), Some("/d/p.db".into()));
        assert_eq!(
            sqlite_path("sqlite://data/p.db?mode=rwc"),
            Some("data/p.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[tokio::test]
    async fn a_snapshot_taken_while_the_store_is_open_holds_every_committed_record() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = open(&url).await.unwrap();
        let records: Vec<ChainedRecord> = (1..=50)
            .map(|seq| ChainedRecord {
                seq,
                time: "2026-01-01T00:00:00Z".into(),
                record: format!("{{\"n\":{seq}}}"),
                prev_hash: format!("{:064x}", seq - 1),
                hash: format!("{seq:064x}"),
            })
            .collect();
        store.append_decisions(&records).await.unwrap();
        let dest = dir.path().join("copy.db");
        // The store stays open (WAL, uncheckpointed pages) while the copy is taken.
        snapshot_sqlite(&url, &dest).await.unwrap();
        check_sqlite(&dest).await.unwrap();
        let copy = open(&format!("sqlite://{}", dest.display())).await.unwrap();
        assert_eq!(copy.chain_head().await.unwrap().unwrap().seq, 50);
        assert_eq!(copy.decisions_after(0, 100).await.unwrap(), records);
        // The destination is never overwritten.
        assert!(snapshot_sqlite(&url, &dest).await.is_err());
        // Other stores are refused with the URL named.
        let err = snapshot_sqlite("postgres://h/db", &dest).await.unwrap_err();
        assert!(err.to_string().contains("postgres://h/db"), "{err}");
    }

    #[tokio::test]
    async fn a_damaged_file_fails_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = open(&url).await.unwrap();
        drop(store);
        // A self-contained copy (no WAL beside it), then every page after the first overwritten.
        let path = dir.path().join("bad.db");
        snapshot_sqlite(&url, &path).await.unwrap();
        check_sqlite(&path).await.unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 4096, "{} bytes", bytes.len());
        for b in &mut bytes[4096..] {
            *b = 0x5a;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = check_sqlite(&path).await.unwrap_err();
        assert!(err.to_string().contains("bad.db"), "{err}");
    }
}
