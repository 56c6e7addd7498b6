//! Group commit: issuances running at the same time share one ledger
//! transaction (one fsync) instead of paying one each.
//!
//! A reservation is waited for: the answer to a request goes out only once
//! it is durable. A completion is not: it rides the next transaction, with
//! the next reservations, so each request waits for one flush, not two.
//! Should the process die first, the reservation holds everything needed to
//! re-derive the certificate (deterministic signatures), and the CA does so
//! when it next opens the ledger.
//!
//! A batch of completions alone, which nobody waits for, lingers up to
//! [`COMPLETION_LINGER`] for an operation somebody waits for, so that they
//! share a commit: one transaction per request at concurrency 1 instead
//! of two, and no commit of completions alone ahead of waiting reservations.

use std::sync::Arc;

use palisade_store::{CertCompletion, CertLedger, CertRecord};

use crate::CaError;
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 256;

/// How long completions alone wait for an operation to share a commit with.
const COMPLETION_LINGER: std::time::Duration = std::time::Duration::from_millis(2);

enum Op {
    Reserve(Box<CertRecord>),
    Complete(CertCompletion),
    /// Nothing to write: answered once everything queued before it is.
    Flush,
}

struct Pending {
    op: Op,
    /// `None`: nobody waits (a completion riding the next commit).
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Where a batched operation's record went in the lists handed to
/// [`CertLedger::write_batch`]: the records move there, and an operation
/// retried alone is found again by its index.
enum Slot {
    Reserve(usize),
    Complete(usize),
    Flush,
}

/// Tells whoever waits for an operation how it went; a completion nobody
/// waits for is only logged if it failed.
fn answer(
    done: Option<oneshot::Sender<Result<(), String>>>,
    slot: &Slot,
    completions: &[CertCompletion],
    res: Result<(), String>,
) {
    match (done, slot, res) {
        (Some(done), _, res) => {
            let _ = done.send(res);
        }
        (None, Slot::Complete(i), Err(e)) => tracing::warn!(
            serial = %completions[*i].serial,
            error = %e,
            "could not record a signed certificate; its reservation stays and the CA \
             re-derives it when it next opens the ledger"
        ),
        (None, _, _) => {}
    }
}

/// A handle to the background writer.
#[derive(Clone)]
pub(crate) struct LedgerWriter {
    tx: mpsc::Sender<Pending>,
}

/// Moves what is already queued into `batch`, up to [`MAX_BATCH`].
fn take_queued(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
}

fn gone() -> CaError {
    CaError::LedgerWrite("the ledger writer stopped".into())
}

impl LedgerWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn(ledger: Arc<dyn CertLedger>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Pending>(4096);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                take_queued(&mut rx, &mut batch);
                if batch.iter().all(|p| p.done.is_none()) {
                    let until = tokio::time::Instant::now() + COMPLETION_LINGER;
                    while batch.len() < MAX_BATCH {
                        let Ok(Some(next)) = tokio::time::timeout_at(until, rx.recv()).await else {
                            break;
                        };
                        let waited_for = next.done.is_some();
                        batch.push(next);
                        if waited_for {
                            take_queued(&mut rx, &mut batch);
                            break;
                        }
                    }
                }
                commit(ledger.as_ref(), std::mem::take(&mut batch)).await;
            }
        });
        Self { tx }
    }

    async fn submit(&self, op: Op) -> Result<(), CaError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending {
                op,
                done: Some(done),
            })
            .await
            .map_err(|_| gone())?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(CaError::LedgerWrite(msg)),
            Err(_) => Err(gone()),
        }
    }

    /// Durably records a reserved (not yet signed) certificate; returns
    /// once it is committed.
    pub(crate) async fn reserve(&self, rec: CertRecord) -> Result<(), CaError> {
        self.submit(Op::Reserve(Box::new(rec))).await
    }

    /// Queues the signed certificate for its reservation: it is committed
    /// with the next transaction; nobody waits for it.
    pub(crate) async fn complete_later(&self, c: CertCompletion) -> Result<(), CaError> {
        self.tx
            .send(Pending {
                op: Op::Complete(c),
                done: None,
            })
            .await
            .map_err(|_| gone())
    }

    /// Returns once everything queued so far is committed (or failed).
    pub(crate) async fn flush(&self) -> Result<(), CaError> {
        self.submit(Op::Flush).await
    }
}

async fn commit(ledger: &dyn CertLedger, batch: Vec<Pending>) {
    let alone = batch.len() == 1;
    let mut reservations = Vec::new();
    let mut completions = Vec::new();
    let mut waiting = Vec::with_capacity(batch.len());
    for p in batch {
        let slot = match p.op {
            Op::Reserve(r) => {
                reservations.push(*r);
                Slot::Reserve(reservations.len() - 1)
            }
            Op::Complete(c) => {
                completions.push(c);
                Slot::Complete(completions.len() - 1)
            }
            Op::Flush => Slot::Flush,
        };
        waiting.push((slot, p.done));
    }
    let result = ledger.write_batch(&reservations, &completions).await;
    for (slot, done) in waiting {
        let res = match &result {
            Ok(()) => Ok(()),
            Err(e) if alone => Err(e.to_string()),
            // One bad operation must not fail its neighbours: retry alone.
            Err(_) => match slot {
                Slot::Reserve(i) => {
                    ledger
                        .write_batch(std::slice::from_ref(&reservations[i]), &[])
                        .await
                }
                Slot::Complete(i) => {
                    ledger
                        .write_batch(&[], std::slice::from_ref(&completions[i]))
                        .await
                }
                Slot::Flush => Ok(()),
            }
            .map_err(|e| e.to_string()),
        };
        answer(done, &slot, &completions, res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(serial: &str) -> CertRecord {
        CertRecord {
            serial: serial.into(),
            issuer_id: "test".into(),
            spiffe_id: "spiffe://example.org/w".into(),
            sans: Vec::new(),
            public_key_hash: "00".repeat(32),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-01-01T01:00:00Z".into(),
            requester: "test".into(),
            status: "reserved".into(),
            tbs_der: vec![0x30, 0x00],
            cert_der: None,
            revoked_at: None,
            revocation_reason: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn one_bad_operation_does_not_fail_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
        let ledger = palisade_store::open_ledger(&url).await.unwrap();
        let writer = LedgerWriter::spawn(ledger.clone());
        writer.reserve(reservation("0a")).await.unwrap();
        // Queued together before the writer runs (one-thread runtime), so
        // they share a batch: the serial taken twice fails the batch.
        let (taken, b, c, flushed) = tokio::join!(
            writer.reserve(reservation("0b")),
            writer.reserve(reservation("0a")),
            writer.reserve(reservation("0c")),
            writer.flush(),
        );
        let err = b.expect_err("a serial cannot be reserved twice");
        assert!(matches!(err, CaError::LedgerWrite(_)), "{err}");
        taken.unwrap();
        c.unwrap();
        flushed.unwrap();
        let mut serials: Vec<String> = ledger
            .list_certs(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.serial)
            .collect();
        serials.sort();
        assert_eq!(serials, ["0a", "0b", "0c"]);
    }
}
