//! Report history: every generated report is kept in the platform's store
//! (its JSON export, with the framework, generation time and SHA-256; see
//! [`palisade_store::Store::keep_report`]), so the history lives wherever
//! the rest of Palisade's state does — the SQLite file (and its backups) or
//! the shared PostgreSQL database — and [`diff`] says which controls
//! changed status between two reports.

use palisade_store::{ReportRecord, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::assess::{Report, Status};
use crate::error::ComplianceError;

/// Keeps `report`, whose JSON export is `json`, in the store's history and
/// returns its id there.
pub async fn keep(store: &dyn Store, report: &Report, json: &str) -> Result<i64, ComplianceError> {
    let record = ReportRecord {
        framework: report.framework.id.clone(),
        generated_at: report.generated_at.clone(),
        digest: hex::encode(Sha256::digest(json.as_bytes())),
        report: json.to_owned(),
    };
    Ok(store.keep_report(&record).await?)
}

/// The last two reports kept for `framework`, older first; `None` while
/// fewer than two are kept.
pub async fn last_two(
    store: &dyn Store,
    framework: &str,
) -> Result<Option<(Report, Report)>, ComplianceError> {
    let kept = store.reports(framework, 2).await?;
    let [new, old] = kept.as_slice() else {
        return Ok(None);
    };
    Ok(Some((read(old)?, read(new)?)))
}

/// A kept report, parsed back; its digest is checked first.
fn read(record: &ReportRecord) -> Result<Report, ComplianceError> {
    let digest = hex::encode(Sha256::digest(record.report.as_bytes()));
    if digest != record.digest {
        return Err(ComplianceError::Json(format!(
            "the kept {} report of {} does not match its SHA-256 (stored {}, now {digest})",
            record.framework, record.generated_at, record.digest
        )));
    }
    serde_json::from_str(&record.report).map_err(|e| {
        ComplianceError::Json(format!(
            "the kept {} report of {} is not a compliance report: {e}",
            record.framework, record.generated_at
        ))
    })
}

/// A control whose status differs between two reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Control id.
    pub control: String,
    /// Status before (`None`: the control is new).
    pub before: Option<Status>,
    /// Status after (`None`: the control was removed).
    pub after: Option<Status>,
}

/// The controls whose status changed from `old` to `new`, in `new`'s order
/// (removed controls last).
pub fn diff(old: &Report, new: &Report) -> Vec<StatusChange> {
    let before: std::collections::HashMap<&str, Status> = old
        .controls
        .iter()
        .map(|o| (o.id.as_str(), o.status))
        .collect();
    let after: std::collections::HashSet<&str> =
        new.controls.iter().map(|c| c.id.as_str()).collect();
    let mut out = Vec::new();
    for c in &new.controls {
        let before = before.get(c.id.as_str()).copied();
        if before != Some(c.status) {
            out.push(StatusChange {
                control: c.id.clone(),
                before,
                after: Some(c.status),
            });
        }
    }
    for o in &old.controls {
        if !after.contains(o.id.as_str()) {
            out.push(StatusChange {
                control: o.id.clone(),
                before: Some(o.status),
                after: None,
            });
        }
    }
    out
}
