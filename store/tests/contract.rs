//! One contract, two backends: every test here runs against the embedded
//! SQLite store and against a real PostgreSQL server (started on 127.0.0.1
//! by `scripts/services/postgres.sh`; the tests fail when it cannot start),
//! and once more against a PostgreSQL server that accepts TLS only, through
//! a URL asking for `sslmode=verify-full` with the server's CA as
//! `sslrootcert` (`scripts/services/postgres-tls.sh`).

use std::collections::HashSet;
use std::sync::Arc;

use palisade_store::{
    CertCompletion, CertFilter, CertLedger, CertRecord, ChainedRecord, Checkpoint, IssuerRecord,
    JoinTokenRecord, PolicyVersionRecord, ReportRecord, ScanRecordRow, SecretEvent, SecretMetadata,
    Store, StoreError, StoreEvent,
};

/// A backend under test: the store and the ledger on one database.
struct Backend {
    store: Arc<dyn Store>,
    ledger: Arc<dyn CertLedger>,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    Backend {
        store: palisade_store::open(&url).await.unwrap(),
        ledger: palisade_store::open_ledger(&url).await.unwrap(),
        url,
        _dir: Some(dir),
    }
}

async fn postgres() -> Backend {
    let url = tokio::task::spawn_blocking(palisade_testkit::postgres_database)
        .await
        .unwrap();
    postgres_at(url).await
}

async fn postgres_tls() -> Backend {
    let (url, ca) = tokio::task::spawn_blocking(palisade_testkit::postgres_tls_database)
        .await
        .unwrap();
    postgres_at(format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        ca.display()
    ))
    .await
}

async fn postgres_at(url: String) -> Backend {
    Backend {
        store: palisade_store::open(&url).await.unwrap(),
        ledger: palisade_store::open_ledger(&url).await.unwrap(),
        url,
        _dir: None,
    }
}

/// Runs each named contract against both backends.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::sqlite().await).await })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::postgres().await).await })*
        }
        mod postgres_tls_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::postgres_tls().await).await })*
        }
    };
}

contract!(
    decision_log_appends_in_order_and_reads_back,
    decision_log_refuses_gaps_and_stale_heads,
    retention_leaves_checkpoint_as_head,
    policy_versions_newest_first,
    ledger_reserve_complete_revoke_list,
    serials_never_collide_between_handles,
    issuers_tokens_crl_numbers_bundle_sequence,
    latest_crls_per_issuer_read_only,
    compliance_reports_kept_per_framework,
    secret_metadata_per_backend_and_name,
    scan_records_last_ones_oldest_first,
    reopening_keeps_everything,
);

fn rec(seq: i64, time: &str) -> ChainedRecord {
    ChainedRecord {
        seq,
        time: time.into(),
        record: format!("{{\"seq\":{seq}}}"),
        prev_hash: format!("h{}", seq - 1),
        hash: format!("h{seq}"),
    }
}

fn cert(serial: &str, created_at: &str) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        issuer_id: "i1".into(),
        spiffe_id: "spiffe://example.org/a".into(),
        sans: vec!["a.example.org".into(), "10.0.0.1".into()],
        public_key_hash: "00".into(),
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2026-01-01T01:00:00Z".into(),
        requester: "admin".into(),
        status: "reserved".into(),
        tbs_der: vec![1, 2, 3, 0, 255],
        cert_der: None,
        revoked_at: None,
        revocation_reason: None,
        created_at: created_at.into(),
    }
}

async fn decision_log_appends_in_order_and_reads_back(b: Backend) {
    let s = b.store;
    assert_eq!(s.chain_head().await.unwrap(), None);
    // More than one statement's worth of rows in one append.
    let batch: Vec<_> = (1..=2_500)
        .map(|i| rec(i, "2026-01-01T00:00:00Z"))
        .collect();
    s.append_decisions(&batch).await.unwrap();
    s.append_decisions(&[]).await.unwrap();
    let head = s.chain_head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (2_500, "h2500"));
    let page = s.decisions_after(100, 10).await.unwrap();
    assert_eq!(page, batch[100..110].to_vec());
    let all = s.decisions_after(0, 10_000).await.unwrap();
    assert_eq!(all, batch, "every record back, byte for byte, in order");
    // The chain links as written.
    assert!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash));
}

async fn decision_log_refuses_gaps_and_stale_heads(b: Backend) {
    let s = b.store;
    s.append_decisions(&[rec(1, "t")]).await.unwrap();
    let err = s
        .append_decisions(&[rec(2, "t"), rec(4, "t")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::OutOfOrder { got: 4, .. }),
        "{err}"
    );
    let err = s.append_decisions(&[rec(3, "t")]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutOfOrder {
                expected: 2,
                got: 3
            }
        ),
        "{err}"
    );
    // A writer whose head is stale (another writer appended seq 2 first).
    s.append_decisions(&[rec(2, "t")]).await.unwrap();
    let err = s.append_decisions(&[rec(2, "t")]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutOfOrder {
                expected: 3,
                got: 2
            }
        ),
        "{err}"
    );
    assert_eq!(s.chain_head().await.unwrap().unwrap().seq, 2);
    assert_eq!(s.decisions_after(0, 10).await.unwrap().len(), 2);
}

async fn retention_leaves_checkpoint_as_head(b: Backend) {
    let s = b.store;
    s.append_decisions(&[
        rec(1, "2026-01-01T00:00:00Z"),
        rec(2, "2026-01-02T00:00:00Z"),
        rec(3, "2026-01-03T00:00:00Z"),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.last_decision_before("2026-01-01T00:00:00Z")
            .await
            .unwrap(),
        None
    );
    let cut = s
        .last_decision_before("2026-01-02T12:00:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cut.seq, cut.hash.as_str()), (2, "h2"));
    let cp = Checkpoint {
        seq: cut.seq,
        hash: cut.hash,
        created_at: "2026-01-04T00:00:00Z".into(),
        key_id: "k".into(),
        signature: "s".into(),
    };
    assert_eq!(s.latest_checkpoint().await.unwrap(), None);
    assert_eq!(s.prune_decisions(&cp).await.unwrap(), 2);
    assert_eq!(s.latest_checkpoint().await.unwrap(), Some(cp.clone()));
    assert_eq!(
        s.decisions_after(0, 10).await.unwrap(),
        vec![rec(3, "2026-01-03T00:00:00Z")]
    );
    let cp3 = Checkpoint {
        seq: 3,
        hash: "h3".into(),
        ..cp
    };
    assert_eq!(s.prune_decisions(&cp3).await.unwrap(), 1);
    // Everything pruned: the head is the checkpoint and appends continue.
    let head = s.chain_head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (3, "h3"));
    assert!(s.append_decisions(&[rec(1, "t")]).await.is_err());
    s.append_decisions(&[rec(4, "t")]).await.unwrap();
    assert_eq!(s.chain_head().await.unwrap().unwrap().seq, 4);
}

async fn policy_versions_newest_first(b: Backend) {
    let s = b.store;
    let mut events = s.events();
    if let Some(rx) = events.as_mut() {
        // The listener is up (and re-checking is due) once Resync arrives.
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv()).await;
        assert_eq!(first.expect("listener starts").unwrap(), StoreEvent::Resync);
    }
    let mut ids = Vec::new();
    for etag in ["a", "b", "c"] {
        ids.push(
            s.record_policy_version(&PolicyVersionRecord {
                etag: etag.into(),
                source: "admin-api".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                bundle: format!(
                    "{{\"etag\":\"{etag}\",\"text\":\"permit(principal, action, resource);\"}}"
                ),
            })
            .await
            .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids grow: {ids:?}");
    let v = s.policy_versions(2).await.unwrap();
    assert_eq!(
        v.iter().map(|v| v.etag.as_str()).collect::<Vec<_>>(),
        ["c", "b"]
    );
    assert!(v[0].bundle.contains("permit(principal"));
    // PostgreSQL announces each version to every replica.
    if let Some(rx) = events.as_mut() {
        let mut seen = 0;
        while seen < 3 {
            let e = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
                .await
                .expect("policy events arrive")
                .unwrap();
            if e == StoreEvent::PolicyVersion {
                seen += 1;
            }
        }
    } else {
        assert!(b.url.starts_with("sqlite:"), "PostgreSQL sends events");
    }
}

async fn ledger_reserve_complete_revoke_list(b: Backend) {
    let l = b.ledger;
    let serial = |i: usize| format!("{i:040x}");
    let first: Vec<_> = (0..45)
        .map(|i| cert(&serial(i), &format!("2026-01-01T00:00:{i:02}Z")))
        .collect();
    l.write_batch(&first, &[]).await.unwrap();
    // Reservations and completions share a transaction (group commit).
    let done = |i: usize| CertCompletion {
        serial: serial(i),
        cert_der: vec![i as u8, 0xde, 0xad],
    };
    l.write_batch(
        &[cert(&serial(45), "2026-01-01T00:01:00Z")],
        &(0..40).map(done).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let c = l.cert(&serial(7)).await.unwrap().unwrap();
    assert_eq!(c.status, "issued");
    assert_eq!(c.cert_der, Some(vec![7, 0xde, 0xad]));
    assert_eq!(c.tbs_der, vec![1, 2, 3, 0, 255]);
    assert_eq!(c.sans, vec!["a.example.org".to_owned(), "10.0.0.1".into()]);
    assert_eq!(
        l.cert(&serial(44)).await.unwrap().unwrap().status,
        "reserved"
    );
    assert_eq!(l.cert("ffff").await.unwrap(), None);
    // Reserved and never completed, oldest first: what recovery completes.
    let incomplete: Vec<String> = l
        .incomplete_certs()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert_eq!(incomplete, (40..46).map(serial).collect::<Vec<_>>());

    // Completing again with the same certificate is a no-op (a recovery
    // re-derived it, deterministic signatures); with other bytes it is not.
    l.write_batch(&[], &[done(3)]).await.unwrap();
    let other = |i: usize| CertCompletion {
        serial: serial(i),
        cert_der: vec![0xee],
    };
    // One bad completion fails the whole batch, its reservation included.
    for bad in [
        vec![done(41), other(41)],
        vec![done(42), done(999)],
        vec![done(43), other(3)],
    ] {
        assert!(l.write_batch(&[cert("ffff", "t")], &bad).await.is_err());
        assert_eq!(l.cert("ffff").await.unwrap(), None);
        for i in 41..44 {
            assert_eq!(
                l.cert(&serial(i)).await.unwrap().unwrap().status,
                "reserved"
            );
        }
    }

    assert!(l
        .revoke_cert(&serial(1), "keyCompromise", "2026-01-01T00:30:00Z")
        .await
        .unwrap());
    // Revoking twice keeps the first time and reason.
    assert!(l
        .revoke_cert(&serial(1), "superseded", "2026-01-01T00:40:00Z")
        .await
        .unwrap());
    assert!(!l.revoke_cert("ff", "keyCompromise", "t").await.unwrap());
    let revoked = l.revoked_certs("i1", "2026-01-01T00:00:00Z").await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0].revocation_reason.as_deref(),
        Some("keyCompromise")
    );
    assert_eq!(
        revoked[0].revoked_at.as_deref(),
        Some("2026-01-01T00:30:00Z")
    );
    assert_eq!(revoked[0].status, "revoked");
    // Expired before the cut-off: off the CRL.
    assert!(l
        .revoked_certs("i1", "2026-01-01T02:00:00Z")
        .await
        .unwrap()
        .is_empty());

    let list = |f: CertFilter| {
        let l = l.clone();
        async move { l.list_certs(&f).await.unwrap() }
    };
    let all = list(CertFilter::default()).await;
    assert_eq!(all.len(), 46);
    assert_eq!(all[0].serial, serial(45), "newest first");
    let issued = list(CertFilter {
        statuses: vec!["issued".into(), "revoked".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(issued.len(), 40);
    let limited = list(CertFilter {
        spiffe_id: Some("spiffe://example.org/a".into()),
        statuses: vec!["reserved".into()],
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(limited.len(), 3);
    assert!(list(CertFilter {
        spiffe_id: Some("spiffe://example.org/other".into()),
        ..Default::default()
    })
    .await
    .is_empty());
    assert_eq!(
        list(CertFilter {
            expires_before: Some("2026-01-01T02:00:00Z".into()),
            expires_after: Some("2026-01-01T00:30:00Z".into()),
            ..Default::default()
        })
        .await
        .len(),
        46
    );
    assert!(list(CertFilter {
        expires_after: Some("2026-01-01T01:00:00Z".into()),
        ..Default::default()
    })
    .await
    .is_empty());
}

async fn serials_never_collide_between_handles(b: Backend) {
    // Two handles on one database stand for two replicas.
    let a = b.ledger;
    let other = palisade_store::open_ledger(&b.url).await.unwrap();
    a.write_batch(&[cert("01", "t")], &[]).await.unwrap();
    let err = other
        .write_batch(&[cert("02", "t"), cert("01", "t")], &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Query(_) | StoreError::LedgerWrite(_)),
        "{err}"
    );
    assert_eq!(a.cert("02").await.unwrap(), None, "the batch failed whole");

    // Many concurrent reservations from both handles: all distinct serials
    // land, a reused one never does.
    let mut tasks = Vec::new();
    for (h, ledger) in [a.clone(), other.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            for i in 0..50 {
                let s = format!("{h}{i:03}");
                ledger.write_batch(&[cert(&s, "t")], &[]).await.unwrap();
                // Everyone also tries the same contested serial.
                if ledger
                    .write_batch(&[cert("contested", "t")], &[])
                    .await
                    .is_ok()
                {
                    ok.push("contested".to_owned());
                }
                ok.push(s);
            }
            ok
        }));
    }
    let mut landed = Vec::new();
    for t in tasks {
        landed.extend(t.await.unwrap());
    }
    assert_eq!(landed.iter().filter(|s| *s == "contested").count(), 1);
    let unique: HashSet<_> = landed.iter().collect();
    assert_eq!(unique.len(), landed.len());
    let stored = a
        .list_certs(&CertFilter {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1 + 100 + 1);
}

async fn issuers_tokens_crl_numbers_bundle_sequence(b: Backend) {
    let l = b.ledger;
    let issuer = |id: &str, created: &str| IssuerRecord {
        id: id.into(),
        kind: "intermediate".into(),
        status: "active".into(),
        cert_pem: "-----BEGIN CERTIFICATE-----".into(),
        sealed_key: Some("{\"sealed\":true}".into()),
        parent_id: Some("root".into()),
        not_after: "2027-01-01T00:00:00Z".into(),
        created_at: created.into(),
    };
    l.put_issuer(&issuer("b", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    l.put_issuer(&issuer("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    l.put_issuer(&issuer("c", "2025-01-01T00:00:00Z"))
        .await
        .unwrap();
    let mut retiring = issuer("b", "ignored");
    retiring.status = "retiring".into();
    retiring.sealed_key = None;
    l.put_issuer(&retiring).await.unwrap();
    let all = l.issuers().await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"],
        "oldest first, then insertion order"
    );
    assert_eq!(
        (all[1].status.as_str(), all[1].sealed_key.as_deref()),
        ("retiring", None)
    );
    assert_eq!(
        all[1].created_at, "2026-01-01T00:00:00Z",
        "only status and key change"
    );

    let t = JoinTokenRecord {
        token_hash: "h".into(),
        spiffe_id: "spiffe://example.org/a".into(),
        expires_at: "2026-01-01T01:00:00Z".into(),
        created_by: "admin".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        used_at: None,
    };
    l.put_join_token(&t).await.unwrap();
    assert!(
        l.put_join_token(&t).await.is_err(),
        "a token hash is stored once"
    );
    assert_eq!(
        l.burn_join_token("h", "2026-01-01T02:00:00Z")
            .await
            .unwrap(),
        None,
        "expired"
    );
    let burnt = l
        .burn_join_token("h", "2026-01-01T00:10:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(burnt.used_at.as_deref(), Some("2026-01-01T00:10:00Z"));
    assert_eq!(
        l.burn_join_token("h", "2026-01-01T00:11:00Z")
            .await
            .unwrap(),
        None,
        "burnt"
    );

    let mut last = 0;
    for _ in 0..5 {
        let n = l.next_crl_number("a", "t").await.unwrap();
        assert!(n > last);
        last = n;
    }

    assert_eq!(l.bundle_sequence("d1", "t").await.unwrap(), 1);
    assert_eq!(l.bundle_sequence("d1", "t").await.unwrap(), 1, "unchanged");
    assert_eq!(l.bundle_sequence("d2", "t").await.unwrap(), 2);
    assert_eq!(
        l.bundle_sequence("d1", "t").await.unwrap(),
        3,
        "back is a change too"
    );
}

async fn latest_crls_per_issuer_read_only(b: Backend) {
    let l = b.ledger;
    assert!(l.latest_crls().await.unwrap().is_empty());
    let a1 = l
        .next_crl_number("a", "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    let b1 = l
        .next_crl_number("b", "2026-01-01T00:05:00Z")
        .await
        .unwrap();
    let a2 = l
        .next_crl_number("a", "2026-01-01T00:10:00Z")
        .await
        .unwrap();
    assert!(a2 > a1);
    let latest = |l: Arc<dyn CertLedger>| async move {
        l.latest_crls()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.issuer_id, r.number, r.created_at))
            .collect::<Vec<_>>()
    };
    let want = vec![
        ("a".to_owned(), a2, "2026-01-01T00:10:00Z".to_owned()),
        ("b".to_owned(), b1, "2026-01-01T00:05:00Z".to_owned()),
    ];
    assert_eq!(latest(l.clone()).await, want, "newest per issuer");
    // Reading takes no number: the next one follows a2 directly.
    assert_eq!(latest(l.clone()).await, want);
    let a3 = l.next_crl_number("a", "t").await.unwrap();
    assert!(a3 > a2);
    let after: Vec<_> = l.latest_crls().await.unwrap();
    assert_eq!(after[0].number, a3);
}

async fn compliance_reports_kept_per_framework(b: Backend) {
    let s = b.store;
    assert!(s.reports("soc2", 2).await.unwrap().is_empty());
    let report = |framework: &str, at: &str| ReportRecord {
        framework: framework.into(),
        generated_at: at.into(),
        digest: format!("d-{framework}-{at}"),
        // Reports are large documents: more than a page of text each.
        report: format!(
            "{{\"framework\":\"{framework}\",\"pad\":\"{}\"}}",
            "x".repeat(100_000)
        ),
    };
    let mut ids = Vec::new();
    for (framework, at) in [
        ("soc2", "2026-01-01T00:00:00Z"),
        ("hipaa", "2026-01-01T00:00:01Z"),
        ("soc2", "2026-01-01T00:00:02Z"),
        // The clock went back: the history keeps the order of keeping.
        ("soc2", "2025-12-31T00:00:00Z"),
    ] {
        ids.push(s.keep_report(&report(framework, at)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids grow: {ids:?}");
    let soc2 = s.reports("soc2", 2).await.unwrap();
    assert_eq!(
        soc2,
        vec![
            report("soc2", "2025-12-31T00:00:00Z"),
            report("soc2", "2026-01-01T00:00:02Z")
        ],
        "the last two, newest first, byte for byte"
    );
    assert_eq!(s.reports("soc2", 10).await.unwrap().len(), 3);
    assert_eq!(
        s.reports("hipaa", 10).await.unwrap(),
        vec![report("hipaa", "2026-01-01T00:00:01Z")]
    );
    assert!(s.reports("gdpr", 10).await.unwrap().is_empty());
    // Another handle (a replica, or the CLI beside the server) sees them.
    let other = palisade_store::open(&b.url).await.unwrap();
    assert_eq!(other.reports("soc2", 1).await.unwrap(), soc2[..1].to_vec());
}

async fn secret_metadata_per_backend_and_name(b: Backend) {
    let s = b.store;
    let local = "local:/srv/palisade/secrets.json";
    assert!(s.secret_metadata(local).await.unwrap().is_empty());
    let event =
        |backend: &str, name: &str, version: Option<&str>, at: &str, actor: &str| SecretEvent {
            backend: backend.into(),
            name: name.into(),
            version: version.map(Into::into),
            operation: if version.is_some() { "put" } else { "delete" }.into(),
            at: at.into(),
            actor: actor.into(),
        };
    for e in [
        event(
            local,
            "db/password",
            Some("1"),
            "2026-01-01T00:00:00Z",
            "alice",
        ),
        event(local, "api/key", Some("1"), "2026-01-01T00:00:01Z", "alice"),
        event(
            local,
            "db/password",
            Some("2"),
            "2026-02-01T00:00:00Z",
            "bob",
        ),
        event(local, "api/key", None, "2026-02-02T00:00:00Z", "bob"),
        // Same name in another backend: another secret.
        event(
            "openbao+http://127.0.0.1:8200/secret",
            "db/password",
            Some("7"),
            "2026-03-01T00:00:00Z",
            "ci",
        ),
    ] {
        s.record_secret_event(&e).await.unwrap();
    }
    let meta = s.secret_metadata(local).await.unwrap();
    assert_eq!(
        meta,
        vec![
            SecretMetadata {
                name: "api/key".into(),
                latest_version: Some("1".into()),
                versions: 1,
                updated_at: "2026-02-02T00:00:00Z".into(),
                updated_by: "bob".into(),
                deleted: true,
            },
            SecretMetadata {
                name: "db/password".into(),
                latest_version: Some("2".into()),
                versions: 2,
                updated_at: "2026-02-01T00:00:00Z".into(),
                updated_by: "bob".into(),
                deleted: false,
            },
        ]
    );
    // Another handle (a replica, or the CLI beside the server) sees them.
    let other = palisade_store::open(&b.url).await.unwrap();
    let bao = other
        .secret_metadata("openbao+http://127.0.0.1:8200/secret")
        .await
        .unwrap();
    assert_eq!(bao.len(), 1);
    assert_eq!(bao[0].latest_version.as_deref(), Some("7"));
}

async fn scan_records_last_ones_oldest_first(b: Backend) {
    let s = b.store;
    assert!(s.scan_records(10).await.unwrap().is_empty());
    let row = |target: &str, at: &str| ScanRecordRow {
        target: target.into(),
        recorded_at: at.into(),
        digest: format!("d-{target}-{at}"),
        record: format!("{{\"target\":\"{target}\",\"recorded_at\":\"{at}\"}}"),
    };
    let kept = [
        row("app:1", "2026-01-01T00:00:00Z"),
        row("app:2", "2026-01-01T00:00:01Z"),
        row("app:1", "2026-01-01T00:00:02Z"),
        // The clock went back: records keep the order of keeping.
        row("db:7", "2025-12-31T00:00:00Z"),
    ];
    let mut ids = Vec::new();
    for r in &kept {
        ids.push(s.keep_scan_record(r).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids grow: {ids:?}");
    let all: Vec<_> = ids.iter().copied().zip(kept.iter().cloned()).collect();
    assert_eq!(
        s.scan_records(10).await.unwrap(),
        all,
        "every record, oldest first, byte for byte"
    );
    assert_eq!(
        s.scan_records(2).await.unwrap(),
        all[2..].to_vec(),
        "the bound keeps the newest ones, still oldest first"
    );
    assert!(s.scan_records(0).await.unwrap().is_empty());
    // Another handle (a replica, or the CLI beside the server) sees them.
    let other = palisade_store::open(&b.url).await.unwrap();
    assert_eq!(other.scan_records(1).await.unwrap(), all[3..].to_vec());
}

async fn reopening_keeps_everything(b: Backend) {
    b.store
        .append_decisions(&[rec(1, "t"), rec(2, "t")])
        .await
        .unwrap();
    b.ledger.write_batch(&[cert("0a", "t")], &[]).await.unwrap();
    // Singleton jobs: granted; with PostgreSQL, exclusive across handles.
    let guard = b
        .store
        .try_singleton("retention")
        .await
        .unwrap()
        .expect("free");
    let again = palisade_store::open(&b.url).await.unwrap();
    let held = again.try_singleton("retention").await.unwrap();
    if b.url.starts_with("sqlite:") {
        assert!(held.is_some(), "one process: always granted");
    } else {
        assert!(held.is_none(), "another replica holds it");
    }
    drop(held);
    guard.release().await;
    assert!(again.try_singleton("retention").await.unwrap().is_some());
    let crl = b.ledger.singleton("crl").await.unwrap();
    crl.release().await;

    drop((b.store, b.ledger));
    // Migrations are idempotent: opening again runs none and loses nothing.
    let store = palisade_store::open(&b.url).await.unwrap();
    let ledger = palisade_store::open_ledger(&b.url).await.unwrap();
    assert_eq!(store.chain_head().await.unwrap().unwrap().seq, 2);
    assert!(ledger.cert("0a").await.unwrap().is_some());
}
