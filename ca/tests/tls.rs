//! The CA's HTTPS routes and mTLS, tested with independent peers: curl and
//! `openssl s_client` (accepted, rejected without a certificate where one
//! is required, rejected when revoked, rejected from a foreign CA, TLS 1.3
//! only).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use palisade_ca::http::{router, CaHttpOptions};
use palisade_ca::tls::{TlsListener, TlsSettings};
use palisade_ca::{CaConfig, CertificateAuthority, IssuePolicy, IssueRequest, Requester};
use palisade_secrets::{LocalKek, MasterKey};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};

async fn new_ca(dir: &Path, td: &str) -> Arc<CertificateAuthority> {
    let url = format!("sqlite://{}", dir.join(format!("{td}.db")).display());
    let ledger = palisade_store::open_ledger(&url).await.unwrap();
    let kek = Arc::new(LocalKek::new(&MasterKey::generate()));
    let config = CaConfig {
        trust_domain: td.into(),
        ..Default::default()
    };
    CertificateAuthority::init(ledger.clone(), kek.clone(), &config, false)
        .await
        .unwrap();
    Arc::new(
        CertificateAuthority::load(ledger, kek, config, IssuePolicy::builtin())
            .await
            .unwrap(),
    )
}

/// A workload's key, CSR and (admin-issued) certificate files.
struct Workload {
    chain: String,
    key: String,
    serial: String,
}

async fn workload(ca: &CertificateAuthority, dir: &Path, name: &str) -> Workload {
    let svid = ca
        .issue(
            IssueRequest {
                spiffe_id: Some(format!("spiffe://{}/{name}", ca.config().trust_domain)),
                ..Default::default()
            },
            &Requester::Admin("test".into()),
        )
        .await
        .unwrap();
    let td = &ca.config().trust_domain;
    let chain = dir.join(format!("{td}-{name}.chain.pem"));
    let key = dir.join(format!("{td}-{name}.key.pem"));
    std::fs::write(&chain, &svid.chain_pem).unwrap();
    std::fs::write(&key, svid.key_pem.unwrap().expose()).unwrap();
    Workload {
        chain: chain.display().to_string(),
        key: key.display().to_string(),
        serial: svid.serial,
    }
}

fn csr_pem(uri: Option<&str>) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    if let Some(u) = uri {
        p.subject_alt_names
            .push(SanType::URI(u.try_into().unwrap()));
    }
    p.serialize_request(&key).unwrap().pem().unwrap()
}

struct Curl {
    code: i32,
    status: String,
    body: String,
}

fn curl(args: &[&str]) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Curl {
        code: out.status.code().unwrap_or(-1),
        status: status.to_owned(),
        body: body.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_with_curl_and_openssl_peers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = new_ca(d, "example.org").await;
    let foreign = new_ca(d, "foreign.org").await;
    let bundle = d.join("bundle.pem");
    std::fs::write(&bundle, ca.bundle_pem()).unwrap();
    let bundle = bundle.display().to_string();

    let admin_token = "admin-secret-token";
    let app = router(
        ca.clone(),
        CaHttpOptions {
            // The static token is break-glass: no policy engine here.
            admin: Some(Arc::new(palisade_policy::AdminGuard::new(
                None,
                None,
                Some(admin_token),
            ))),
        },
    );
    let tls = TlsListener::new(ca.clone(), TlsSettings::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(tls.serve(listener, app, Duration::from_millis(200)));
    let base = format!("https://127.0.0.1:{port}");

    let web = workload(&ca, d, "web").await;
    let alien = workload(&foreign, d, "web").await;
    let ops = workload(&ca, d, "ops").await;

    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // The server's certificate verifies against the bundle; optional client
    // auth lets anonymous callers read the bundle and the CRL.
    let r = run(s(&[
        "--cacert",
        &bundle,
        &format!("{base}/ca/v1/bundle.jwks"),
    ]))
    .await
    .unwrap();
    assert_eq!((r.code, r.status.as_str()), (0, "200"), "{}", r.body);
    assert!(r.body.contains("x509-svid"));
    let r = run(s(&["--cacert", &bundle, &format!("{base}/ca/v1/crl.pem")]))
        .await
        .unwrap();
    assert!(r.body.contains("BEGIN X509 CRL"), "{}", r.body);

    // Renewal: refused without a client certificate...
    let body = serde_json::json!({ "csr": csr_pem(None) }).to_string();
    let renew = |extra: &[&str]| {
        let mut a = s(&[
            "--cacert",
            &bundle,
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ]);
        a.extend(extra.iter().map(|x| x.to_string()));
        a.push(format!("{base}/ca/v1/renew"));
        a
    };
    let r = run(renew(&[])).await.unwrap();
    assert_eq!(r.status, "401", "{}", r.body);
    // ...accepted with the workload's current certificate: same identity.
    let r = run(renew(&["--cert", &web.chain, "--key", &web.key]))
        .await
        .unwrap();
    assert_eq!((r.code, r.status.as_str()), (0, "200"), "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["spiffe_id"], "spiffe://example.org/web");
    // ...rejected at the handshake from a foreign CA.
    let r = run(renew(&["--cert", &alien.chain, "--key", &alien.key]))
        .await
        .unwrap();
    assert_ne!(
        r.code, 0,
        "foreign certificate accepted: {} {}",
        r.status, r.body
    );

    // Issuance with a join token over HTTPS; the token burns.
    let token = ca
        .create_join_token("spiffe://example.org/db", Duration::from_secs(60), "test")
        .await
        .unwrap();
    let body = serde_json::json!({
        "csr": csr_pem(Some("spiffe://example.org/db")),
        "join_token": token.token.as_str(),
    })
    .to_string();
    let issue = s(&[
        "--cacert",
        &bundle,
        "-H",
        "content-type: application/json",
        "-d",
        &body,
        &format!("{base}/ca/v1/issue"),
    ]);
    let r = run(issue.clone()).await.unwrap();
    assert_eq!(r.status, "200", "{}", r.body);
    let r = run(issue).await.unwrap();
    assert_eq!(r.status, "401", "{}", r.body);
    // Issuance without a join token needs a client certificate, even with
    // the admin token.
    let body = serde_json::json!({ "csr": csr_pem(Some("spiffe://example.org/db")) }).to_string();
    let r = run(s(&[
        "--cacert",
        &bundle,
        "-H",
        "content-type: application/json",
        "-H",
        &format!("authorization: Bearer {admin_token}"),
        "-d",
        &body,
        &format!("{base}/ca/v1/issue"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status, "401", "{}", r.body);
    assert!(r.body.contains("client certificate"), "{}", r.body);

    // Revocation over the admin API; the revoked certificate is then refused.
    let revoke_body =
        serde_json::json!({"serial": web.serial, "reason": "keyCompromise"}).to_string();
    let r = run(s(&[
        "--cacert",
        &bundle,
        "-H",
        "content-type: application/json",
        "-d",
        &revoke_body,
        &format!("{base}/ca/v1/revoke"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status, "401", "revoke needs the admin token: {}", r.body);
    // Admin routes take both: the bearer token and a client certificate.
    let with_token = |extra: &[&str]| {
        let mut a = s(&[
            "--cacert",
            &bundle,
            "-H",
            "content-type: application/json",
            "-H",
            &format!("authorization: Bearer {admin_token}"),
            "-d",
            &revoke_body,
        ]);
        a.extend(extra.iter().map(|x| x.to_string()));
        a.push(format!("{base}/ca/v1/revoke"));
        a
    };
    let r = run(with_token(&[])).await.unwrap();
    assert_eq!(r.status, "401", "token without certificate: {}", r.body);
    assert!(r.body.contains("client certificate"), "{}", r.body);
    let r = run(with_token(&["--cert", &ops.chain, "--key", &ops.key]))
        .await
        .unwrap();
    assert_eq!(r.status, "200", "{}", r.body);
    let r = run(renew(&["--cert", &web.chain, "--key", &web.key]))
        .await
        .unwrap();
    assert_ne!(
        r.code, 0,
        "revoked certificate accepted: {} {}",
        r.status, r.body
    );

    // TLS 1.3 only: an OpenSSL client limited to TLS 1.2 fails.
    let port_s = port.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port_s}"),
                "-tls1_2",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "TLS 1.2 handshake succeeded");
    server.abort();
}
