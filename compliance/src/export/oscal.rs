//! OSCAL assessment results (JSON), release [`OSCAL_VERSION`]: every
//! document validates with NIST's published JSON schema of that release and
//! with compliance-trestle (see `compliance/schemas/README.md`).
//!
//! - one `result` for the report; `reviewed-controls` selects every control;
//! - one `observation` per check result (method `TEST`), its
//!   `relevant-evidence` pointing at back-matter resources;
//! - one back-matter `resource` per evidence piece, carrying the evidence
//!   itself (canonical JSON, base64) and its SHA-256;
//! - one `finding` per control: `target.status.state` is `satisfied` only
//!   for `pass`; Palisade's own status is `target.status.reason` and a prop.
//!
//! UUIDs are version 5, derived from the content, so a report renders to
//! the same document every time. Every UUID referenced is defined in the
//! document (`import-ap` points at a back-matter resource describing the
//! plan: the check registry and the framework's mapping).

use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::assess::{Report, Status};
use crate::error::ComplianceError;
use crate::jcs;

/// The OSCAL version written.
pub const OSCAL_VERSION: &str = "1.2.1";
/// Namespace of Palisade's OSCAL props.
const NS: &str = "https://example.org/palisade/ns/oscal";

/// An OSCAL token for a control id: letters, digits, `.`, `-`, `_`,
/// starting with a letter (`164.312(a)(1)` becomes `hipaa-164.312_a_1`).
pub(crate) fn token(framework: &str, id: &str) -> String {
    let mut t = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' => {
                t.push(c.to_ascii_lowercase())
            }
            ')' => {}
            _ => t.push('_'),
        }
    }
    let t = t.trim_end_matches('_').to_owned();
    if t.starts_with(|c: char| c.is_ascii_alphabetic()) {
        t
    } else {
        format!("{framework}-{t}")
    }
}

pub(super) fn render(r: &Report) -> Result<String, ComplianceError> {
    let report_value = serde_json::to_value(r).map_err(ComplianceError::json)?;
    let doc_uuid = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("palisade:oscal:{}", jcs::digest(&report_value)).as_bytes(),
    );
    let id = |kind: &str, name: &str| {
        Uuid::new_v5(&doc_uuid, format!("{kind}:{name}").as_bytes()).to_string()
    };
    let plan = id("plan", &r.framework.id);
    let status_prop =
        |s: Status| json!({ "name": "palisade-status", "ns": NS, "value": s.as_str() });

    let mut resources = vec![json!({
        "uuid": plan,
        "title": format!("Assessment plan: Palisade's check registry and its {} mapping", r.framework.title),
        "description": format!("Automated checks and control mappings from {}; how statuses are derived: {}", r.framework.file, r.rules.join(" ")),
    })];
    for e in &r.evidence {
        let content = jcs::canonicalize(&e.content);
        resources.push(json!({
            "uuid": id("evidence", &e.id),
            "title": e.title,
            "description": format!("Evidence {} from {}, observed {}, collected {}", e.id, e.source, e.observed_at, e.collected_at),
            "props": [
                { "name": "evidence-id", "ns": NS, "value": e.id },
                { "name": "source", "ns": NS, "value": e.source },
                { "name": "content-sha256", "ns": NS, "value": e.sha256 },
            ],
            "base64": {
                "filename": format!("{}.json", token(&r.framework.id, &e.id.replace(':', "_"))),
                "media-type": "application/json",
                "value": base64::engine::general_purpose::STANDARD.encode(content.as_bytes()),
            },
        }));
    }
    let mut observations = Vec::new();
    for k in &r.checks {
        let collected = k
            .evidence
            .iter()
            .filter_map(|e| super::evidence_of(r, e))
            .map(|e| e.observed_at.as_str())
            .min()
            .unwrap_or(r.generated_at.as_str());
        let mut obs = json!({
            "uuid": id("observation", &k.check),
            "title": format!("Check {}", k.check),
            "description": k.detail,
            "props": [
                { "name": "check-id", "ns": NS, "value": k.check },
                { "name": "check-status", "ns": NS, "value": k.status.as_str() },
            ],
            "methods": ["TEST"],
            "collected": collected,
        });
        let rel: Vec<Value> = k
            .evidence
            .iter()
            .filter(|e| super::evidence_of(r, e).is_some())
            .map(|e| json!({ "href": format!("#{}", id("evidence", e)), "description": format!("Evidence {e}") }))
            .collect();
        if !rel.is_empty() {
            obs["relevant-evidence"] = Value::Array(rel);
        }
        observations.push(obs);
    }
    let mut findings = Vec::new();
    for c in &r.controls {
        let tok = token(&r.framework.id, &c.id);
        let mut f = json!({
            "uuid": id("finding", &c.id),
            "title": format!("{} {}", c.id, c.title),
            "description": c.reason,
            "props": [
                { "name": "label", "value": c.id },
                status_prop(c.status),
                { "name": "automation", "ns": NS, "value": c.automation.as_str() },
            ],
            "target": {
                "type": "objective-id",
                "target-id": format!("{tok}_obj"),
                "status": {
                    "state": if c.status == Status::Pass { "satisfied" } else { "not-satisfied" },
                    "reason": c.status.as_str().replace('_', "-"),
                },
            },
        });
        let rel: Vec<Value> = c
            .checks
            .iter()
            .filter(|k| super::check_of(r, k).is_some())
            .map(|k| json!({ "observation-uuid": id("observation", k) }))
            .collect();
        if !rel.is_empty() {
            f["related-observations"] = Value::Array(rel);
        }
        findings.push(f);
    }
    let doc = json!({
        "assessment-results": {
            "uuid": doc_uuid.to_string(),
            "metadata": {
                "title": format!("{} — Palisade compliance assessment", r.framework.title),
                "last-modified": r.generated_at,
                "version": r.framework.version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": format!("#{plan}") },
            "results": [{
                "uuid": id("result", &r.framework.id),
                "title": format!("{} assessment", r.framework.title),
                "description": format!(
                    "{} controls: {} pass, {} fail, {} manual, {} waived, {} not applicable.",
                    r.summary.total, r.summary.pass, r.summary.fail, r.summary.manual, r.summary.waived, r.summary.not_applicable
                ),
                "start": r.generated_at,
                "reviewed-controls": {
                    "control-selections": [{
                        "include-controls": r.controls.iter().map(|c| json!({ "control-id": token(&r.framework.id, &c.id) })).collect::<Vec<_>>(),
                    }],
                },
                "observations": observations,
                "findings": findings,
            }],
            "back-matter": { "resources": resources },
        }
    });
    Ok(serde_json::to_string_pretty(&doc).map_err(ComplianceError::json)? + "\n")
}
