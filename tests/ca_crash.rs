//! `palisade serve` killed with SIGKILL in the middle of issuing: clients
//! issue certificates concurrently over TLS, the process is killed (no
//! handler runs, nothing is flushed), then restarted on the same data
//! directory. Every certificate a client received must be in the ledger byte
//! for byte, no serial twice, the ledger's certificates must verify with
//! OpenSSL, the decision log's hash chain must verify, and revocation and
//! the CRL must still work.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;

/// Concurrent clients.
const CLIENTS: usize = 6;
/// Kill-and-restart rounds.
const ROUNDS: usize = 2;
/// Certificates received in a round before the kill.
const BEFORE_KILL: usize = 40;

/// A certificate a client received.
#[derive(Debug, Clone)]
struct Received {
    serial: String,
    der: Vec<u8>,
    /// The issuing intermediate, PEM.
    intermediate: String,
}

fn der_of(pem: &str) -> Vec<u8> {
    palisade_ca::pem_to_der(pem).unwrap()
}

/// Every ledger entry: serial → (status, certificate DER if completed).
fn ledger(data_dir: &Path) -> BTreeMap<String, (String, Option<Vec<u8>>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", data_dir.join("palisade.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<(String, String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT serial, status, cert_der FROM ca_certificates")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter().map(|(s, st, d)| (s, (st, d))).collect()
    })
}

/// Issues certificates with the admin token until the server goes away or
/// `stop` is set; returns what it received.
fn issue_until_gone(
    client: reqwest::blocking::Client,
    url: String,
    token: String,
    csr: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(r) = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "csr": csr }))
            .send()
        else {
            return; // killed: the connection broke
        };
        let status = r.status().as_u16();
        let Ok(text) = r.text() else { return };
        assert_eq!(status, 200, "issuance failed: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cert = v["certificate"].as_str().unwrap();
        let chain = v["chain"].as_str().unwrap();
        received.lock().unwrap().push(Received {
            serial: v["serial"].as_str().unwrap().to_owned(),
            der: der_of(cert),
            intermediate: chain.strip_prefix(cert).unwrap().to_owned(),
        });
    }
}

fn recovered_in_log(logs: &str) -> usize {
    let at = logs
        .find("recovered=")
        .unwrap_or_else(|| panic!("the server did not report its recovery:\n{logs}"));
    logs[at + "recovered=".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is needed (scripts/test.sh installs it)");
    (out.status.success(), describe(&out))
}

fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

#[test]
fn sigkill_mid_issuance_loses_no_certificate() {
    let mut s = Server::start();
    let csrs: Vec<String> = (0..CLIENTS)
        .map(|i| {
            openssl_csr(
                s.root.path(),
                &format!("crash{i}"),
                &format!("spiffe://example.org/crash/{i}"),
            )
        })
        .collect();
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = csrs
            .iter()
            .map(|csr| {
                let (client, url, token) =
                    (s.client.clone(), s.url("/ca/v1/issue"), s.admin_token());
                let (csr, received, stop) = (csr.clone(), received.clone(), stop.clone());
                std::thread::spawn(move || {
                    issue_until_gone(client, url, token, csr, received, stop)
                })
            })
            .collect();
        let target = received.lock().unwrap().len() + BEFORE_KILL;
        poll_until("certificates to be issued before the kill", || {
            (received.lock().unwrap().len() >= target).then_some(())
        });
        s.kill_hard();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().unwrap();
        }
        // What the crash left: answered certificates whose completion had
        // not been committed yet are reserved, without their signature.
        let lost = ledger(&s.data_dir)
            .values()
            .filter(|(_, der)| der.is_none())
            .count();
        s.spawn();
        let recovered = recovered_in_log(&s.logs());
        eprintln!(
            "round {round}: {lost} reservations without a certificate, {recovered} recovered"
        );
        assert_eq!(
            recovered, lost,
            "every lost completion is re-derived at start"
        );
    }

    // Every certificate a client received is in the ledger, byte for byte,
    // and no serial was handed out twice.
    let received = received.lock().unwrap().clone();
    let book = ledger(&s.data_dir);
    let mut serials = BTreeSet::new();
    for r in &received {
        assert!(
            serials.insert(r.serial.clone()),
            "serial {} twice",
            r.serial
        );
        let (status, der) = book
            .get(&r.serial)
            .unwrap_or_else(|| panic!("certificate {} is not in the ledger", r.serial));
        assert_eq!(status, "issued", "{}", r.serial);
        assert_eq!(der.as_deref(), Some(r.der.as_slice()), "{}", r.serial);
    }
    // Nothing is left incomplete, and every certificate in the ledger
    // (received or not: some were signed when the kill came) verifies under
    // the trust bundle with OpenSSL.
    assert!(book.values().all(|(_, der)| der.is_some()));
    let dir = s.root.path().join("ledger-certs");
    std::fs::create_dir_all(&dir).unwrap();
    let intermediate = dir.join("intermediate.pem");
    std::fs::write(&intermediate, &received[0].intermediate).unwrap();
    let mut files = Vec::new();
    for (serial, (_, der)) in &book {
        let f = dir.join(format!("{serial}.pem"));
        std::fs::write(&f, pem(der.as_deref().unwrap())).unwrap();
        files.push(f.display().to_string());
    }
    let bundle = s.bundle().display().to_string();
    let inter = intermediate.display().to_string();
    let mut args = vec!["verify", "-CAfile", &bundle, "-untrusted", &inter];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = openssl(&args);
    assert!(ok, "openssl verify of the ledger's certificates: {out}");

    // The decision log (every ca:issue decision) survived both kills with
    // its hash chain intact.
    let out = palisade()
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "audit verify: {}", describe(&out));

    // Revocation and the CRL work on the restarted server, for a
    // certificate issued before the first kill.
    let victim = &received[0];
    Server::send(
        s.admin(reqwest::Method::POST, "/ca/v1/revoke")
            .json(&json!({ "serial": victim.serial, "reason": "keyCompromise" })),
    )
    .expect(200);
    let crl = dir.join("crl.pem");
    std::fs::write(&crl, s.get("/ca/v1/crl.pem").expect(200).text).unwrap();
    let crl = crl.display().to_string();
    let check = |serial: &str| {
        let f = dir.join(format!("{serial}.pem")).display().to_string();
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &bundle,
            "-untrusted",
            &inter,
            "-CRLfile",
            &crl,
            &f,
        ])
    };
    let (ok, out) = check(&victim.serial);
    assert!(!ok && out.contains("revoked"), "{out}");
    let (ok, out) = check(&received[received.len() - 1].serial);
    assert!(ok, "a certificate not revoked passes the CRL check: {out}");
}
