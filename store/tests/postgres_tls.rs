//! PostgreSQL over TLS: the `sslmode` and `sslrootcert` parameters of a
//! `postgres://` URL are honoured, against a real server that accepts TLS
//! only, with a certificate made by OpenSSL (`scripts/services/postgres-tls.sh`).
//! The whole store contract also runs over TLS (tests/contract.rs).

use std::path::Path;
use std::process::Command;

use palisade_store::{PolicyVersionRecord, StoreError};

async fn tls_database() -> (String, std::path::PathBuf) {
    tokio::task::spawn_blocking(palisade_testkit::postgres_tls_database)
        .await
        .unwrap()
}

/// The message of a failed open (it must never carry a password).
async fn open_error(url: &str) -> String {
    match palisade_store::open(url).await {
        Ok(_) => panic!("opened {url}"),
        Err(e @ StoreError::Open { .. }) => e.to_string(),
        Err(e) => panic!("unexpected error for {url}: {e}"),
    }
}

#[tokio::test]
async fn verified_tls_connects_and_stores() {
    let (url, ca) = tls_database().await;
    // By name and by address: the server's certificate names both.
    for url in [
        format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display()),
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            url.replace("127.0.0.1", "localhost"),
            ca.display()
        ),
    ] {
        let store = palisade_store::open(&url).await.unwrap();
        let version = PolicyVersionRecord {
            etag: format!("tls-{}", url.len()),
            created_at: "2026-01-01T00:00:00Z".into(),
            source: "startup".into(),
            bundle: "{}".into(),
        };
        store.record_policy_version(&version).await.unwrap();
        let newest = store.policy_versions(1).await.unwrap();
        assert_eq!(newest[0].etag, version.etag);
    }
}

#[tokio::test]
async fn the_server_refuses_a_connection_without_tls() {
    // So a store that works against it works over TLS.
    let (url, _) = tls_database().await;
    let err = open_error(&format!("{url}?sslmode=disable")).await;
    assert!(err.contains("no encryption"), "{err}");
}

/// A CA (certificate only) that did not issue the server's certificate.
fn other_ca(dir: &Path) -> std::path::PathBuf {
    let cert = dir.join("other-ca.crt");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=another CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cert
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let (url, _) = tls_database().await;
    let dir = tempfile::tempdir().unwrap();
    let other = other_ca(dir.path());
    for mode in ["verify-full", "verify-ca"] {
        let err = open_error(&format!(
            "{url}?sslmode={mode}&sslrootcert={}",
            other.display()
        ))
        .await;
        assert!(
            err.contains("UnknownIssuer") || err.contains("certificate"),
            "{mode}: {err}"
        );
    }
}

#[tokio::test]
async fn a_missing_root_certificate_file_is_a_clear_error() {
    let (url, _) = tls_database().await;
    let err = open_error(&format!(
        "{url}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
    ))
    .await;
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}
