//! A data directory populated by the real code paths: a CA that issued and
//! revoked certificates, the example policy bundle recorded as a version, a
//! decision log written by its writer, and a scan of a source tree (with a
//! critical lodash finding) recorded by the gate's signed record.
#![allow(dead_code, reason = "each test crate uses a different part")]

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use palisade_ca::{CaConfig, CertificateAuthority, IssuePolicy, IssueRequest, Requester};
use palisade_compliance::{evidence, Evidence, RuntimeFacts, ScanRecord, Sources};
use palisade_policy::decision_log::{AuditKeys, DecisionEntry, DecisionLog, DecisionLogConfig};
use palisade_policy::{Api, OnEvaluationError, PolicyMetrics, PolicyStore};
use palisade_scanner::report::Format;
use palisade_scanner::scan::{ScanOptions, Target};
use palisade_store::{CertLedger, Store};

#[path = "../../../scanner/tests/support/mod.rs"]
pub mod support;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub ledger: Arc<dyn CertLedger>,
    pub ca: CertificateAuthority,
    pub keys: AuditKeys,
    pub url: String,
}

impl Env {
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn runtime(&self) -> RuntimeFacts {
        let token = self.data().join("admin.token");
        std::fs::write(&token, "t0ken\n").unwrap();
        RuntimeFacts {
            admin_api: true,
            admin_token_file: Some(token),
            tls: true,
            tls_versions: vec!["TLSv1.3".into()],
            client_auth_required: true,
            secrets_backend: format!("local:{}", self.data().join("secrets.json").display()),
            ca_kek: "local".into(),
            data_dir: self.data().to_owned(),
        }
    }

    pub fn sources(&self) -> Sources<'_> {
        Sources {
            store: self.store.as_ref(),
            ledger: Some(self.ledger.as_ref()),
            ca_config: self.ca.config().clone(),
            public_key: self.keys.public_key().to_vec(),
            runtime: self.runtime(),
        }
    }

    pub async fn collect(&self, now: time::OffsetDateTime) -> Vec<Evidence> {
        evidence::collect(&self.sources(), now).await
    }
}

pub async fn populated() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("palisade.db").display());
    let store = palisade_store::open(&url).await.unwrap();
    let ledger = palisade_store::open_ledger(&url).await.unwrap();

    // The CA: two workload certificates, one revoked.
    let kek = Arc::new(palisade_secrets::LocalKek::new(
        &palisade_secrets::MasterKey::generate(),
    ));
    let config = CaConfig {
        trust_domain: "example.org".into(),
        ..Default::default()
    };
    CertificateAuthority::init(ledger.clone(), kek.clone(), &config, false)
        .await
        .unwrap();
    let ca = CertificateAuthority::load(ledger.clone(), kek, config, IssuePolicy::builtin())
        .await
        .unwrap();
    let admin = Requester::Admin("compliance-test".into());
    ca.issue(
        IssueRequest {
            spiffe_id: Some("spiffe://example.org/web".into()),
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    let db = ca
        .issue(
            IssueRequest {
                spiffe_id: Some("spiffe://example.org/db".into()),
                ..Default::default()
            },
            &admin,
        )
        .await
        .unwrap();
    ca.revoke(&db.serial, "keyCompromise").await.unwrap();

    // Policies: the example bundle, recorded as the startup version.
    let examples = support::repo_root().join("examples/policies");
    let _policies = PolicyStore::open(
        &examples,
        store.clone(),
        PolicyMetrics::new(),
        OnEvaluationError::Deny,
    )
    .await
    .unwrap();

    // Decisions through the log's writer.
    let keys = AuditKeys::load_or_create(dir.path()).unwrap();
    let log = DecisionLog::start(
        store.clone(),
        Arc::new(AuditKeys::load_or_create(dir.path()).unwrap()),
        &DecisionLogConfig::default(),
        PolicyMetrics::new(),
    )
    .await
    .unwrap();
    for (i, allowed) in [true, false, true].into_iter().enumerate() {
        log.submit(DecisionEntry {
            time: SystemTime::now(),
            request_id: format!("req-{i}").into(),
            api: Api::Authzen,
            principal: r#"User::"alice""#.into(),
            action: r#"Action::"read""#.into(),
            resource: format!(r#"Document::"d{i}""#),
            context: None,
            attributes: None,
            allowed,
            reasons: vec![],
            errors: vec![],
            policy_version: "v1".into(),
            latency_us: 10,
        });
    }
    log.shutdown().await;

    // A real scan of a source tree, recorded like `palisade gate --record`.
    let dbdir = dir.path().join("db");
    std::fs::create_dir_all(&dbdir).unwrap();
    support::DbSpec::from_fixtures().write(&dbdir.join("trivy.db"));
    let src = dir.path().join("app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("package-lock.json"),
        r#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/lodash":{"version":"4.17.11"}}}"#,
    )
    .unwrap();
    std::fs::write(
        src.join("Cargo.lock"),
        "version = 3\n[[package]]\nname = \"ammonia\"\nversion = \"2.1.2\"\n",
    )
    .unwrap();
    record_scan(&dbdir, &src, &keys, "app", store.as_ref()).await;

    Env {
        dir,
        store,
        ledger,
        ca,
        keys,
        url,
    }
}

/// Scans `src` with the database in `dbdir` and records it in `store`,
/// named `name`.
pub async fn record_scan(
    dbdir: &Path,
    src: &Path,
    keys: &AuditKeys,
    name: &str,
    store: &dyn Store,
) -> ScanRecord {
    let vdb = palisade_scanner::VulnDb::open(dbdir).unwrap();
    let opts = ScanOptions {
        limits: Default::default(),
        platform: Default::default(),
        plain_http: false,
    };
    let mut report =
        palisade_scanner::scan::scan(&vdb, &Target::Fs(src.to_owned()), &opts, &mut |_, _| {})
            .unwrap();
    report.artifact_name = name.to_owned();
    let text = report.render(Format::Json);
    let json = palisade_scanner::report::read_json_report(text.as_bytes()).unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut rec =
        ScanRecord::from_report(&json, text.as_bytes(), false, Some("critical".into()), &now);
    rec.sign(keys);
    rec.keep(store).await.unwrap();
    rec
}
