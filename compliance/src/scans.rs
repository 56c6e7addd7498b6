//! Scan records: what `palisade gate --record` keeps of a gated scan — a
//! signed summary (target, time, counts by severity, the open critical
//! findings, the report's hash) — one JSON file per record under
//! `DATA_DIR/compliance/scans/`. The compliance report reads the latest
//! record per target and ages open criticals from the first record that
//! showed them. A record whose signature does not verify is reported as
//! tampered, never used as evidence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_scanner::report::JsonReport;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ComplianceError;
use crate::jcs;
use crate::signing::{self, Signer};

/// Domain separation of a scan record's signature.
const SIGNING_CONTEXT: &[u8] = b"palisade-scan-record-v1\n";

/// Largest scan record read back (a record lists criticals, not all findings).
const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// A critical finding left open by the gate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenFinding {
    /// Vulnerability id.
    pub id: String,
    /// Package name.
    pub package: String,
    /// Installed version.
    pub installed: String,
    /// Fixed version, empty when none.
    pub fixed: String,
}

/// The signed summary of one gated scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// What was scanned (the report's artifact name).
    pub target: String,
    /// `container_image`, `filesystem`, ...
    pub artifact_type: String,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
    /// Whether the gate passed.
    pub gate_passed: bool,
    /// The gate's threshold, if one was set.
    pub threshold: Option<String>,
    /// Findings left open, by severity (`CRITICAL`, `HIGH`, ...).
    pub counts: BTreeMap<String, u64>,
    /// Findings the gate suppressed (ignore file, VEX, unfixed).
    pub suppressed: u64,
    /// The open critical findings, sorted.
    pub criticals: Vec<OpenFinding>,
    /// SHA-256 of the gated JSON report, hex.
    pub report_sha256: String,
    /// Signing key id.
    pub key_id: String,
    /// Ed25519 signature over the record without this field (JCS), hex.
    pub signature: String,
}

impl ScanRecord {
    /// Summarises a gated JSON report (`report_json` is its exact text).
    pub fn from_report(
        report: &JsonReport,
        report_json: &[u8],
        gate_passed: bool,
        threshold: Option<String>,
        recorded_at: &str,
    ) -> Self {
        let mut counts = BTreeMap::new();
        let mut criticals = Vec::new();
        let mut suppressed = 0u64;
        for r in &report.results {
            suppressed += r.suppressed.len() as u64;
            for f in &r.vulnerabilities {
                let sev = serde_json::to_value(f.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_ascii_uppercase))
                    .unwrap_or_else(|| "UNKNOWN".into());
                if sev == "CRITICAL" {
                    criticals.push(OpenFinding {
                        id: f.id.clone(),
                        package: f.pkg_name.clone(),
                        installed: f.installed_version.clone(),
                        fixed: f.fixed_version.clone(),
                    });
                }
                *counts.entry(sev).or_insert(0) += 1;
            }
        }
        criticals.sort();
        criticals.dedup();
        ScanRecord {
            target: report.artifact_name.clone(),
            artifact_type: report.artifact_type.clone(),
            recorded_at: recorded_at.to_owned(),
            gate_passed,
            threshold,
            counts,
            suppressed,
            criticals,
            report_sha256: hex::encode(Sha256::digest(report_json)),
            key_id: String::new(),
            signature: String::new(),
        }
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("signature");
        }
        let mut msg = SIGNING_CONTEXT.to_vec();
        msg.extend_from_slice(jcs::canonicalize(&v).as_bytes());
        msg
    }

    /// Signs the record with the platform key.
    pub fn sign(&mut self, signer: &dyn Signer) {
        self.key_id = signer.key_id();
        self.signature = hex::encode(signer.sign(&self.signed_message()));
    }

    /// Whether the signature verifies with `public_key`.
    pub fn verify(&self, public_key: &[u8]) -> bool {
        self.key_id == signing::key_id(public_key)
            && hex::decode(&self.signature)
                .is_ok_and(|sig| signing::verify(public_key, &self.signed_message(), &sig))
    }

    /// Writes the record into `dir` (created if missing) atomically and
    /// returns the file's path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ComplianceError> {
        std::fs::create_dir_all(dir).map_err(|e| ComplianceError::io(dir, e))?;
        let text = serde_json::to_string_pretty(self).map_err(ComplianceError::json)? + "\n";
        let digest = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        let stamp: String = self
            .recorded_at
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let path = dir.join(format!("{stamp}-{digest}.json"));
        palisade_secrets::write_atomic(&path, text.as_bytes())
            .map_err(|e| ComplianceError::io(&path, std::io::Error::other(e.to_string())))?;
        Ok(path)
    }
}

/// A record file and the record, or why it cannot be used.
pub type LoadedRecord = (PathBuf, Result<ScanRecord, String>);

/// Every record in `dir`, with whether its signature verifies, oldest first
/// (by `recorded_at`, then file name). A missing directory holds none.
pub fn load_records(dir: &Path, public_key: &[u8]) -> Result<Vec<LoadedRecord>, ComplianceError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ComplianceError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e.map_err(|e| ComplianceError::io(dir, e))?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let rec = read_record(&path).and_then(|r| {
            if r.verify(public_key) {
                Ok(r)
            } else {
                Err(
                    "signature does not verify with the platform key: the record was altered"
                        .into(),
                )
            }
        });
        out.push((path, rec));
    }
    out.sort_by(|a, b| {
        let t = |x: &LoadedRecord| {
            x.1.as_ref()
                .map(|r| r.recorded_at.clone())
                .unwrap_or_default()
        };
        t(a).cmp(&t(b)).then_with(|| a.0.cmp(&b.0))
    });
    Ok(out)
}

fn read_record(path: &Path) -> Result<ScanRecord, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(format!("over {MAX_RECORD_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("not a scan record: {e}"))
}
