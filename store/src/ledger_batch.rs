//! The SQLite ledger's group commits, on a thread of their own.
//!
//! [`crate::CertLedger::write_batch`] is the CA's hot path: every issuance's
//! reservation and completion pass through it. Through sqlx each batch was
//! four round trips to sqlx's connection thread (`BEGIN`, the reservations,
//! the completions, `COMMIT`), and each statement's result another hand-off
//! between threads. On the real schema that cost about twice the CPU per
//! certificate of the same statements run directly (BENCHMARKS.md, CA,
//! session 10). Here one thread owns the writing connection (rusqlite, over
//! the same SQLite library sqlx links) and runs a whole batch, one
//! transaction, per message, answering once.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::oneshot;

use crate::ledger::{COMPLETE_ONE, RESERVE_ONE};
use crate::{CertCompletion, CertRecord, StoreError};

struct Job {
    reserve: Vec<CertRecord>,
    complete: Vec<CertCompletion>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The connection that writes the ledger's batches, on its own thread; the
/// thread ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct BatchWriter {
    jobs: mpsc::Sender<Job>,
}

fn write_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::LedgerWrite(e.to_string())
}

impl BatchWriter {
    /// Opens the database file at `path` (already created, in WAL mode) with
    /// full fsync on commit and a page cache of `cache_kib` KiB.
    pub(crate) fn open(path: &Path, cache_kib: u32) -> Result<Self, StoreError> {
        let db = Connection::open(path).map_err(write_err)?;
        db.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(write_err)?;
        db.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA cache_size = -{cache_kib};"
        ))
        .map_err(write_err)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                let mut db = db;
                for job in queue {
                    let _ = job.done.send(commit(&mut db, &job.reserve, &job.complete));
                }
            })
            .map_err(write_err)?;
        Ok(Self { jobs })
    }

    /// Commits `reserve` and `complete` in one transaction, or nothing.
    pub(crate) async fn write(
        &self,
        reserve: &[CertRecord],
        complete: &[CertCompletion],
    ) -> Result<(), StoreError> {
        let gone = || write_err("the ledger's writing thread stopped");
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                reserve: reserve.to_vec(),
                complete: complete.to_vec(),
                done,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// One transaction: every reservation inserted and every completion
/// recorded, or (dropping the transaction rolls it back) none.
fn commit(
    db: &mut Connection,
    reserve: &[CertRecord],
    complete: &[CertCompletion],
) -> Result<(), StoreError> {
    let tx = db
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(write_err)?;
    {
        let mut insert = tx.prepare_cached(RESERVE_ONE).map_err(write_err)?;
        for c in reserve {
            let sans = serde_json::to_string(&c.sans).map_err(write_err)?;
            insert
                .execute(params![
                    c.serial,
                    c.issuer_id,
                    c.spiffe_id,
                    sans,
                    c.public_key_hash,
                    c.not_before,
                    c.not_after,
                    c.requester,
                    c.tbs_der,
                    c.created_at
                ])
                .map_err(|e| write_err(format!("reserving certificate {}: {e}", c.serial)))?;
        }
        let mut update = tx.prepare_cached(COMPLETE_ONE).map_err(write_err)?;
        for c in complete {
            let changed = update
                .execute(params![c.cert_der, c.serial, c.cert_der])
                .map_err(write_err)?;
            if changed != 1 {
                return Err(write_err(format!(
                    "certificate {}: no reservation with this serial, or it was completed with \
                     other bytes",
                    c.serial
                )));
            }
        }
    }
    tx.commit().map_err(write_err)
}
