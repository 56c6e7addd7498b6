//! Scan evidence: the latest signed record of each target in the store, with
//! its open criticals aged from the first record that showed them (among the
//! last [`MAX_SCAN_RECORDS`]). A record whose digest or signature fails is
//! evidence of tampering, not of a scan.

use std::collections::BTreeMap;

use serde_json::json;

use super::{unavailable, Evidence, Sources};
use crate::scans::{load_records, ScanRecord, MAX_SCAN_RECORDS};

pub(super) async fn collect(s: &Sources<'_>, at: &str) -> Vec<Evidence> {
    let records = match load_records(s.store, &s.public_key, MAX_SCAN_RECORDS).await {
        Ok(r) => r,
        Err(e) => return vec![unavailable("scans", "scans", at, e.to_string())],
    };
    let mut out = Vec::new();
    let mut first_seen: BTreeMap<(&str, &str, &str), &str> = BTreeMap::new();
    let mut latest: BTreeMap<&str, &ScanRecord> = BTreeMap::new();
    for (id, rec) in &records {
        match rec {
            Ok(r) => {
                for c in &r.criticals {
                    first_seen
                        .entry((r.target.as_str(), c.id.as_str(), c.package.as_str()))
                        .or_insert(r.recorded_at.as_str());
                }
                latest.insert(r.target.as_str(), r);
            }
            Err(reason) => out.push(Evidence::new(
                format!("scans:invalid:{id}"),
                "scans",
                format!("scan record #{id} is invalid"),
                at.to_owned(),
                at,
                json!({ "valid": false, "record_id": id, "reason": reason }),
            )),
        }
    }
    for (target, r) in latest {
        let criticals: Vec<_> = r
            .criticals
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "package": c.package, "installed": c.installed, "fixed": c.fixed,
                    "first_seen": first_seen.get(&(target, c.id.as_str(), c.package.as_str())).copied().unwrap_or(r.recorded_at.as_str()),
                })
            })
            .collect();
        out.push(Evidence::new(
            format!("scans:{target}"),
            "scans",
            format!(
                "{target}: {} open critical(s), gate {}",
                criticals.len(),
                if r.gate_passed { "passed" } else { "failed" }
            ),
            r.recorded_at.clone(),
            at,
            json!({
                "valid": true,
                "target": target,
                "artifact_type": r.artifact_type,
                "recorded_at": r.recorded_at,
                "gate_passed": r.gate_passed,
                "threshold": r.threshold,
                "counts": r.counts,
                "suppressed": r.suppressed,
                "open_criticals": criticals,
                "report_sha256": r.report_sha256,
                "key_id": r.key_id,
                "signature": r.signature,
            }),
        ));
    }
    out
}
