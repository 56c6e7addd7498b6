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

impl Pending {
    fn answer(self, res: Result<(), String>) {
        match (self.done, &self.op, res) {
            (Some(done), _, res) => {
                let _ = done.send(res);
            }
            (None, Op::Complete(c), Err(e)) => tracing::warn!(
                serial = %c.serial,
                error = %e,
                "could not record a signed certificate; its reservation stays and the CA \
                 re-derives it when it next opens the ledger"
            ),
            (None, _, _) => {}
        }
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
    let split = |b: &[Pending]| {
        let mut r = Vec::new();
        let mut c = Vec::new();
        for p in b {
            match &p.op {
                Op::Reserve(x) => r.push((**x).clone()),
                Op::Complete(x) => c.push(x.clone()),
                Op::Flush => {}
            }
        }
        (r, c)
    };
    let (r, c) = split(&batch);
    match ledger.write_batch(&r, &c).await {
        Ok(()) => {
            for p in batch {
                p.answer(Ok(()));
            }
        }
        Err(_) if batch.len() > 1 => {
            // One bad operation must not fail its neighbours: retry alone.
            for p in batch {
                let (r, c) = split(std::slice::from_ref(&p));
                let res = ledger.write_batch(&r, &c).await.map_err(|e| e.to_string());
                p.answer(res);
            }
        }
        Err(e) => {
            for p in batch {
                p.answer(Err(e.to_string()));
            }
        }
    }
}
