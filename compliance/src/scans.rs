//! Scan records: what `palisade gate --record` keeps of a gated scan — a
//! signed summary (target, time, counts by severity, the open critical
//! findings, the report's hash) — in the platform's store (SQLite or the
//! shared PostgreSQL database; see [`palisade_store::Store::keep_scan_record`]).
//! The gate signs it with the platform key when it runs beside the data
//! directory, or posts the unsigned summary to `palisade serve`, which
//! stamps and signs it ([`ScanRecord::from_posted`]): a CI runner never
//! holds the key. The compliance report reads the latest record per target
//! and ages open criticals from the first record that showed them. A record
//! whose digest or signature does not verify is reported as tampered, never
//! used as evidence.

use std::collections::BTreeMap;

use palisade_scanner::report::JsonReport;
use palisade_store::{ScanRecordRow, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ComplianceError;
use crate::jcs;
use crate::signing::{self, Signer};

/// Domain separation of a scan record's signature.
const SIGNING_CONTEXT: &[u8] = b"palisade-scan-record-v1\n";

/// How many of the most recent records the evidence reads: open criticals
/// are aged from the first of them that showed the finding.
pub const MAX_SCAN_RECORDS: u32 = 10_000;

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
            // A configuration scan's findings: a critical one is kept with
            // the file in place of the package and the offending object and
            // field in place of the version.
            suppressed += r.suppressed_misconfigurations.len() as u64;
            for m in &r.misconfigurations {
                let sev = m.severity.as_str().to_ascii_uppercase();
                if sev == "CRITICAL" {
                    criticals.push(OpenFinding {
                        id: m.id.clone(),
                        package: m.file.clone(),
                        installed: format!("{} {}", m.object, m.field),
                        fixed: String::new(),
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

    /// A summary posted to `POST /v1/compliance/scans` (an unsigned
    /// record, as [`ScanRecord::from_report`] makes it), stamped with the
    /// receiver's clock; sign it next. `Err` says why the body is not one.
    pub fn from_posted(body: &[u8], recorded_at: &str) -> Result<Self, ComplianceError> {
        let mut rec: ScanRecord = serde_json::from_slice(body)
            .map_err(|e| ComplianceError::Usage(format!("not a scan summary: {e}")))?;
        if rec.target.trim().is_empty() {
            return Err(ComplianceError::Usage(
                "not a scan summary: `target` is empty".into(),
            ));
        }
        if rec.report_sha256.len() != 64 || hex::decode(&rec.report_sha256).is_err() {
            return Err(ComplianceError::Usage(
                "not a scan summary: `report_sha256` is not a SHA-256 in hex".into(),
            ));
        }
        rec.recorded_at = recorded_at.to_owned();
        rec.key_id.clear();
        rec.signature.clear();
        Ok(rec)
    }

    /// Keeps the (signed) record in `store` and returns its id there.
    pub async fn keep(&self, store: &dyn Store) -> Result<i64, ComplianceError> {
        let record = serde_json::to_string(self).map_err(ComplianceError::json)?;
        let row = ScanRecordRow {
            target: self.target.clone(),
            recorded_at: self.recorded_at.clone(),
            digest: hex::encode(Sha256::digest(record.as_bytes())),
            record,
        };
        Ok(store.keep_scan_record(&row).await?)
    }
}

/// A kept record's id and the record, or why it cannot be used.
pub type LoadedRecord = (i64, Result<ScanRecord, String>);

/// The last `limit` records kept in `store`, oldest first, each checked:
/// its digest, its shape and its signature with `public_key`.
pub async fn load_records(
    store: &dyn Store,
    public_key: &[u8],
    limit: u32,
) -> Result<Vec<LoadedRecord>, ComplianceError> {
    let rows = store.scan_records(limit).await?;
    Ok(rows
        .into_iter()
        .map(|(id, row)| (id, check_row(&row, public_key)))
        .collect())
}

fn check_row(row: &ScanRecordRow, public_key: &[u8]) -> Result<ScanRecord, String> {
    const ALTERED: &str = "the record was altered";
    if hex::encode(Sha256::digest(row.record.as_bytes())) != row.digest {
        return Err(format!("does not match its SHA-256: {ALTERED}"));
    }
    let rec: ScanRecord =
        serde_json::from_str(&row.record).map_err(|e| format!("not a scan record: {e}"))?;
    if !rec.verify(public_key) {
        return Err(format!(
            "signature does not verify with the platform key: {ALTERED}"
        ));
    }
    if rec.target != row.target || rec.recorded_at != row.recorded_at {
        return Err(format!(
            "its target or time differs from the signed record: {ALTERED}"
        ));
    }
    Ok(rec)
}
