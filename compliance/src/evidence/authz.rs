//! Authorization evidence: the current policy version (schema, a default-deny
//! probe), the policy change history, and the decision log (chain
//! verification, last record).

use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use palisade_policy::{DecisionRequest, OnEvaluationError, PolicyBundle, PolicyVersion};
use serde_json::json;

use super::{unavailable, Evidence, Sources};

/// Most policy versions listed in the history evidence.
const HISTORY: u32 = 100;
/// Most default-deny probes run (one per action and principal type).
const MAX_PROBES: usize = 200;
/// The probe's entity id: no real policy names it.
const PROBE_ID: &str = "palisade-compliance-probe";

pub(super) async fn collect(s: &Sources<'_>, at: &str) -> Vec<Evidence> {
    vec![policy_versions(s, at).await, decision_log(s, at).await]
}

async fn policy_versions(s: &Sources<'_>, at: &str) -> Evidence {
    let versions = match s.store.policy_versions(HISTORY).await {
        Ok(v) => v,
        Err(e) => return unavailable("policy.versions", "policy.versions", at, e.to_string()),
    };
    let history: Vec<_> = versions
        .iter()
        .map(|v| json!({ "etag": v.etag, "source": v.source, "created_at": v.created_at }))
        .collect();
    let current = match versions.first() {
        None => json!(null),
        Some(v) => match serde_json::from_str::<PolicyBundle>(&v.bundle)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                PolicyVersion::compile(b, OnEvaluationError::Deny).map_err(|e| e.to_string())
            }) {
            Err(e) => json!({ "etag": v.etag, "compiles": false, "error": e }),
            Ok(version) => {
                let probes = probe(&version);
                let allowed: Vec<_> = probes.iter().filter(|p| p.1).map(|p| p.0.clone()).collect();
                json!({
                    "etag": v.etag,
                    "source": v.source,
                    "created_at": v.created_at,
                    "compiles": true,
                    "policies": version.policy_count(),
                    "has_schema": version.schema().is_some(),
                    "probes": probes.len(),
                    "probes_allowed": allowed.len(),
                    "allowed_examples": allowed.into_iter().take(20).collect::<Vec<_>>(),
                })
            }
        },
    };
    Evidence::new(
        "policy.versions",
        "policy.versions",
        format!("{} policy version(s) recorded", versions.len()),
        at.to_owned(),
        at,
        json!({ "versions": versions.len(), "current": current, "history": history }),
    )
}

fn uid(ty: &EntityTypeName) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(PROBE_ID))
}

/// Asks the version, for each action, whether an entity no policy names may
/// do it. Returns `(request, allowed)`.
fn probe(version: &PolicyVersion) -> Vec<(String, bool)> {
    let fallback = |n: &str| EntityTypeName::from_str(n).ok();
    let mut actions = version.actions();
    if actions.is_empty() {
        actions.extend(EntityUid::from_str(r#"Action::"read""#).ok());
    }
    let mut out = Vec::new();
    for action in actions {
        let (principals, resources): (Vec<EntityTypeName>, Vec<EntityTypeName>) =
            match version.schema() {
                Some(schema) => (
                    schema
                        .principals_for_action(&action)
                        .map(|i| i.cloned().collect())
                        .unwrap_or_default(),
                    schema
                        .resources_for_action(&action)
                        .map(|i| i.cloned().collect())
                        .unwrap_or_default(),
                ),
                None => (
                    fallback("User").into_iter().collect(),
                    fallback("Resource").into_iter().collect(),
                ),
            };
        for p in &principals {
            for r in resources.iter().take(1) {
                if out.len() >= MAX_PROBES {
                    return out;
                }
                let req = DecisionRequest {
                    principal: uid(p),
                    action: action.clone(),
                    resource: uid(r),
                    context: None,
                    entities: None,
                };
                let d = version.decide(&req);
                out.push((
                    format!("{} {} {}", req.principal, req.action, req.resource),
                    d.allowed,
                ));
            }
        }
    }
    out
}

async fn decision_log(s: &Sources<'_>, at: &str) -> Evidence {
    let report = match palisade_policy::decision_log::verify(s.store, &s.public_key).await {
        Ok(r) => r,
        Err(e) => return unavailable("decision-log", "decision-log", at, e.to_string()),
    };
    let last = match report.last_seq {
        Some(seq) => match s.store.decisions_after(seq - 1, 1).await {
            Ok(r) => r.first().map(|r| r.time.clone()),
            Err(e) => return unavailable("decision-log", "decision-log", at, e.to_string()),
        },
        None => None,
    };
    let head = s.store.chain_head().await.ok().flatten();
    Evidence::new(
        "decision-log",
        "decision-log",
        match &report.broken {
            None => format!("decision log: {} records verified", report.records),
            Some(b) => format!("decision log BROKEN at record {}", b.seq),
        },
        at.to_owned(),
        at,
        json!({
            "records_verified": report.records,
            "first_seq": report.first_seq,
            "last_seq": report.last_seq,
            "intact": report.is_intact(),
            "broken": report.broken,
            "checkpoint": report.checkpoint.as_ref().map(|c| json!({ "seq": c.seq, "created_at": c.created_at, "key_id": c.key_id })),
            "head_hash": head.map(|h| h.hash),
            "last_record_at": last,
        }),
    )
}
