//! Evidence and statuses from a store populated by the real code paths:
//! what passes, what fails and why, and that tampering, staleness, waivers
//! and attestations change statuses as the rules say.

mod common;

use palisade_compliance::{assess, Attestations, Catalog, CheckStatus, Report, Status};
use sha2::Digest as _;
use time::{Duration, OffsetDateTime};

fn control<'a>(r: &'a Report, id: &str) -> &'a palisade_compliance::ControlResult {
    r.controls
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id}"))
}

fn check<'a>(r: &'a Report, id: &str) -> &'a palisade_compliance::CheckResult {
    r.checks
        .iter()
        .find(|c| c.check == id)
        .unwrap_or_else(|| panic!("{id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_follow_the_evidence() {
    let env = common::populated().await;
    let catalog = Catalog::builtin().unwrap();
    let now = OffsetDateTime::now_utc();
    let ev = env.collect(now).await;
    let ids: Vec<&str> = ev.iter().map(|e| e.id.as_str()).collect();
    for id in [
        "ca.bundle",
        "ca.crl",
        "ca.issuers",
        "ca.ledger",
        "decision-log",
        "policy.versions",
        "runtime.config",
        "runtime.data-dir",
        "runtime.secrets",
        "scans:app",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(ev.iter().all(|e| e.hash_matches()));
    let ledger = &ev.iter().find(|e| e.id == "ca.ledger").unwrap().content;
    assert_eq!(ledger["by_status"]["issued"], 1);
    assert_eq!(ledger["by_status"]["revoked"], 1);
    let log = &ev.iter().find(|e| e.id == "decision-log").unwrap().content;
    assert_eq!(log["records_verified"], 3);

    let none = Attestations::default();
    let soc2 = assess(
        &catalog,
        catalog.framework("soc2").unwrap(),
        &ev,
        &none,
        now,
    );
    for (id, want) in [
        ("ca.initialized", CheckStatus::Pass),
        ("ca.short-lived-certs", CheckStatus::Pass),
        ("ca.issuance-recorded", CheckStatus::Pass),
        ("ca.revocation-published", CheckStatus::Pass),
        ("ca.key-sealed", CheckStatus::Pass),
        ("authz.default-deny", CheckStatus::Pass),
        ("authz.schema-enforced", CheckStatus::Pass),
        ("audit.chain-intact", CheckStatus::Pass),
        ("audit.log-active", CheckStatus::Pass),
        ("transport.mtls", CheckStatus::Pass),
        ("scan.recent", CheckStatus::Pass),
        ("scan.no-open-criticals", CheckStatus::Fail),
        ("secrets.no-plaintext-keys", CheckStatus::Pass),
    ] {
        assert_eq!(
            check(&soc2, id).status,
            want,
            "{id}: {}",
            check(&soc2, id).detail
        );
    }
    assert!(check(&soc2, "scan.no-open-criticals")
        .detail
        .contains("CVE-2019-10744 in lodash on app"));
    // Statuses: evidence-backed pass, failing scan, manual without attestation.
    assert_eq!(
        control(&soc2, "CC6.1").status,
        Status::Pass,
        "{}",
        control(&soc2, "CC6.1").reason
    );
    assert_eq!(control(&soc2, "CC6.8").status, Status::Fail);
    assert!(control(&soc2, "CC6.8")
        .reason
        .contains("scan.no-open-criticals is fail"));
    assert_eq!(control(&soc2, "CC1.1").status, Status::Manual);
    assert_eq!(
        control(&soc2, "CC2.1").status,
        Status::Manual,
        "partial: checks pass, no attestation"
    );
    // Honesty: nothing without checks passes, every status cites evidence of its checks.
    for c in &soc2.controls {
        if c.checks.is_empty() {
            assert_ne!(c.status, Status::Pass, "{}", c.id);
        } else {
            assert!(!c.evidence.is_empty(), "{}", c.id);
            for e in &c.evidence {
                assert!(
                    soc2.evidence.iter().any(|x| &x.id == e),
                    "{} cites missing {e}",
                    c.id
                );
            }
        }
    }
    let hipaa = assess(
        &catalog,
        catalog.framework("hipaa").unwrap(),
        &ev,
        &none,
        now,
    );
    assert_eq!(control(&hipaa, "164.312(b)").status, Status::Pass);
    assert_eq!(control(&hipaa, "164.312(e)(1)").status, Status::Pass);

    // Stale: eight days on, the scan is older than its 168 h window.
    let later = now + Duration::days(8);
    let ev8 = env.collect(later).await;
    let soc2_8 = assess(
        &catalog,
        catalog.framework("soc2").unwrap(),
        &ev8,
        &none,
        later,
    );
    assert_eq!(check(&soc2_8, "scan.recent").status, CheckStatus::Stale);
    assert_eq!(control(&soc2_8, "CC7.1").status, Status::Fail);
    assert!(control(&soc2_8, "CC7.1")
        .reason
        .contains("scan.recent is stale"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waivers_and_attestations() {
    let env = common::populated().await;
    let catalog = Catalog::builtin().unwrap();
    let now = OffsetDateTime::now_utc();
    let ev = env.collect(now).await;
    let tomorrow = (now + Duration::days(1)).date();
    let text = format!(
        "[[waiver]]\ncontrol = \"soc2:CC6.8\"\njustification = \"lodash is build-time only\"\napprover = \"ciso\"\nexpires = {tomorrow}\n\n\
         [[attestation]]\ncontrol = \"soc2:CC2.1\"\nowner = \"ciso\"\ndate = {}\nstatement = \"Logs reviewed weekly\"\nrenewal_days = 30\n",
        now.date()
    );
    let path = env.data().join("attestations.toml");
    let a = Attestations::load(&catalog, &[(&path, &text)]).unwrap();
    let soc2 = assess(&catalog, catalog.framework("soc2").unwrap(), &ev, &a, now);
    assert_eq!(control(&soc2, "CC6.8").status, Status::Waived);
    assert_eq!(control(&soc2, "CC2.1").status, Status::Pass);
    assert!(control(&soc2, "CC2.1").reason.contains("attested"));
    // Three days later the waiver has expired: it stops suppressing and says so.
    let later = now + Duration::days(3);
    let ev3 = env.collect(later).await;
    let soc2_3 = assess(
        &catalog,
        catalog.framework("soc2").unwrap(),
        &ev3,
        &a,
        later,
    );
    let c = control(&soc2_3, "CC6.8");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.waiver_expired && c.reason.contains("waiver expired"),
        "{}",
        c.reason
    );
    // The attestation (30 days) still holds.
    assert_eq!(control(&soc2_3, "CC2.1").status, Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_fails_the_controls_that_rely_on_it() {
    let env = common::populated().await;
    let catalog = Catalog::builtin().unwrap();
    // Alter a decision in the database behind the log's back.
    let pool = sqlx::SqlitePool::connect(&env.url).await.unwrap();
    sqlx::query(
        "UPDATE decision_log SET record = replace(record, 'alice', 'mallory') WHERE seq = 2",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And the scan record in its row, with its digest recomputed: only the
    // signature can tell.
    let (id, text): (i64, String) = sqlx::query_as("SELECT id, record FROM scan_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    let forged = text.replace("\"gate_passed\":false", "\"gate_passed\":true");
    assert_ne!(forged, text);
    sqlx::query("UPDATE scan_records SET record = ?, digest = ? WHERE id = ?")
        .bind(&forged)
        .bind(hex::encode(sha2::Sha256::digest(forged.as_bytes())))
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let now = OffsetDateTime::now_utc();
    let ev = env.collect(now).await;
    let hipaa = assess(
        &catalog,
        catalog.framework("hipaa").unwrap(),
        &ev,
        &Attestations::default(),
        now,
    );
    let chain = check(&hipaa, "audit.chain-intact");
    assert_eq!(chain.status, CheckStatus::Fail);
    assert!(chain.detail.contains("record 2"), "{}", chain.detail);
    assert_eq!(control(&hipaa, "164.312(b)").status, Status::Fail);
    let scans = check(&hipaa, "scan.recent");
    assert_eq!(scans.status, CheckStatus::Fail);
    assert!(scans.detail.contains("altered"), "{}", scans.detail);
    // The forged record is reported, never used as the target's scan.
    let invalid = ev
        .iter()
        .find(|e| e.id == format!("scans:invalid:{id}"))
        .expect("the altered record as invalid evidence");
    assert_eq!(invalid.content["valid"], false);
    let reason = invalid.content["reason"].as_str().unwrap();
    assert!(reason.contains("signature"), "{reason}");
    assert!(!ev.iter().any(|e| e.id == "scans:app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collecting_evidence_changes_nothing_in_the_ca() {
    let env = common::populated().await;
    let before = env.ledger.latest_crls().await.unwrap();
    let issuers = env.ledger.issuers().await.unwrap();
    assert_eq!(before.len(), 1, "the revocation signed one CRL");
    let now = OffsetDateTime::now_utc();
    let first = env.collect(now).await;
    let second = env.collect(now).await;
    // No CRL was signed, no CRL number taken, no issuer touched.
    assert_eq!(env.ledger.latest_crls().await.unwrap(), before);
    assert_eq!(env.ledger.issuers().await.unwrap(), issuers);
    assert_eq!(first, second, "the same evidence both times");
    let crl = &first.iter().find(|e| e.id == "ca.crl").unwrap().content;
    assert_eq!(crl["number"], before[0].number);
    assert_eq!(crl["this_update"], before[0].created_at.as_str());
    // nextUpdate is thisUpdate plus the configured CRL lifetime.
    let this = OffsetDateTime::parse(
        &before[0].created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let next = OffsetDateTime::parse(
        crl["next_update"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(next - this, Duration::hours(24));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_or_store_data_nothing_passes_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = palisade_store::open(&url).await.unwrap();
    let sources = palisade_compliance::Sources {
        store: store.as_ref(),
        ledger: None,
        ca_config: Default::default(),
        public_key: vec![0; 32],
        runtime: palisade_compliance::RuntimeFacts {
            data_dir: dir.path().into(),
            ..Default::default()
        },
    };
    let now = OffsetDateTime::now_utc();
    let ev = palisade_compliance::evidence::collect(&sources, now).await;
    let catalog = Catalog::builtin().unwrap();
    for f in catalog.frameworks() {
        let r = assess(&catalog, f, &ev, &Attestations::default(), now);
        // Only runtime facts that hold without configuration may pass
        // (admin API off, encrypted local secrets, no keys on disk).
        for c in &r.controls {
            if c.status == Status::Pass {
                assert!(
                    c.checks
                        .iter()
                        .all(|id| id.starts_with("secrets.") || id == "admin.api-protected"),
                    "{} passed: {}",
                    c.id,
                    c.reason
                );
            }
        }
        assert!(r.summary.fail > 0);
    }
}
