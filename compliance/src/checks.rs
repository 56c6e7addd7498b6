//! The automated checks: each reads the evidence of its source and decides
//! pass or fail, with a sentence saying why. Evidence older than the check's
//! freshness window makes the result `stale`; no evidence at all makes it
//! `no_evidence`. Only `pass` counts as passing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::catalog::CheckDef;
use crate::evidence::{parse_time, Evidence};

/// Every check the engine implements, with the evidence source it reads.
pub const IMPLEMENTED: &[(&str, &str)] = &[
    ("ca.initialized", "ca.issuers"),
    ("ca.short-lived-certs", "ca.ledger"),
    ("ca.issuance-recorded", "ca.ledger"),
    ("ca.revocation-published", "ca.crl"),
    ("ca.key-sealed", "ca.issuers"),
    ("ca.trust-bundle", "ca.bundle"),
    ("authz.default-deny", "policy.versions"),
    ("authz.schema-enforced", "policy.versions"),
    ("authz.change-history", "policy.versions"),
    ("audit.chain-intact", "decision-log"),
    ("audit.log-active", "decision-log"),
    ("admin.api-protected", "runtime.config"),
    ("transport.mtls", "runtime.config"),
    ("scan.recent", "scans"),
    ("scan.no-open-criticals", "scans"),
    ("secrets.backend-encrypted", "runtime.secrets"),
    ("secrets.no-plaintext-keys", "runtime.data-dir"),
];

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The evidence shows what passing means.
    Pass,
    /// The evidence shows it does not.
    Fail,
    /// The evidence is older than the freshness window.
    Stale,
    /// There is no usable evidence.
    NoEvidence,
}

impl CheckStatus {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Stale => "stale",
            CheckStatus::NoEvidence => "no_evidence",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id.
    pub check: String,
    /// Outcome.
    pub status: CheckStatus,
    /// Why, in one sentence.
    pub detail: String,
    /// The evidence it read (ids).
    pub evidence: Vec<String>,
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn available(e: &Evidence) -> Result<(), String> {
    if e.content.get("available") == Some(&Value::Bool(false)) {
        Err(format!(
            "{} is not available: {}",
            e.source,
            s(&e.content, "reason")
        ))
    } else {
        Ok(())
    }
}

/// Evaluates `def` on `evidence` (all pieces, any source) at `now`.
pub fn evaluate(def: &CheckDef, evidence: &[Evidence], now: OffsetDateTime) -> CheckResult {
    let mine: Vec<&Evidence> = evidence.iter().filter(|e| e.source == def.source).collect();
    let ids = mine.iter().map(|e| e.id.clone()).collect();
    let result = |status, detail: String| CheckResult {
        check: def.id.clone(),
        status,
        detail,
        evidence: ids,
    };
    if mine.is_empty() {
        return result(
            CheckStatus::NoEvidence,
            format!("no evidence from {}", def.source),
        );
    }
    if let Some(Err(why)) = mine.iter().map(|e| available(e)).find(Result::is_err) {
        return result(CheckStatus::NoEvidence, why);
    }
    let (pass, detail) = decide(&def.id, &mine, now, def.freshness_hours);
    if !pass {
        return result(CheckStatus::Fail, detail);
    }
    let window = time::Duration::hours(def.freshness_hours as i64);
    if let Some(old) = mine
        .iter()
        .find(|e| parse_time(&e.observed_at).is_none_or(|t| now - t > window))
    {
        return result(
            CheckStatus::Stale,
            format!(
                "{} was observed at {}, older than the {} h freshness window",
                old.id, old.observed_at, def.freshness_hours
            ),
        );
    }
    result(CheckStatus::Pass, detail)
}

fn decide(id: &str, ev: &[&Evidence], now: OffsetDateTime, fresh_h: u64) -> (bool, String) {
    let c = &ev[0].content;
    let not_expired = |t: &str| parse_time(t).is_some_and(|t| t > now);
    match id {
        "ca.initialized" => {
            let issuers = c["issuers"].as_array().cloned().unwrap_or_default();
            let active = |kind: &str| {
                issuers.iter().any(|i| {
                    s(i, "kind") == kind
                        && s(i, "status") == "active"
                        && not_expired(s(i, "not_after"))
                })
            };
            let ok = active("root") && active("intermediate");
            (
                ok,
                if ok {
                    "an active, unexpired root and intermediate exist".into()
                } else {
                    "no active, unexpired root and intermediate: run `palisade ca init` or rotate"
                        .into()
                },
            )
        }
        "ca.key-sealed" => {
            let bad: Vec<String> = c["issuers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| s(i, "status") != "retired")
                .filter(|i| {
                    !(s(i, "key").starts_with("sealed")
                        || (s(i, "key") == "offline" && s(i, "kind") == "root"))
                })
                .map(|i| format!("{} {} ({})", s(i, "kind"), s(i, "id"), s(i, "key")))
                .collect();
            match (
                bad.is_empty(),
                c["issuers"].as_array().is_some_and(|a| !a.is_empty()),
            ) {
                (_, false) => (false, "no CA issuer exists".into()),
                (true, true) => (
                    true,
                    "every online issuer key is sealed (roots may be offline)".into(),
                ),
                (false, true) => (false, format!("keys not sealed: {}", bad.join(", "))),
            }
        }
        "ca.short-lived-certs" => {
            let over = u(c, "over_limit");
            if over == 0 {
                (
                    true,
                    format!(
                        "{} unexpired certificate(s), the longest lives {} s (limit {} s)",
                        u(c, "unexpired_issued"),
                        c["longest_unexpired_lifetime_seconds"],
                        u(c, "short_lived_limit_seconds")
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "{over} unexpired certificate(s) live longer than {} s",
                        u(c, "short_lived_limit_seconds")
                    ),
                )
            }
        }
        "ca.issuance-recorded" => {
            let stuck = u(c, "stuck_reserved");
            if stuck == 0 {
                (true, format!(
                    "{} issued and {} revoked entries, none left reserved; {} issued in the last 30 days",
                    c["by_status"]["issued"], c["by_status"]["revoked"], u(c, "issued_last_30_days")
                ))
            } else {
                (
                    false,
                    format!("{stuck} ledger entr(y/ies) reserved without a recorded certificate"),
                )
            }
        }
        "ca.revocation-published" => {
            let next = s(c, "next_update");
            if not_expired(next) {
                (true, format!("CRL #{} next update {next}", c["number"]))
            } else {
                (false, format!("the CRL's nextUpdate {next} has passed"))
            }
        }
        "ca.trust-bundle" => {
            let n = c["roots_sha256"].as_array().map_or(0, Vec::len);
            (n > 0, format!("the bundle holds {n} root(s)"))
        }
        "authz.default-deny" => {
            let cur = &c["current"];
            if cur.is_null() {
                (false, "no policy version is recorded in the store".into())
            } else if !b(cur, "compiles") {
                (
                    false,
                    format!(
                        "the current policy version does not compile: {}",
                        s(cur, "error")
                    ),
                )
            } else if u(cur, "probes") == 0 {
                (
                    false,
                    "no probe could be run against the current version".into(),
                )
            } else if u(cur, "probes_allowed") > 0 {
                (
                    false,
                    format!(
                        "{} of {} requests from an unknown principal were allowed, e.g. {}",
                        u(cur, "probes_allowed"),
                        u(cur, "probes"),
                        cur["allowed_examples"][0]
                    ),
                )
            } else {
                (
                    true,
                    format!(
                        "all {} requests from an unknown principal were denied by version {}",
                        u(cur, "probes"),
                        s(cur, "etag")
                    ),
                )
            }
        }
        "authz.schema-enforced" => {
            let cur = &c["current"];
            if b(cur, "has_schema") {
                (
                    true,
                    format!("version {} is validated against its schema", s(cur, "etag")),
                )
            } else {
                (
                    false,
                    "the current policy version has no schema: policies are not validated".into(),
                )
            }
        }
        "authz.change-history" => {
            let n = u(c, "versions");
            (
                n > 0,
                format!("{n} policy version(s) recorded with source and time"),
            )
        }
        "audit.chain-intact" => {
            if b(c, "intact") {
                (
                    true,
                    format!(
                        "{} record(s) verified, seq {}..{}",
                        u(c, "records_verified"),
                        c["first_seq"],
                        c["last_seq"]
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "the chain breaks at record {}: {}",
                        c["broken"]["seq"],
                        s(&c["broken"], "reason")
                    ),
                )
            }
        }
        "audit.log-active" => {
            let last = s(c, "last_record_at");
            match parse_time(last) {
                None => (false, "the decision log holds no record".into()),
                Some(t) if now - t > time::Duration::hours(fresh_h as i64) => (
                    false,
                    format!("the last decision was logged at {last}, more than {fresh_h} h ago"),
                ),
                Some(_) => (true, format!("the last decision was logged at {last}")),
            }
        }
        "admin.api-protected" => {
            if !b(c, "admin_api") {
                (true, "the admin API is off".into())
            } else if b(c, "admin_token_present") {
                (
                    true,
                    "the admin API requires the bearer token in the configured file".into(),
                )
            } else {
                (
                    false,
                    "the admin API is on and no bearer token file is present".into(),
                )
            }
        }
        "transport.mtls" => {
            let only13 = c["tls_versions"]
                .as_array()
                .is_some_and(|v| !v.is_empty() && v.iter().all(|x| x == "TLSv1.3"));
            match (b(c, "tls"), only13, b(c, "client_auth_required")) {
                (false, _, _) => (false, "the API is served without TLS (set ca.tls)".into()),
                (true, false, _) => (
                    false,
                    format!(
                        "TLS versions {} include more than TLS 1.3",
                        c["tls_versions"]
                    ),
                ),
                (true, true, false) => (
                    false,
                    "client certificates are optional on admin or issuance routes (set ca.client_auth.admin and ca.client_auth.issuance = \"required\")".into(),
                ),
                (true, true, true) => (true, "TLS 1.3 only, client certificates required".into()),
            }
        }
        "scan.recent" => {
            let valid: Vec<&&Evidence> = ev.iter().filter(|e| b(&e.content, "valid")).collect();
            let invalid = ev.len() - valid.len();
            if invalid > 0 {
                (
                    false,
                    format!("{invalid} scan record(s) do not verify: they were altered"),
                )
            } else {
                let newest = valid
                    .iter()
                    .map(|e| e.observed_at.as_str())
                    .max()
                    .unwrap_or("");
                (
                    !valid.is_empty(),
                    format!("{} target(s) scanned, newest record {newest}", valid.len()),
                )
            }
        }
        "scan.no-open-criticals" => {
            let mut open = Vec::new();
            let mut invalid = 0;
            for e in ev {
                if !b(&e.content, "valid") {
                    invalid += 1;
                    continue;
                }
                for f in e.content["open_criticals"].as_array().into_iter().flatten() {
                    open.push(format!(
                        "{} in {} on {} (open since {})",
                        s(f, "id"),
                        s(f, "package"),
                        s(&e.content, "target"),
                        s(f, "first_seen")
                    ));
                }
            }
            if invalid > 0 {
                (
                    false,
                    format!("{invalid} scan record(s) do not verify: they were altered"),
                )
            } else if open.is_empty() {
                (
                    true,
                    format!(
                        "no open critical finding in the latest scan of {} target(s)",
                        ev.len()
                    ),
                )
            } else {
                let n = open.len();
                open.truncate(5);
                (
                    false,
                    format!("{n} open critical finding(s): {}", open.join("; ")),
                )
            }
        }
        "secrets.backend-encrypted" => {
            let kind = s(c, "kind");
            (
                crate::evidence::backend_is_encrypting(kind),
                format!("the secrets backend is {kind} ({})", s(c, "backend")),
            )
        }
        "secrets.no-plaintext-keys" => {
            let pem = c["plaintext_pem_keys"].as_array().map_or(0, Vec::len);
            let open = c["key_files_readable_by_others"]
                .as_array()
                .map_or(0, Vec::len);
            if pem == 0 && open == 0 {
                (
                    true,
                    format!(
                        "{} file(s) examined, no plaintext PEM key, key files owner-only",
                        u(c, "files_examined")
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "{pem} plaintext PEM key file(s), {open} key file(s) readable by others"
                    ),
                )
            }
        }
        other => (false, format!("check `{other}` has no implementation")),
    }
}
