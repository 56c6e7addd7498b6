//! `palisade serve` with the CA mounted: `ca:issue` is decided by the served,
//! hot-reloaded policy version and recorded in the decision log; over TLS,
//! client certificates per route group, tested with curl and `openssl
//! s_client` as independent peers; `palisade ca renew --watch` against it.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};

const TRUST_DOMAIN: &str = "example.org";

/// A server with the CA routes, on a freshly initialized CA.
pub fn ca_server(config: &str) -> Server {
    Server::builder()
        .config(config)
        .policies(|policy_dir| {
            // The builder's data directory sits next to its policy directory.
            let data_dir = policy_dir.parent().unwrap().join("data");
            cli(&data_dir, &["ca", "init", "--trust-domain", TRUST_DOMAIN]);
        })
        .start()
}

fn join_token(s: &Server, spiffe_id: &str) -> String {
    cli(
        &s.data_dir,
        &["ca", "token", "create", "--spiffe-id", spiffe_id],
    )
    .trim()
    .to_owned()
}

#[test]
fn serve_speaks_tls_by_default_and_plain_http_only_when_configured() {
    // A fresh data directory and no configuration: the server creates its
    // CA, takes a certificate from it and speaks TLS 1.3 (the harness waits
    // for `palisade listening on https://...`).
    let s = Server::start();
    assert!(s.base.starts_with("https://"), "{}", s.base);
    // The banner's curl line works as printed (it trusts the bundle the
    // server wrote next to its data).
    let logs = s.logs();
    let line = logs
        .lines()
        .find_map(|l| l.strip_prefix("try: "))
        .unwrap_or_else(|| panic!("no curl line in the banner:\n{logs}"));
    assert!(line.contains("--cacert"), "{line}");
    let out = Command::new("sh").args(["-c", line]).output().unwrap();
    assert!(out.status.success(), "{line}: {}", describe(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer["decision"].is_boolean(), "{answer}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = client()
        .get(format!("http://{}/healthz", s.addr))
        .send()
        .map(|r| r.status().as_u16());
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    // The server's own certificate is in the ledger like any other.
    let list = cli(&s.data_dir, &["ca", "list", "--json"]);
    assert!(list.contains("server:tls-listener"), "{list}");

    // Plain HTTP only when configured (behind a mesh sidecar): no CA needed.
    let s = Server::builder().config("[ca]\ntls = false\n").start();
    assert!(s.base.starts_with("http://"), "{}", s.base);
    let r = client().get(s.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(!s.bundle().exists(), "no CA was created");
}

#[test]
fn issuance_is_decided_by_the_served_policy_and_logged() {
    let s = ca_server("[ca]\nserve = true\n");
    let db = format!("spiffe://{TRUST_DOMAIN}/db");
    let before = s.etag();

    // The seeded/example bundle lets a join token obtain its bound identity.
    let body = json!({
        "csr": openssl_csr(s.root.path(), "db1", &db),
        "join_token": join_token(&s, &db),
    });
    let r = s.post("/ca/v1/issue", &body).expect(200).json();
    assert_eq!(r["spiffe_id"], db.as_str());
    // A token bound to another identity does not obtain this one.
    let body = json!({
        "csr": openssl_csr(s.root.path(), "db2", &db),
        "join_token": join_token(&s, &format!("spiffe://{TRUST_DOMAIN}/web")),
    });
    s.post("/ca/v1/issue", &body).expect(403);

    // Hot reload: a forbid on the identity, added at runtime, is served...
    std::fs::write(
        s.policy_dir.join("ca-quarantine.cedar"),
        format!(
            "@id(\"quarantine-db\")\nforbid (principal, action == Action::\"ca:issue\", \
             resource == Spiffe::\"{db}\");\n"
        ),
    )
    .unwrap();
    let after = poll_until("the new policy file to be served", || {
        let e = s.etag();
        (e != before).then_some(e)
    });
    // ...and issuance for that identity switches from allowed to denied.
    let body = json!({
        "csr": openssl_csr(s.root.path(), "db3", &db),
        "join_token": join_token(&s, &db),
    });
    let err = s.post("/ca/v1/issue", &body).expect(403).text;
    assert!(
        err.contains(&after[..12]),
        "names the deciding version: {err}"
    );
    // Other identities are unaffected (admin bearer token).
    let web = format!("spiffe://{TRUST_DOMAIN}/web");
    let body = json!({ "csr": openssl_csr(s.root.path(), "web", &web) });
    Server::send(s.admin(reqwest::Method::POST, "/ca/v1/issue").json(&body)).expect(200);

    // Every ca:issue decision is in the hash-chained decision log.
    let issued: Vec<Value> = poll_until("the ca:issue decisions to be logged", || {
        let v: Vec<Value> = decision_records(&s.data_dir)
            .into_iter()
            .filter(|r| r["action"] == r#"Action::"ca:issue""#)
            .collect();
        (v.len() >= 4).then_some(v)
    });
    let db_uid = format!("Spiffe::\"{db}\"");
    let on_db: Vec<&Value> = issued
        .iter()
        .filter(|r| r["resource"] == db_uid.as_str())
        .collect();
    assert_eq!(on_db.len(), 3, "{issued:#?}");
    assert_eq!(on_db[0]["decision"], "allow");
    assert_eq!(on_db[0]["policy_version"], before.as_str());
    assert_eq!(on_db[0]["reasons"], json!(["ca-join-token"]));
    assert_eq!(on_db[0]["api"], "embedded");
    assert!(on_db[0]["principal"]
        .as_str()
        .unwrap()
        .starts_with("JoinToken::"));
    assert_eq!(on_db[1]["decision"], "deny");
    assert_eq!(on_db[2]["decision"], "deny");
    assert_eq!(on_db[2]["policy_version"], after.as_str());
    assert_eq!(on_db[2]["reasons"], json!(["quarantine-db"]));
    // The admin issuance is logged with an Admin principal naming the admin
    // caller (here the harness's break-glass token).
    assert!(
        issued
            .iter()
            .any(|r| r["resource"] == format!("Spiffe::\"{web}\"")
                && r["decision"] == "allow"
                && r["principal"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("Admin::") && p.contains("admin-token"))),
        "{issued:#?}"
    );

    let out = palisade()
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// `palisade serve` over TLS on a fresh CA, with short leaf lifetimes allowed
/// (for renewal) and its own process handling; killed when dropped.
struct TlsServer {
    child: Option<Child>,
    root: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
    base: String,
    port: u16,
    /// The banner's `try: curl ...` line.
    try_line: String,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl TlsServer {
    fn start() -> TlsServer {
        let root = tempfile::Builder::new()
            .prefix("palisade-tls-")
            .tempdir()
            .unwrap();
        let data_dir = root.path().join("data");
        let policies = root.path().join("policies");
        copy_dir(&examples_dir(), &policies);
        let config = root.path().join("palisade.toml");
        // Short lifetimes allowed so that renewal can be watched in seconds.
        std::fs::write(&config, "[ca]\ntls = true\nmin_leaf_ttl_seconds = 5\n").unwrap();
        cli_with(
            &data_dir,
            Some(&config),
            &["ca", "init", "--trust-domain", TRUST_DOMAIN],
        );
        for _attempt in 0..10 {
            let port = free_port();
            let out = root.path().join(format!("serve.{port}.out"));
            let err = root.path().join(format!("serve.{port}.err"));
            let mut child = palisade()
                .arg("--data-dir")
                .arg(&data_dir)
                .arg("--config")
                .arg(&config)
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--policies",
                ])
                .arg(&policies)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&err).unwrap())
                .spawn()
                .unwrap();
            let base = format!("https://127.0.0.1:{port}");
            let started = poll_until("palisade serve (TLS) to start or exit", || {
                if child.try_wait().unwrap().is_some() {
                    return Some(None);
                }
                let said = std::fs::read_to_string(&out).unwrap_or_default();
                let line = said.lines().find(|l| l.starts_with("try: curl"))?;
                said.contains(&format!("palisade listening on {base} "))
                    .then(|| Some(line.to_owned()))
            });
            match started {
                Some(try_line) => {
                    return TlsServer {
                        child: Some(child),
                        data_dir,
                        config,
                        base,
                        port,
                        try_line,
                        root,
                    }
                }
                // Someone took the port: try another one.
                None => eprintln!("{}", std::fs::read_to_string(&err).unwrap_or_default()),
            }
        }
        panic!("palisade serve (TLS) did not start");
    }

    fn bundle(&self) -> String {
        self.data_dir.join("ca-bundle.pem").display().to_string()
    }

    /// A certificate/key pair issued by the local administrator.
    fn issue(&self, name: &str, ttl: Option<u64>) -> (String, String) {
        let file = name.replace('/', "-");
        let cert = self.root.path().join(format!("{file}.pem"));
        let key = self.root.path().join(format!("{file}.key"));
        let id = format!("spiffe://{TRUST_DOMAIN}/{name}");
        let ttl = ttl.map(|t| t.to_string());
        let mut args = vec!["ca", "issue", "--spiffe-id", &id];
        args.extend(["--out-cert", cert.to_str().unwrap()]);
        args.extend(["--out-key", key.to_str().unwrap()]);
        if let Some(t) = &ttl {
            args.extend(["--ttl", t]);
        }
        cli_with(&self.data_dir, Some(&self.config), &args);
        (cert.display().to_string(), key.display().to_string())
    }
}

fn openssl_s_client(port: u16, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed")
}

#[test]
fn tls_listener_requires_client_certificates_per_route_group() {
    let s = TlsServer::start();
    let bundle = s.bundle();

    // The banner's curl line works as printed (decisions: no certificate needed).
    assert!(s.try_line.contains("--cacert"), "{}", s.try_line);
    let out = Command::new("sh")
        .arg("-c")
        .arg(s.try_line.trim_start_matches("try: "))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("\"decision\":true"),
        "{said}"
    );

    let (ops_cert, ops_key) = s.issue("ops", None);
    let (web_cert, web_key) = s.issue("web", None);
    // Listed as an admin workload by the shipped admin policy (admin.cedar).
    let (admin_cert, admin_key) = s.issue("palisade/admin", None);
    let admin_url = format!("{}/admin/v1/policy", s.base);

    // Admin: no client certificate is refused at the TLS layer's rule...
    let (code, status, body) = curl(&["--cacert", &bundle, &admin_url]);
    assert_eq!((code, status.as_str()), (0, "401"), "{body}");
    assert!(body.contains("client certificate"), "{body}");
    // ...a workload the admin policy does not name is identified, then denied...
    let (_, status, body) = curl(&[
        "--cacert", &bundle, "--cert", &ops_cert, "--key", &ops_key, &admin_url,
    ]);
    assert_eq!(status, "403", "{body}");
    // ...and the listed admin workload is allowed.
    let (_, status, body) = curl(&[
        "--cacert",
        &bundle,
        "--cert",
        &admin_cert,
        "--key",
        &admin_key,
        &admin_url,
    ]);
    assert_eq!(status, "200", "{body}");

    // Issuance: renewal refused without a certificate, accepted with one.
    let csr_file = s.root.path().join("web2.csr.json");
    let body = json!({ "csr": openssl_csr(s.root.path(), "web2", &format!("spiffe://{TRUST_DOMAIN}/web")) });
    std::fs::write(&csr_file, body.to_string()).unwrap();
    let data = format!("@{}", csr_file.display());
    let renew_url = format!("{}/ca/v1/renew", s.base);
    let renew = |extra: &[&str]| {
        let mut a = vec![
            "--cacert",
            bundle.as_str(),
            "-H",
            "content-type: application/json",
            "-d",
            &data,
        ];
        a.extend_from_slice(extra);
        a.push(&renew_url);
        curl(&a)
    };
    let (code, status, body) = renew(&[]);
    assert_eq!((code, status.as_str()), (0, "401"), "{body}");
    let (code, status, body) = renew(&["--cert", &web_cert, "--key", &web_key]);
    assert_eq!((code, status.as_str()), (0, "200"), "{body}");
    let v: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(v["spiffe_id"], format!("spiffe://{TRUST_DOMAIN}/web"));

    // A certificate from a foreign CA (even one claiming the same trust
    // domain) fails the handshake.
    let foreign = s.root.path().join("foreign");
    cli(&foreign, &["ca", "init", "--trust-domain", TRUST_DOMAIN]);
    let alien_cert = s.root.path().join("alien.pem").display().to_string();
    let alien_key = s.root.path().join("alien.key").display().to_string();
    cli(
        &foreign,
        &[
            "ca",
            "issue",
            "--spiffe-id",
            "spiffe://example.org/web",
            "--out-cert",
            &alien_cert,
            "--out-key",
            &alien_key,
        ],
    );
    let (code, _, body) = renew(&["--cert", &alien_cert, "--key", &alien_key]);
    assert_ne!(code, 0, "foreign certificate accepted: {body}");

    // OpenSSL: TLS 1.3 with a client certificate verifies both ways; TLS 1.2
    // is refused by default.
    let ok = openssl_s_client(
        s.port,
        &[
            "-tls1_3",
            "-CAfile",
            &bundle,
            "-cert",
            &web_cert,
            "-key",
            &web_key,
            "-verify_return_error",
        ],
    );
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        said.contains("Verify return code: 0 (ok)") && said.contains("TLSv1.3"),
        "{said}"
    );
    let old = openssl_s_client(s.port, &["-tls1_2", "-CAfile", &bundle]);
    assert!(!old.status.success(), "TLS 1.2 handshake succeeded");

    // Revoked over the admin API: the certificate is refused at once.
    let serial = String::from_utf8(
        Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in", &web_cert])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let serial = serial.trim().trim_start_matches("serial=").to_lowercase();
    let revoke = json!({ "serial": serial, "reason": "keyCompromise" }).to_string();
    let (_, status, body) = curl(&[
        "--cacert",
        &bundle,
        "--cert",
        &admin_cert,
        "--key",
        &admin_key,
        "-H",
        "content-type: application/json",
        "-d",
        &revoke,
        &format!("{}/ca/v1/revoke", s.base),
    ]);
    assert_eq!(status, "200", "{body}");
    let (code, _, body) = renew(&["--cert", &web_cert, "--key", &web_key]);
    assert_ne!(code, 0, "revoked certificate accepted: {body}");
}

/// The serial and the public key (PEM) of a certificate file, and the public
/// key of a key file, by OpenSSL.
fn pair(cert: &str, key: &str) -> (String, String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    (
        run(&["x509", "-noout", "-serial", "-in", cert]),
        run(&["x509", "-noout", "-pubkey", "-in", cert]),
        run(&["pkey", "-pubout", "-in", key]),
    )
}

#[test]
fn renew_watch_keeps_a_pair_fresh_and_fails_when_it_expires() {
    let mut s = TlsServer::start();
    let (cert, key) = s.issue("worker", Some(10));
    let (first_serial, _, _) = pair(&cert, &key);
    let out = s.root.path().join("watch.out");
    let err = s.root.path().join("watch.err");
    let mut watch = palisade()
        .args([
            "ca",
            "renew",
            "--watch",
            "--server",
            &s.base,
            "--bundle",
            &s.bundle(),
        ])
        .args(["--cert", &cert, "--key", &key, "--ttl", "10"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let renewed = |n: usize| {
        poll_until("renewals by the watcher", || {
            let said = std::fs::read_to_string(&out).unwrap_or_default();
            let serials: Vec<String> = said
                .lines()
                .filter(|l| l.starts_with("renewed "))
                .map(|l| l.split_whitespace().nth(3).unwrap().to_owned())
                .collect();
            (serials.len() >= n).then_some(serials)
        })
    };
    let serials = renewed(2);
    assert_ne!(serials[0], serials[1]);
    // On disk: a valid pair (the key matches the certificate) whose serial is
    // one the watcher obtained, not the first one; the key file is private.
    let (serial, cert_pub, key_pub) = pair(&cert, &key);
    assert_ne!(serial, first_serial);
    assert_eq!(cert_pub, key_pub, "certificate and key files do not match");
    let on_disk = serial.trim().trim_start_matches("serial=").to_lowercase();
    assert!(
        serials.contains(&on_disk) || renewed(3).contains(&on_disk),
        "{on_disk} {serials:?}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The server goes away: the watcher retries, then exits 1 saying the
    // certificate expired without renewal.
    if let Some(mut c) = s.child.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let status = poll_until("the watcher to give up", || watch.try_wait().unwrap());
    assert_eq!(status.code(), Some(1));
    let said = std::fs::read_to_string(&err).unwrap();
    assert!(
        said.contains("expired") && said.contains("without renewal"),
        "{said}"
    );
}
