//! Report history: every generated report is kept (JSON, one file per
//! report under `DATA_DIR/compliance/reports/FRAMEWORK/`), and
//! [`diff`] says which controls changed status between two of them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::assess::{Report, Status};
use crate::error::ComplianceError;

/// Largest stored report read back.
const MAX_REPORT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Writes `bytes` to `path` all-or-nothing: a temporary file in the same
/// directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ComplianceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let io = |e| ComplianceError::io(path, e);
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Keeps `report` (its JSON export) in `dir/FRAMEWORK/` and returns the path.
/// File names sort by generation time.
pub fn keep(dir: &Path, report: &Report, json: &str) -> Result<PathBuf, ComplianceError> {
    let fdir = dir.join(&report.framework.id);
    std::fs::create_dir_all(&fdir).map_err(|e| ComplianceError::io(&fdir, e))?;
    let stamp: String = report
        .generated_at
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let digest = &crate::jcs::digest(&serde_json::Value::String(json.to_owned()))[..12];
    let path = fdir.join(format!("{stamp}-{digest}.json"));
    write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// The stored reports of `framework`, oldest first.
pub fn stored(dir: &Path, framework: &str) -> Result<Vec<PathBuf>, ComplianceError> {
    let fdir = dir.join(framework);
    let entries = match std::fs::read_dir(&fdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ComplianceError::io(&fdir, e)),
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    Ok(out)
}

/// Reads a report written by the JSON export.
pub fn read(path: &Path) -> Result<Report, ComplianceError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| ComplianceError::io(path, e))?;
    let mut bytes = Vec::new();
    f.take(MAX_REPORT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| ComplianceError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ComplianceError::Json(format!("{}: not a compliance report: {e}", path.display()))
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
    let mut out = Vec::new();
    for c in &new.controls {
        let before = old.controls.iter().find(|o| o.id == c.id).map(|o| o.status);
        if before != Some(c.status) {
            out.push(StatusChange {
                control: c.id.clone(),
                before,
                after: Some(c.status),
            });
        }
    }
    for o in &old.controls {
        if !new.controls.iter().any(|c| c.id == o.id) {
            out.push(StatusChange {
                control: o.id.clone(),
                before: Some(o.status),
                after: None,
            });
        }
    }
    out
}
