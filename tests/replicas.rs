//! Several `palisade serve` processes on one real PostgreSQL database behave
//! as one service: a policy change made through one is served by all,
//! decisions from all of them form one verifiable chain, a revocation made
//! through one is enforced by all, and a replica killed mid-load neither
//! stops the others nor loses an acknowledged issuance.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{json, Value};

const TRUST_DOMAIN: &str = "example.org";

/// Shared deployment pieces: one database, one configuration, and one set of
/// key material (audit keys, secrets master key, admin token) that every
/// replica gets, as replicas mounting one Kubernetes Secret would.
struct Deployment {
    url: String,
    dir: tempfile::TempDir,
    config: String,
    keys: PathBuf,
}

impl Deployment {
    fn new(extra_config: &str) -> Deployment {
        let url = palisade_testkit::postgres_database();
        let dir = tempfile::Builder::new()
            .prefix("palisade-replicas-")
            .tempdir()
            .unwrap();
        let keys = dir.path().join("keys");
        // A fallback check far beyond the test's patience: what spreads a
        // change here is LISTEN/NOTIFY.
        let config =
            format!("store_url = \"{url}\"\n[policy]\nsync_interval_ms = 600000\n{extra_config}");
        let d = Deployment {
            url,
            dir,
            config,
            keys,
        };
        // `ca init` creates the CA in the shared ledger and the key material.
        d.cli(&d.keys, &["ca", "init", "--trust-domain", TRUST_DOMAIN]);
        std::fs::write(d.keys.join("admin.token"), "replica-test-admin-token\n").unwrap();
        d
    }

    fn config_file(&self) -> PathBuf {
        let p = self.dir.path().join("palisade.toml");
        std::fs::write(&p, &self.config).unwrap();
        p
    }

    /// `palisade --data-dir DIR --config CONFIG ARGS...`; asserts success.
    fn cli(&self, data_dir: &Path, args: &[&str]) -> String {
        cli_with(data_dir, Some(&self.config_file()), args)
    }

    /// A replica on its own data directory holding the shared keys.
    fn replica(&self) -> Server {
        let keys = self.keys.clone();
        Server::builder()
            .config(&self.config)
            .policies(move |policy_dir| {
                copy_dir(&keys, &policy_dir.parent().unwrap().join("data"));
            })
            .start()
    }
}

/// A forbid that flips alice's read of the roadmap from allow to deny.
const FORBID_ALICE: &str =
    "@id(\"replica-test\")\nforbid (principal == User::\"alice\", action, resource);\n";

fn alice_reads_roadmap(s: &Server) -> bool {
    s.evaluate("User:alice", "read", "Document:roadmap")["decision"]
        .as_bool()
        .unwrap()
}

#[test]
fn a_policy_change_through_one_replica_is_served_by_all_and_the_log_is_one_chain() {
    let d = Deployment::new("");
    let mut replicas: Vec<Server> = (0..3).map(|_| d.replica()).collect();
    let first = replicas[0].etag();
    for r in &replicas {
        assert_eq!(r.etag(), first, "replicas start on one version");
        assert!(alice_reads_roadmap(r));
    }

    // Replace the policies through replica 1's admin API (keeping the
    // example policies, adding a forbid).
    let mut text = String::new();
    for f in ["documents.cedar", "ca.cedar", "sharing.cedar"] {
        text.push_str(&std::fs::read_to_string(replicas[0].policy_dir.join(f)).unwrap());
        text.push('\n');
    }
    text.push_str(FORBID_ALICE);
    let r = replicas[1].put_policies(&text, Some(&first)).expect(200);
    let updated = r.json()["etag"].as_str().unwrap().to_owned();
    assert_ne!(updated, first);
    for r in &replicas {
        poll_until("every replica to serve the new version", || {
            (r.etag() == updated).then_some(())
        });
        assert!(!alice_reads_roadmap(r), "the forbid is enforced everywhere");
    }
    // A stale If-Match is refused by any replica, the one that did not
    // accept the change included.
    replicas[2].put_policies(&text, Some(&first)).expect(412);

    // Decisions from every replica, then a graceful stop (flush).
    let mut decided = 3 * 2; // the checks above
    for _ in 0..20 {
        for r in &replicas {
            assert!(!alice_reads_roadmap(r));
            decided += 1;
        }
    }
    for r in &mut replicas {
        assert!(r.stop().success());
    }
    // One chain: every decision of every replica, verified end to end. The
    // chain also holds the admin API's own decisions (each etag read and the
    // policy update), whose number depends on how often the test polled.
    let records = decision_records_at(&d.url);
    let reads = records
        .iter()
        .filter(|r| r["action"] == r#"Action::"read""#)
        .count();
    assert_eq!(reads, decided, "every decision of every replica is logged");
    let out = d.cli(&d.keys, &["audit", "verify"]);
    assert!(
        out.contains(&format!("ok: {} records verified", records.len())),
        "{out}"
    );

    // A replica restarted on the same directory joins the newest version:
    // the admin change made through another replica survives its restart.
    replicas[0].spawn();
    assert_eq!(replicas[0].etag(), updated);
    assert!(!alice_reads_roadmap(&replicas[0]));
}

#[test]
fn killing_a_replica_mid_load_loses_nothing_acknowledged() {
    let d = Deployment::new("");
    let mut replicas: Vec<Server> = (0..3).map(|_| d.replica()).collect();
    let csr = openssl_csr(
        d.dir.path(),
        "load",
        &format!("spiffe://{TRUST_DOMAIN}/web"),
    );
    // Every serial acknowledged, in order (a collision would repeat one).
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let victim_down = Arc::new(AtomicBool::new(false));
    // HTTPS clients trusting the CA and presenting the harness's client
    // certificate (what `/ca/v1/issue` asks for besides the bearer token).
    let bases: Vec<(String, reqwest::blocking::Client)> = replicas
        .iter()
        .map(|r| (r.base.clone(), r.client.clone()))
        .collect();

    // One issuing client per replica, plus decision clients.
    let mut clients = Vec::new();
    for (i, (base, http)) in bases.iter().enumerate() {
        let (base, http, csr, ack, stop, down) = (
            base.clone(),
            http.clone(),
            csr.clone(),
            acknowledged.clone(),
            stop.clone(),
            victim_down.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let mut failures_while_up = Vec::new();
            let mut answered_after_kill = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = http
                    .post(format!("{base}/ca/v1/issue"))
                    .bearer_auth("replica-test-admin-token")
                    .json(&json!({ "csr": csr, "ttl_seconds": 3600 }))
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let v: Value = r.json().unwrap();
                        ack.lock()
                            .unwrap()
                            .push(v["serial"].as_str().unwrap().to_owned());
                        if down.load(Ordering::SeqCst) {
                            answered_after_kill += 1;
                        }
                    }
                    // The victim (replica 1) may fail once it is killed.
                    _ if i == 1 && down.load(Ordering::SeqCst) => break,
                    other => failures_while_up.push(format!("{other:?}")),
                }
            }
            (i, failures_while_up, answered_after_kill)
        }));
    }
    let decision_bases = vec![bases[0].clone(), bases[2].clone()];
    let deciders: Vec<_> = decision_bases
        .into_iter()
        .map(|(base, http)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answered = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let r = http
                        .post(format!("{base}/access/v1/evaluation"))
                        .json(&authzen("User:alice", "read", "Document:roadmap"))
                        .send()
                        .expect("the surviving replicas keep answering");
                    assert_eq!(r.status().as_u16(), 200);
                    answered += 1;
                }
                answered
            })
        })
        .collect();

    // Mid-load: kill -9 replica 1.
    poll_until("issuances to flow", || {
        (acknowledged.lock().unwrap().len() >= 30).then_some(())
    });
    // (Marked down first: its client may see the failure before kill(1)
    // returns.)
    victim_down.store(true, Ordering::SeqCst);
    replicas[1].signal("KILL");
    let at_kill = acknowledged.lock().unwrap().len();
    poll_until("issuances to go on after the kill", || {
        (acknowledged.lock().unwrap().len() >= at_kill + 30).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let (i, failures, after_kill) = c.join().unwrap();
        assert!(
            failures.is_empty(),
            "replica {i} failed requests: {failures:?}"
        );
        if i != 1 {
            assert!(after_kill > 0, "replica {i} kept issuing after the kill");
        }
    }
    for dcd in deciders {
        assert!(dcd.join().unwrap() > 0);
    }
    assert!(!replicas[1].is_running());

    // Every acknowledged issuance is in the ledger, signed, whichever
    // replica answered it.
    let listed = d.cli(&d.keys, &["ca", "list", "--json"]);
    let issued: BTreeSet<String> = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["status"] == "issued")
        .map(|c| c["serial"].as_str().unwrap().to_owned())
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    let distinct: BTreeSet<String> = acknowledged.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        acknowledged.len(),
        "a serial was acknowledged twice"
    );
    let missing: Vec<_> = distinct.difference(&issued).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the ledger: {missing:?}"
    );

    // The survivors' decision log still verifies after they stop.
    for i in [0, 2] {
        assert!(replicas[i].stop().success());
    }
    let out = d.cli(&d.keys, &["audit", "verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}

/// curl's exit code and HTTP status.
fn curl(args: &[&str]) -> (i32, String) {
    curl_to(Path::new("/dev/null"), args)
}

/// [`curl`], writing the body to `out`.
fn curl_to(out: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "%{http_code}", "--max-time", "20", "-o"])
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// The CRL number and thisUpdate (as OpenSSL prints it) of a PEM CRL.
fn crl_number_and_time(text: &str) -> (u64, String) {
    let number = text
        .lines()
        .skip_while(|l| !l.contains("X509v3 CRL Number"))
        .nth(1)
        .map(|l| l.trim().parse::<u64>().expect("a decimal CRL number"))
        .expect("the CRL has a number");
    let time = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Last Update: "))
        .expect("the CRL has a thisUpdate")
        .to_owned();
    (number, time)
}

#[test]
fn a_revocation_through_one_replica_is_enforced_by_all() {
    let d = Deployment::new("");
    let replicas: Vec<Server> = (0..3).map(|_| d.replica()).collect();
    let cert = d.dir.path().join("web.pem").display().to_string();
    let key = d.dir.path().join("web.key").display().to_string();
    let web = format!("spiffe://{TRUST_DOMAIN}/web");
    d.cli(
        &d.keys,
        &[
            "ca",
            "issue",
            "--spiffe-id",
            &web,
            "--out-cert",
            &cert,
            "--out-key",
            &key,
        ],
    );
    let listed = d.cli(&d.keys, &["ca", "list", "--json", "--spiffe-id", &web]);
    let serial = serde_json::from_str::<Value>(listed.lines().next().unwrap()).unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();

    // curl as the independent TLS peer, verifying each replica against the
    // bundle it wrote.
    let bundle = |r: &Server| r.bundle().display().to_string();
    let with_cert = |r: &Server| {
        curl(&[
            "--cacert",
            &bundle(r),
            "--cert",
            &cert,
            "--key",
            &key,
            &r.url("/readyz"),
        ])
    };
    for r in &replicas {
        assert_eq!(with_cert(r), (0, "200".to_owned()));
    }

    // Revoked through replica 0's admin API...
    Server::send(
        replicas[0]
            .admin(reqwest::Method::POST, "/ca/v1/revoke")
            .json(&json!({ "serial": serial, "reason": "keyCompromise" })),
    )
    .expect(200);
    // ...the certificate is refused at the handshake by every replica.
    for r in &replicas {
        poll_until("the revocation to be enforced", || {
            let (code, _) = with_cert(r);
            (code != 0).then_some(())
        });
        // Without a certificate the public routes still answer.
        let (code, status) = curl(&["--cacert", &bundle(r), &r.url("/readyz")]);
        assert_eq!((code, status.as_str()), (0, "200"));
    }
    // Every replica publishes it in its CRL (read by OpenSSL); the CRLs were
    // made one at a time (a singleton job), so their numbers are distinct and
    // follow the order of their thisUpdate.
    let mut crls = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let path = d.dir.path().join(format!("crl-{i}.pem"));
        let (code, status) = curl_to(&path, &["--cacert", &bundle(r), &r.url("/ca/v1/crl.pem")]);
        assert_eq!((code, status.as_str()), (0, "200"));
        let out = Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
            .expect("openssl is installed");
        assert!(out.status.success(), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.to_ascii_lowercase().contains(&serial),
            "replica {i}'s CRL lacks {serial}: {text}"
        );
        crls.push(crl_number_and_time(&text));
    }
    let numbers: BTreeSet<u64> = crls.iter().map(|c| c.0).collect();
    assert_eq!(numbers.len(), crls.len(), "CRL numbers collide: {crls:?}");
    crls.sort();
    let times: Vec<time::PrimitiveDateTime> =
        crls.iter().map(|(_, t)| parse_openssl_time(t)).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "CRL numbers out of thisUpdate order: {crls:?}"
    );
}

/// A time as `openssl crl -text` prints it (`Nov  3 09:05:01 2026 GMT`).
fn parse_openssl_time(text: &str) -> time::PrimitiveDateTime {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:none] [hour]:[minute]:[second] [year] GMT"
    );
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    time::PrimitiveDateTime::parse(&squeezed, format)
        .unwrap_or_else(|e| panic!("OpenSSL time {text:?}: {e}"))
}
