//! Group commit: issuances running at the same time share one ledger
//! transaction (one fsync) instead of paying one each.

use std::sync::Arc;

use palisade_store::{CertCompletion, CertLedger, CertRecord};

use crate::CaError;
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 256;

enum Op {
    Reserve(Box<CertRecord>),
    Complete(CertCompletion),
}

struct Pending {
    op: Op,
    done: oneshot::Sender<Result<(), String>>,
}

/// A handle to the background writer. Each call returns once its operation
/// is committed (durable) or failed.
#[derive(Clone)]
pub(crate) struct LedgerWriter {
    tx: mpsc::Sender<Pending>,
}

impl LedgerWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn spawn(ledger: Arc<dyn CertLedger>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Pending>(4096);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                commit(ledger.as_ref(), std::mem::take(&mut batch)).await;
            }
        });
        Self { tx }
    }

    async fn submit(&self, op: Op) -> Result<(), CaError> {
        let (done, wait) = oneshot::channel();
        let gone = || CaError::LedgerWrite("the ledger writer stopped".into());
        self.tx
            .send(Pending { op, done })
            .await
            .map_err(|_| gone())?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(CaError::LedgerWrite(msg)),
            Err(_) => Err(gone()),
        }
    }

    /// Durably records a reserved (not yet signed) certificate.
    pub(crate) async fn reserve(&self, rec: CertRecord) -> Result<(), CaError> {
        self.submit(Op::Reserve(Box::new(rec))).await
    }

    /// Durably attaches the signed certificate to its reservation.
    pub(crate) async fn complete(&self, c: CertCompletion) -> Result<(), CaError> {
        self.submit(Op::Complete(c)).await
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
            }
        }
        (r, c)
    };
    let (r, c) = split(&batch);
    match ledger.write_batch(&r, &c).await {
        Ok(()) => {
            for p in batch {
                let _ = p.done.send(Ok(()));
            }
        }
        Err(_) if batch.len() > 1 => {
            // One bad operation must not fail its neighbours: retry alone.
            for p in batch {
                let (r, c) = split(std::slice::from_ref(&p));
                let res = ledger.write_batch(&r, &c).await.map_err(|e| e.to_string());
                let _ = p.done.send(res);
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.done.send(Err(e.to_string()));
            }
        }
    }
}
