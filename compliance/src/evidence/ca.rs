//! CA evidence: issuers and how their keys are kept, the ledger (lifetimes,
//! issuance volume, revocations, entries left reserved), the CRL and the
//! trust bundle. Everything is read from the ledger: collecting evidence
//! writes nothing (no CRL is signed, no CRL number taken).

use palisade_store::{CertFilter, CrlNumberRecord, IssuerRecord};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{parse_time, rfc3339, unavailable, Evidence, Sources};

/// Longest lifetime still called short-lived.
pub(crate) const SHORT_LIVED_SECONDS: i64 = 24 * 3600;
/// A reservation older than this without a signed certificate is stuck.
const RESERVED_GRACE_SECONDS: i64 = 600;
/// Most ledger entries read (the newest ones).
const MAX_LEDGER_ENTRIES: u32 = 1_000_000;
/// Most serials listed per problem.
const MAX_LISTED: usize = 20;

pub(super) async fn collect(s: &Sources<'_>, now: OffsetDateTime, at: &str) -> Vec<Evidence> {
    let mut out = Vec::new();
    let Some(ledger) = s.ledger else {
        for (id, title) in [("ca.issuers", "CA issuers"), ("ca.ledger", "CA ledger")] {
            out.push(unavailable(
                id,
                id,
                at,
                format!("{title}: no ledger in this store"),
            ));
        }
        return out;
    };
    let issuers = ledger.issuers().await;
    match &issuers {
        Ok(issuers) => {
            let list: Vec<_> = issuers
                .iter()
                .map(|i| {
                    let key = match &i.sealed_key {
                        None => "offline".to_owned(),
                        Some(k) => match serde_json::from_str::<palisade_secrets::SealedBlob>(k) {
                            Ok(b) if b.format == "palisade-envelope/1" => {
                                format!("sealed ({}, kek {})", b.format, b.kek)
                            }
                            _ => "unrecognised".to_owned(),
                        },
                    };
                    json!({
                        "id": i.id, "kind": i.kind, "status": i.status,
                        "not_after": i.not_after, "created_at": i.created_at, "key": key,
                    })
                })
                .collect();
            out.push(Evidence::new(
                "ca.issuers",
                "ca.issuers",
                format!("{} CA issuer(s) in the ledger", list.len()),
                at.to_owned(),
                at,
                json!({ "issuers": list }),
            ));
        }
        Err(e) => out.push(unavailable("ca.issuers", "ca.issuers", at, e.to_string())),
    }
    let filter = CertFilter {
        limit: MAX_LEDGER_ENTRIES,
        ..CertFilter::default()
    };
    match ledger.list_certs(&filter).await {
        Ok(certs) => {
            let month_ago = now - time::Duration::days(30);
            let (mut issued, mut revoked, mut reserved, mut last_30d, mut unexpired) =
                (0u64, 0u64, 0u64, 0u64, 0u64);
            let mut longest = 0i64;
            let mut over: Vec<String> = Vec::new();
            let mut over_count = 0u64;
            let mut stuck: Vec<String> = Vec::new();
            let mut stuck_count = 0u64;
            for c in &certs {
                match c.status.as_str() {
                    "issued" => issued += 1,
                    "revoked" => revoked += 1,
                    _ => reserved += 1,
                }
                let (nb, na, created) = (
                    parse_time(&c.not_before),
                    parse_time(&c.not_after),
                    parse_time(&c.created_at),
                );
                if created.is_some_and(|t| t >= month_ago) {
                    last_30d += 1;
                }
                if c.status == "reserved"
                    && created.is_some_and(|t| (now - t).whole_seconds() > RESERVED_GRACE_SECONDS)
                {
                    stuck_count += 1;
                    if stuck.len() < MAX_LISTED {
                        stuck.push(c.serial.clone());
                    }
                }
                if c.status == "issued" && na.is_some_and(|t| t > now) {
                    unexpired += 1;
                    let life = match (nb, na) {
                        (Some(a), Some(b)) => (b - a).whole_seconds(),
                        _ => i64::MAX,
                    };
                    longest = longest.max(life);
                    if life > SHORT_LIVED_SECONDS {
                        over_count += 1;
                        if over.len() < MAX_LISTED {
                            over.push(c.serial.clone());
                        }
                    }
                }
            }
            out.push(Evidence::new(
                "ca.ledger",
                "ca.ledger",
                format!(
                    "{} ledger entries: {issued} issued, {revoked} revoked, {last_30d} in the last 30 days",
                    certs.len()
                ),
                at.to_owned(),
                at,
                json!({
                    "entries": certs.len(),
                    "truncated": certs.len() as u64 >= u64::from(MAX_LEDGER_ENTRIES),
                    "by_status": { "issued": issued, "revoked": revoked, "reserved": reserved },
                    "issued_last_30_days": last_30d,
                    "unexpired_issued": unexpired,
                    "longest_unexpired_lifetime_seconds": longest,
                    "short_lived_limit_seconds": SHORT_LIVED_SECONDS,
                    "over_limit": over_count,
                    "over_limit_serials": over,
                    "stuck_reserved": stuck_count,
                    "stuck_reserved_serials": stuck,
                }),
            ));
        }
        Err(e) => out.push(unavailable("ca.ledger", "ca.ledger", at, e.to_string())),
    }
    match (&issuers, &ledger.latest_crls().await) {
        (Ok(issuers), Ok(crls)) => out.push(crl_evidence(s, issuers, crls, at)),
        (Err(e), _) | (_, Err(e)) => out.push(unavailable("ca.crl", "ca.crl", at, e.to_string())),
    }
    match &issuers {
        Ok(issuers) => out.push(bundle_evidence(s, issuers, at)),
        Err(e) => out.push(unavailable("ca.bundle", "ca.bundle", at, e.to_string())),
    }
    out
}

fn not_retired(i: &&IssuerRecord) -> bool {
    i.status != "retired"
}

/// The newest CRL signed by the active intermediate, as the ledger recorded
/// it: its number and thisUpdate; nextUpdate follows from the configured
/// CRL lifetime. Read from the ledger only: collecting evidence never signs
/// a CRL or takes a CRL number.
fn crl_evidence(
    s: &Sources<'_>,
    issuers: &[IssuerRecord],
    crls: &[CrlNumberRecord],
    at: &str,
) -> Evidence {
    let Some(active) = issuers
        .iter()
        .rev()
        .find(|i| i.kind == "intermediate" && i.status == "active")
    else {
        return unavailable(
            "ca.crl",
            "ca.crl",
            at,
            "the CA is not initialised: no active intermediate".into(),
        );
    };
    let Some(crl) = crls.iter().find(|c| c.issuer_id == active.id) else {
        return unavailable(
            "ca.crl",
            "ca.crl",
            at,
            format!(
                "the active intermediate {} has never signed a CRL",
                active.id
            ),
        );
    };
    let ttl = time::Duration::try_from(s.ca_config.crl_ttl).unwrap_or(time::Duration::ZERO);
    let next_update = parse_time(&crl.created_at).map(|t| rfc3339(t + ttl));
    Evidence::new(
        "ca.crl",
        "ca.crl",
        format!(
            "CRL #{} of {}, signed {}",
            crl.number, crl.issuer_id, crl.created_at
        ),
        at.to_owned(),
        at,
        json!({
            "issuer_id": crl.issuer_id,
            "number": crl.number,
            "this_update": crl.created_at,
            "next_update": next_update,
            "crl_ttl_seconds": s.ca_config.crl_ttl.as_secs(),
        }),
    )
}

/// The trust bundle as the ledger holds it: roots and intermediates not
/// retired.
fn bundle_evidence(s: &Sources<'_>, issuers: &[IssuerRecord], at: &str) -> Evidence {
    let roots: Vec<String> = issuers
        .iter()
        .filter(|i| i.kind == "root")
        .filter(not_retired)
        .filter_map(|i| palisade_ca::pem_to_der(&i.cert_pem).ok())
        .map(|d| hex::encode(Sha256::digest(d)))
        .collect();
    let intermediates = issuers
        .iter()
        .filter(|i| i.kind == "intermediate")
        .filter(not_retired)
        .count();
    Evidence::new(
        "ca.bundle",
        "ca.bundle",
        format!("trust bundle with {} root(s)", roots.len()),
        at.to_owned(),
        at,
        json!({
            "trust_domain": s.ca_config.trust_domain,
            "roots_sha256": roots,
            "intermediates": intermediates,
        }),
    )
}
