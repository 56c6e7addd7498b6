//! The CA end to end, checked by independent validators: OpenSSL
//! (`openssl verify`, with and without the CRL), rustls-webpki and pkilint
//! (PyPI), plus the ledger, join tokens, policy, rollover and sealed keys.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use palisade_ca::{
    CaConfig, CaError, CertFilter, CertificateAuthority, IssuePolicy, IssueRequest, IssuedCert,
    KeyAlgorithm, Requester, SpiffeId,
};
use palisade_secrets::{KeyWrapper, LocalKek, MasterKey};
use palisade_store::{
    CertCompletion, CertLedger, CertRecord, CrlNumberRecord, IssuerRecord, JoinTokenRecord,
    StoreError,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};

struct Fixture {
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
    url: String,
    kek: Arc<dyn KeyWrapper>,
}

async fn fixture_with(alg: KeyAlgorithm, kek: Arc<dyn KeyWrapper>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ca.db").display());
    let ledger = palisade_store::open_ledger(&url).await.unwrap();
    let config = CaConfig {
        trust_domain: "example.org".into(),
        key_algorithm: alg,
        ..Default::default()
    };
    CertificateAuthority::init(ledger.clone(), kek.clone(), &config, false)
        .await
        .unwrap();
    let ca = CertificateAuthority::load(ledger, kek.clone(), config, IssuePolicy::builtin())
        .await
        .unwrap();
    Fixture { dir, ca, url, kek }
}

async fn fixture() -> Fixture {
    fixture_with(
        KeyAlgorithm::P256,
        Arc::new(LocalKek::new(&MasterKey::generate())),
    )
    .await
}

fn admin() -> Requester {
    Requester::Admin("test".into())
}

/// Issues a certificate for `spiffe_id` from a fresh P-256 CSR, as an admin.
async fn issue_as_admin(ca: &CertificateAuthority, spiffe_id: &str) -> IssuedCert {
    let (_k, der) = csr(&[spiffe_id], &[]);
    ca.issue(
        IssueRequest {
            csr_der: Some(der),
            ..Default::default()
        },
        &admin(),
    )
    .await
    .unwrap()
}

/// A CSR as a workload would make it.
fn csr(uris: &[&str], dns: &[&str]) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    for u in uris {
        p.subject_alt_names
            .push(SanType::URI((*u).try_into().unwrap()));
    }
    for d in dns {
        p.subject_alt_names
            .push(SanType::DnsName((*d).try_into().unwrap()));
    }
    let der = p.serialize_request(&key).unwrap().der().to_vec();
    (key, der)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// pkilint findings, minus its known false positive on `spiffe://` URIs.
fn pkilint(tool: &str, args: &[&str]) -> Vec<String> {
    let env = support::service("pkilint");
    let bin = Path::new(&env["PKILINT_BIN"]).join(tool);
    let mut cmd = Command::new(&bin);
    cmd.arg("lint")
        .args(["-s", "INFO", "-f", "JSON"])
        .args(args);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{tool} output is not JSON ({e}): {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut findings = Vec::new();
    for r in v["results"].as_array().unwrap() {
        for f in r["finding_descriptions"].as_array().unwrap() {
            let code = f["code"].as_str().unwrap_or_default();
            let sev = f["severity"].as_str().unwrap_or_default();
            if code == "pkix.invalid_uri_syntax" || sev == "INFO" {
                continue;
            }
            findings.push(format!("{sev} {code} {}", f["message"]));
        }
    }
    findings
}

#[tokio::test]
async fn issued_svid_is_valid_for_openssl_webpki_and_pkilint() {
    let f = fixture().await;
    let (_key, der) = csr(&["spiffe://example.org/ns/prod/web"], &["web.example.org"]);
    let svid =
        f.ca.issue(
            IssueRequest {
                csr_der: Some(der),
                ..Default::default()
            },
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(svid.spiffe_id, "spiffe://example.org/ns/prod/web");
    assert!(svid.key_pem.is_none(), "the workload keeps its key");
    let d = f.dir.path();
    let root = write(d, "root.pem", &f.ca.bundle_pem());
    let int = write(d, "int.pem", &f.ca.intermediate_pem());
    let leaf = write(d, "leaf.pem", &svid.cert_pem);

    // OpenSSL, as client and as server certificate.
    for purpose in ["sslclient", "sslserver"] {
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &int,
            "-purpose",
            purpose,
            &leaf,
        ]);
        assert!(ok, "openssl verify ({purpose}): {out}");
    }
    // The certificate's fields, as OpenSSL reads them.
    let (_, text) = openssl(&["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(
        text.contains("URI:spiffe://example.org/ns/prod/web"),
        "{text}"
    );
    assert_eq!(text.matches("URI:").count(), 1, "{text}");
    assert!(text.contains("DNS:web.example.org"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(!text.contains("Key Encipherment"), "{text}");
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    // Serial: at least 128 random bits (20 bytes here).
    assert!(svid.serial.len() >= 32, "{}", svid.serial);
    let (_, x) = x509_parser::parse_x509_certificate(&svid.cert_der).unwrap();
    let life = x.validity().not_after.timestamp() - x.validity().not_before.timestamp();
    assert!(
        life <= 3600 + 30,
        "default TTL one hour (+30 s backdating): {life}"
    );

    // rustls-webpki, through the CA's own verifier.
    let chain = vec![
        svid.cert_der.clone(),
        palisade_ca::pem_to_der(&f.ca.intermediate_pem()).unwrap(),
    ];
    let id = f.ca.verify_workload(&chain).await.unwrap();
    assert_eq!(id.as_str(), "spiffe://example.org/ns/prod/web");

    // pkilint: leaf, CA certificates, chains.
    assert_eq!(
        pkilint("lint_pkix_cert", &[&leaf]),
        Vec::<String>::new(),
        "leaf"
    );
    assert_eq!(
        pkilint("lint_pkix_cert", &[&int]),
        Vec::<String>::new(),
        "intermediate"
    );
    assert_eq!(
        pkilint("lint_pkix_cert", &[&root]),
        Vec::<String>::new(),
        "root"
    );
    assert_eq!(
        pkilint("lint_pkix_signer_signee_cert_chain", &[&int, &leaf]),
        Vec::<String>::new()
    );
    assert_eq!(
        pkilint("lint_pkix_signer_signee_cert_chain", &[&root, &int]),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn every_certificate_is_in_the_ledger_before_it_is_returned() {
    let f = fixture().await;
    let ca = Arc::new(f.ca);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let ca = ca.clone();
            tokio::spawn(async move {
                issue_as_admin(&ca, &format!("spiffe://example.org/w/{i}")).await
            })
        })
        .collect();
    let mut serials = std::collections::BTreeSet::new();
    let mut issued = Vec::new();
    // A fresh process (new connection) sees every answered certificate at
    // once: its reservation, with every ledger field and the exact
    // to-be-signed bytes, is durable before the answer.
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    for t in tasks {
        let svid = t.await.unwrap();
        let rec = ledger
            .cert(&svid.serial)
            .await
            .unwrap()
            .expect("in the ledger");
        assert!(["reserved", "issued"].contains(&rec.status.as_str()));
        assert_eq!(rec.spiffe_id, svid.spiffe_id);
        assert_eq!(rec.requester, "admin:test");
        // The recorded to-be-signed certificate is exactly what was signed.
        let (_, x) = x509_parser::parse_x509_certificate(&svid.cert_der).unwrap();
        assert_eq!(rec.tbs_der, x.tbs_certificate.as_ref());
        assert!(serials.insert(svid.serial.clone()));
        issued.push(svid);
    }
    // The certificates follow with the next group commit.
    ca.flush().await.unwrap();
    for svid in &issued {
        let rec = ledger.cert(&svid.serial).await.unwrap().unwrap();
        assert_eq!(rec.status, "issued");
        assert_eq!(rec.cert_der.as_deref(), Some(svid.cert_der.as_slice()));
    }
    let all = ledger
        .list_certs(&CertFilter {
            statuses: vec!["issued".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 24);
}

#[tokio::test]
async fn a_lone_certificate_is_completed_without_a_flush() {
    // Nothing follows this issuance: its completion, which waits for another
    // operation to share a commit with, must still be written on its own.
    let f = fixture().await;
    let svid = issue_as_admin(&f.ca, "spiffe://example.org/alone").await;
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    let mut rec = None;
    for _ in 0..1_000 {
        let r = ledger.cert(&svid.serial).await.unwrap().expect("reserved");
        if r.status == "issued" {
            rec = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rec = rec.expect("the certificate was never completed in the ledger");
    assert_eq!(rec.cert_der.as_deref(), Some(svid.cert_der.as_slice()));
}

#[tokio::test]
async fn identity_is_checked_never_trusted() {
    let f = fixture().await;
    let ca = &f.ca;
    let issue = |der: Vec<u8>, id: Option<&str>| {
        let req = IssueRequest {
            csr_der: Some(der),
            spiffe_id: id.map(str::to_owned),
            ..Default::default()
        };
        async move { ca.issue(req, &admin()).await }
    };
    // Two URI SANs.
    let (_, der) = csr(&["spiffe://example.org/a", "spiffe://example.org/b"], &[]);
    assert!(matches!(
        issue(der, None).await,
        Err(CaError::BadRequest(_))
    ));
    // Another trust domain.
    let (_, der) = csr(&["spiffe://evil.org/a"], &[]);
    assert!(matches!(
        issue(der, None).await,
        Err(CaError::InvalidSpiffeId { .. })
    ));
    // Request and CSR disagree.
    let (_, der) = csr(&["spiffe://example.org/a"], &[]);
    assert!(matches!(
        issue(der, Some("spiffe://example.org/b")).await,
        Err(CaError::BadRequest(_))
    ));
    // A CSR whose self-signature does not verify.
    let (_, mut der) = csr(&["spiffe://example.org/a"], &[]);
    let n = der.len();
    der[n - 5] ^= 0x55;
    assert!(matches!(
        issue(der, None).await,
        Err(CaError::BadRequest(_))
    ));
    // Garbage and oversized input.
    assert!(issue(vec![0x30, 0x82, 0xff, 0xff], None).await.is_err());
    assert!(issue(vec![0u8; 20_000], None).await.is_err());
    // Nothing was recorded for any of these.
    assert!(f.ca.list(&CertFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn join_tokens_burn_on_use_and_bind_one_identity() {
    let f = fixture().await;
    let tok =
        f.ca.create_join_token("spiffe://example.org/db", Duration::from_secs(600), "admin")
            .await
            .unwrap();
    let req = |id: &str| IssueRequest {
        spiffe_id: Some(id.into()),
        ..Default::default()
    };
    // Wrong identity: refused by policy (the token is burnt regardless).
    let t2 =
        f.ca.create_join_token("spiffe://example.org/db", Duration::from_secs(600), "admin")
            .await
            .unwrap();
    let err =
        f.ca.issue(
            req("spiffe://example.org/other"),
            &Requester::JoinToken(t2.token.to_string()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaError::Forbidden(_)), "{err}");

    let svid =
        f.ca.issue(
            req("spiffe://example.org/db"),
            &Requester::JoinToken(tok.token.to_string()),
        )
        .await
        .unwrap();
    assert!(svid.key_pem.is_some(), "convenience path generates the key");
    let rec = f.ca.ledger().cert(&svid.serial).await.unwrap().unwrap();
    assert!(
        rec.requester.starts_with("join-token:"),
        "{}",
        rec.requester
    );
    // Second use.
    let err =
        f.ca.issue(
            req("spiffe://example.org/db"),
            &Requester::JoinToken(tok.token.to_string()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaError::Unauthenticated(_)), "{err}");
    // Unknown token.
    let err =
        f.ca.issue(
            req("spiffe://example.org/db"),
            &Requester::JoinToken("pjt_nope".into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CaError::Unauthenticated(_)), "{err}");
    // The ledger holds only hashes.
    let db = std::fs::read(f.dir.path().join("ca.db")).unwrap();
    let needle = tok.token.as_bytes();
    assert!(!db.windows(needle.len()).any(|w| w == needle));

    // A workload renews its own identity, not another one.
    let me = SpiffeId::parse("spiffe://example.org/db").unwrap();
    f.ca.issue(
        req("spiffe://example.org/db"),
        &Requester::Workload(me.clone()),
    )
    .await
    .unwrap();
    assert!(matches!(
        f.ca.issue(req("spiffe://example.org/admin"), &Requester::Workload(me))
            .await,
        Err(CaError::Forbidden(_))
    ));
}

#[tokio::test]
async fn revocation_reaches_the_crl_openssl_and_pkilint() {
    let f = fixture().await;
    let svid = issue_as_admin(&f.ca, "spiffe://example.org/a").await;
    let d = f.dir.path();
    let root = write(d, "root.pem", &f.ca.bundle_pem());
    let int = write(d, "int.pem", &f.ca.intermediate_pem());
    let leaf = write(d, "leaf.pem", &svid.cert_pem);
    let crl0 = f.ca.crl().await.unwrap();
    let crl_path = write(d, "crl.pem", &crl0.pem);
    let chain_crls = |crl: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &root,
            "-untrusted",
            &int,
            "-CRLfile",
            crl,
            &leaf,
        ])
    };
    let (ok, out) = chain_crls(&crl_path);
    assert!(ok, "not yet revoked: {out}");

    assert!(matches!(
        f.ca.revoke("00ff", "keyCompromise").await,
        Err(CaError::UnknownSerial(_))
    ));
    assert!(matches!(
        f.ca.revoke(&svid.serial, "because").await,
        Err(CaError::BadRequest(_))
    ));
    f.ca.revoke(&svid.serial, "keyCompromise").await.unwrap();
    let crl1 = f.ca.crl().await.unwrap();
    assert!(crl1.number > crl0.number, "CRL numbers increase");
    let crl_path = write(d, "crl1.pem", &crl1.pem);
    let (ok, out) = chain_crls(&crl_path);
    assert!(!ok && out.contains("revoked"), "{out}");
    let (_, text) = openssl(&["crl", "-in", &crl_path, "-noout", "-text"]);
    assert!(text.to_lowercase().contains(&svid.serial[..16]), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");

    let der_path = d.join("crl1.der");
    std::fs::write(&der_path, &crl1.der).unwrap();
    assert_eq!(
        pkilint(
            "lint_crl",
            &["-t", "CRL", "-p", "PKIX", der_path.to_str().unwrap()]
        ),
        Vec::<String>::new()
    );
    // The revoked certificate no longer authenticates a workload.
    let chain = vec![
        svid.cert_der.clone(),
        palisade_ca::pem_to_der(&f.ca.intermediate_pem()).unwrap(),
    ];
    assert!(matches!(
        f.ca.verify_workload(&chain).await,
        Err(CaError::Unauthenticated(_))
    ));
    let revoked =
        f.ca.list(&CertFilter {
            statuses: vec!["revoked".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
}

#[tokio::test]
async fn keys_are_sealed_and_a_wrong_kek_is_a_clear_error() {
    let f = fixture().await;
    let db = std::fs::read(f.dir.path().join("ca.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("PRIVATE KEY"));
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    let err = CertificateAuthority::load(
        ledger,
        Arc::new(LocalKek::new(&MasterKey::generate())),
        CaConfig::default(),
        IssuePolicy::builtin(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CaError::Secrets(_)), "{err}");
    assert!(err.to_string().contains("wrong key"), "{err}");
    // The right KEK still opens it: nothing was lost.
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    CertificateAuthority::load(
        ledger,
        f.kek.clone(),
        CaConfig::default(),
        IssuePolicy::builtin(),
    )
    .await
    .unwrap();
    // init twice is refused.
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    assert!(matches!(
        CertificateAuthority::init(ledger, f.kek.clone(), &CaConfig::default(), false).await,
        Err(CaError::AlreadyInitialized)
    ));
}

#[tokio::test]
async fn rollover_keeps_old_certificates_valid_and_the_bundle_carries_both_roots() {
    let f = fixture().await;
    let (_k, der) = csr(&["spiffe://example.org/a"], &[]);
    let old =
        f.ca.issue(
            IssueRequest {
                csr_der: Some(der.clone()),
                ..Default::default()
            },
            &admin(),
        )
        .await
        .unwrap();
    let old_int = f.ca.intermediate_pem();
    f.ca.rotate_intermediate(None).await.unwrap();
    assert_ne!(f.ca.intermediate_pem(), old_int);
    let new =
        f.ca.issue(
            IssueRequest {
                csr_der: Some(der.clone()),
                ..Default::default()
            },
            &admin(),
        )
        .await
        .unwrap();
    // Both verify under the (unchanged) root; both intermediates publish CRLs.
    for (svid, int) in [(&old, &old_int), (&new, &f.ca.intermediate_pem())] {
        let chain = vec![svid.cert_der.clone(), palisade_ca::pem_to_der(int).unwrap()];
        f.ca.verify_workload(&chain).await.unwrap();
    }
    assert_eq!(f.ca.crls().await.unwrap().len(), 2);

    let bundle_before = f.ca.bundle_jwks().unwrap();
    f.ca.rotate_root().await.unwrap();
    let jwks = f.ca.bundle_jwks().unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "old and new root"
    );
    assert!(jwks["spiffe_sequence"].as_u64() > bundle_before["spiffe_sequence"].as_u64());
    // Certificates from before the root rollover still verify.
    let chain = vec![
        old.cert_der.clone(),
        palisade_ca::pem_to_der(&old_int).unwrap(),
    ];
    f.ca.verify_workload(&chain).await.unwrap();
    // The old root cannot retire while its certificates are valid.
    let issuers = f.ca.ledger().issuers().await.unwrap();
    let old_root = issuers
        .iter()
        .find(|i| i.kind == "root" && i.status == "retiring")
        .unwrap();
    assert!(f.ca.retire(&old_root.id, false).await.is_err());
    f.ca.retire(&old_root.id, true).await.unwrap();
    assert_eq!(
        f.ca.bundle_jwks().unwrap()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn spiffe_bundle_is_a_jwk_set_of_x509_svid_keys() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
    ] {
        let f = fixture_with(alg, Arc::new(LocalKek::new(&MasterKey::generate()))).await;
        let jwks = f.ca.bundle_jwks().unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!(k["use"], "x509-svid");
        assert!(k.get("kid").is_none());
        assert_eq!(k["x5c"].as_array().unwrap().len(), 1);
        assert!(jwks["spiffe_refresh_hint"].as_u64().unwrap() > 0);
        let expect_kty = if alg == KeyAlgorithm::Ed25519 {
            "OKP"
        } else {
            "EC"
        };
        assert_eq!(k["kty"], expect_kty);
        // Every algorithm issues a leaf that OpenSSL and pkilint accept.
        let svid = issue_as_admin(&f.ca, "spiffe://example.org/x").await;
        let d = f.dir.path();
        let root = write(d, "root.pem", &f.ca.bundle_pem());
        let int = write(d, "int.pem", &f.ca.intermediate_pem());
        let leaf = write(d, "leaf.pem", &svid.cert_pem);
        let (ok, out) = openssl(&["verify", "-CAfile", &root, "-untrusted", &int, &leaf]);
        assert!(ok, "{alg:?}: {out}");
        assert_eq!(
            pkilint("lint_pkix_signer_signee_cert_chain", &[&int, &leaf]),
            Vec::<String>::new(),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn ca_keys_sealed_by_openbao_transit() {
    let env = support::service("openbao");
    let opts =
        palisade_secrets::VaultOptions::new(&env["OPENBAO_ADDR"], env["OPENBAO_TOKEN"].as_str());
    let kek: Arc<dyn KeyWrapper> = Arc::new(
        palisade_secrets::TransitKek::connect(
            &opts,
            "transit",
            &format!("ca-{}", std::process::id()),
        )
        .await
        .unwrap(),
    );
    let f = fixture_with(KeyAlgorithm::P256, kek.clone()).await;
    let issuers = f.ca.ledger().issuers().await.unwrap();
    assert!(issuers
        .iter()
        .all(|i| i.sealed_key.as_deref().unwrap().contains("transit:")));
    // Reload through Transit and issue.
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    let ca = CertificateAuthority::load(ledger, kek, CaConfig::default(), IssuePolicy::builtin())
        .await
        .unwrap();
    ca.issue(
        IssueRequest {
            spiffe_id: Some("spiffe://example.org/t".into()),
            ..Default::default()
        },
        &admin(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn offline_root_key_is_exported_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ca.db").display());
    let ledger = palisade_store::open_ledger(&url).await.unwrap();
    let kek: Arc<dyn KeyWrapper> = Arc::new(LocalKek::new(&MasterKey::generate()));
    let root_key =
        CertificateAuthority::init(ledger.clone(), kek.clone(), &CaConfig::default(), true)
            .await
            .unwrap()
            .expect("the root key is handed back");
    assert!(root_key.expose().contains("PRIVATE KEY"));
    assert!(!format!("{root_key:?}").contains("PRIVATE"));
    let root = ledger
        .issuers()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.kind == "root")
        .unwrap();
    assert!(root.sealed_key.is_none());
    let ca = CertificateAuthority::load(ledger, kek, CaConfig::default(), IssuePolicy::builtin())
        .await
        .unwrap();
    // Rotation needs the offline key.
    assert!(ca.rotate_intermediate(None).await.is_err());
    ca.rotate_intermediate(Some(root_key.expose()))
        .await
        .unwrap();
}

#[tokio::test]
async fn spiffe_sequence_grows_with_the_bundle_and_survives_a_restart() {
    let f = fixture().await;
    let seq = |ca: &CertificateAuthority| {
        ca.bundle_jwks().unwrap()["spiffe_sequence"]
            .as_u64()
            .unwrap()
    };
    let first = seq(&f.ca);
    f.ca.rotate_intermediate(None).await.unwrap();
    assert_eq!(
        seq(&f.ca),
        first,
        "the roots, hence the bundle, did not change"
    );
    f.ca.rotate_root().await.unwrap();
    let rotated = seq(&f.ca);
    assert!(rotated > first);
    // A restart (new ledger connection, new CA instance) keeps the number.
    let restart = || async {
        let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
        CertificateAuthority::load(
            ledger,
            f.kek.clone(),
            CaConfig::default(),
            IssuePolicy::builtin(),
        )
        .await
        .unwrap()
    };
    let again = restart().await;
    assert_eq!(seq(&again), rotated);
    let old_root = again
        .ledger()
        .issuers()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.kind == "root" && i.status == "retiring")
        .unwrap();
    again.retire(&old_root.id, true).await.unwrap();
    let retired = seq(&again);
    assert!(retired > rotated);
    assert_eq!(seq(&restart().await), retired);
}

#[tokio::test]
async fn the_servers_own_certificate_does_not_depend_on_the_policy_bundle() {
    // A bundle without any `ca:issue` permit denies every caller...
    let f = fixture().await;
    let empty = tempfile::tempdir().unwrap();
    let ledger = palisade_store::open_ledger(&f.url).await.unwrap();
    let ca = CertificateAuthority::load(
        ledger,
        f.kek.clone(),
        CaConfig {
            trust_domain: "example.org".into(),
            ..Default::default()
        },
        IssuePolicy::from_dir(empty.path()).unwrap(),
    )
    .await
    .unwrap();
    let req = IssueRequest {
        spiffe_id: Some("spiffe://example.org/palisade/server".into()),
        dns_names: vec!["localhost".into()],
        ..Default::default()
    };
    let err = ca.issue(req.clone(), &admin()).await.unwrap_err();
    assert!(matches!(err, CaError::Forbidden(_)), "{err}");
    // ...but the serving process still gets its own certificate, through the
    // same checks and ledger order, recorded with its own requester.
    let svid = ca.issue_own(req, "tls-listener").await.unwrap();
    ca.flush().await.unwrap();
    let rec = ca.ledger().cert(&svid.serial).await.unwrap().unwrap();
    assert_eq!(rec.requester, "server:tls-listener");
    assert_eq!(rec.status, "issued");
    assert_eq!(rec.cert_der.as_deref(), Some(svid.cert_der.as_slice()));
    // The identity is still checked: outside the trust domain is refused.
    let foreign = IssueRequest {
        spiffe_id: Some("spiffe://other.org/palisade/server".into()),
        ..Default::default()
    };
    assert!(ca.issue_own(foreign, "tls-listener").await.is_err());
}

/// The real SQLite ledger, except that completions never reach it: what a
/// process killed after answering and before its next group commit leaves.
struct CompletionsLost(Arc<dyn CertLedger>);

#[async_trait::async_trait]
impl CertLedger for CompletionsLost {
    async fn write_batch(
        &self,
        reserve: &[CertRecord],
        _complete: &[CertCompletion],
    ) -> Result<(), StoreError> {
        self.0.write_batch(reserve, &[]).await
    }
    async fn cert(&self, serial: &str) -> Result<Option<CertRecord>, StoreError> {
        self.0.cert(serial).await
    }
    async fn incomplete_certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        self.0.incomplete_certs().await
    }
    async fn list_certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>, StoreError> {
        self.0.list_certs(filter).await
    }
    async fn revoke_cert(&self, serial: &str, reason: &str, at: &str) -> Result<bool, StoreError> {
        self.0.revoke_cert(serial, reason, at).await
    }
    async fn revoked_certs(
        &self,
        issuer_id: &str,
        not_after_min: &str,
    ) -> Result<Vec<CertRecord>, StoreError> {
        self.0.revoked_certs(issuer_id, not_after_min).await
    }
    async fn put_issuer(&self, issuer: &IssuerRecord) -> Result<(), StoreError> {
        self.0.put_issuer(issuer).await
    }
    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        self.0.issuers().await
    }
    async fn put_join_token(&self, token: &JoinTokenRecord) -> Result<(), StoreError> {
        self.0.put_join_token(token).await
    }
    async fn burn_join_token(
        &self,
        token_hash: &str,
        now: &str,
    ) -> Result<Option<JoinTokenRecord>, StoreError> {
        self.0.burn_join_token(token_hash, now).await
    }
    async fn next_crl_number(&self, issuer_id: &str, now: &str) -> Result<i64, StoreError> {
        self.0.next_crl_number(issuer_id, now).await
    }
    async fn latest_crls(&self) -> Result<Vec<CrlNumberRecord>, StoreError> {
        self.0.latest_crls().await
    }
    async fn bundle_sequence(&self, digest: &str, now: &str) -> Result<u64, StoreError> {
        self.0.bundle_sequence(digest, now).await
    }
}

#[tokio::test]
async fn certificates_whose_completion_was_lost_are_rederived_at_open() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
    ] {
        let kek: Arc<dyn KeyWrapper> = Arc::new(LocalKek::new(&MasterKey::generate()));
        let f = fixture_with(alg, kek.clone()).await;
        let config = f.ca.config().clone();
        let real = palisade_store::open_ledger(&f.url).await.unwrap();
        let crashing = CertificateAuthority::load(
            Arc::new(CompletionsLost(real.clone())),
            kek.clone(),
            config.clone(),
            IssuePolicy::builtin(),
        )
        .await
        .unwrap();
        let mut handed_out = Vec::new();
        for i in 0..5 {
            let (_k, der) = csr(&[&format!("spiffe://example.org/lost/{i}")], &[]);
            let req = IssueRequest {
                csr_der: Some(der),
                ..Default::default()
            };
            handed_out.push(crashing.issue(req, &admin()).await.unwrap());
        }
        crashing.flush().await.unwrap();
        drop(crashing);
        for svid in &handed_out {
            let rec = real.cert(&svid.serial).await.unwrap().unwrap();
            assert_eq!((rec.status.as_str(), rec.cert_der), ("reserved", None));
        }
        // One of them is revoked before anyone noticed the gap.
        f.ca.revoke(&handed_out[0].serial, "keyCompromise")
            .await
            .unwrap();

        // Opening the ledger re-derives each certificate byte for byte.
        let reopened = CertificateAuthority::load(
            real.clone(),
            kek.clone(),
            config.clone(),
            IssuePolicy::builtin(),
        )
        .await
        .unwrap();
        assert_eq!(reopened.recovered_at_open(), 5, "{alg:?}");
        for (i, svid) in handed_out.iter().enumerate() {
            let rec = real.cert(&svid.serial).await.unwrap().unwrap();
            assert_eq!(
                rec.cert_der.as_deref(),
                Some(svid.cert_der.as_slice()),
                "{alg:?}"
            );
            assert_eq!(rec.status, if i == 0 { "revoked" } else { "issued" });
        }
        assert!(real.incomplete_certs().await.unwrap().is_empty());
        // The revoked one is on the CRL; a recovered one verifies under the bundle.
        let crl = reopened.crl().await.unwrap();
        let (_, parsed) = x509_parser::parse_x509_crl(&crl.der).unwrap();
        let listed: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![handed_out[0].serial.clone()]);
        let chain = vec![
            handed_out[1].cert_der.clone(),
            palisade_ca::pem_to_der(&reopened.intermediate_pem()).unwrap(),
        ];
        reopened.verify_workload(&chain).await.unwrap();
        // Nothing left to recover the next time.
        let again = CertificateAuthority::load(real, kek, config, IssuePolicy::builtin())
            .await
            .unwrap();
        assert_eq!(again.recovered_at_open(), 0);
    }
}
