//! Shared harness of the end-to-end tests: a real `palisade serve` process on
//! a free local port, its own data directory and a writable copy of the
//! example policy bundle; a blocking HTTPS client (the server speaks TLS 1.3
//! by default) that trusts the server's CA and presents a client certificate
//! from it, as the admin routes require; polling with bounded deadlines; the
//! CLI.
#![allow(
    dead_code,
    reason = "each test crate uses a different part of the harness"
)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// How long anything may take on a loaded CI machine before a test gives up.
/// Never a performance assertion: only a bound on waiting.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The example bundle shipped in the repository.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies")
}

/// Copies a directory tree (regular files only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replaces a file the way a careful editor or a deploy tool does: write a
/// hidden temporary file next to it (the bundle skips hidden files), then
/// rename it over the target, so a reload never sees half a file.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `f` until it returns `Some`, or panics after [`DEADLINE`] saying what
/// was awaited.
pub fn poll_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics, showing the body, when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "response (status {}) is not JSON: {e}: {}",
                self.status, self.text
            )
        })
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts the status, showing the body otherwise.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a JSON error body `{"error": {"status", "message"}}` with this
    /// status, and returns the message.
    #[track_caller]
    pub fn expect_error(self, status: u16) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error body is not declared as JSON: {:?}",
            self.headers
        );
        let body = self.json();
        assert_eq!(body["error"]["status"], status, "{body}");
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a message: {body}"));
        assert!(!message.is_empty(), "{body}");
        message.to_owned()
    }
}

/// A blocking HTTP client that ignores proxy settings of the environment.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// A blocking HTTPS client trusting only the CA bundle `bundle` (PEM), with
/// the client certificate chain and key `identity` (PEM) when given.
pub fn tls_client(bundle: &Path, identity: Option<&[u8]>) -> Client {
    let pem = std::fs::read(bundle).unwrap();
    let mut b = Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .use_rustls_tls()
        .tls_built_in_root_certs(false);
    for root in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
        b = b.add_root_certificate(root);
    }
    if let Some(id) = identity {
        b = b.identity(reqwest::Identity::from_pem(id).unwrap());
    }
    b.build().unwrap()
}

fn to_resp(r: reqwest::blocking::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    Resp {
        status,
        headers,
        text,
    }
}

/// A change to the policy directory before the server starts.
type Setup = Box<dyn FnOnce(&Path)>;

/// How to start a server.
#[derive(Default)]
pub struct ServerBuilder {
    config: Option<String>,
    setup: Vec<Setup>,
    no_break_glass: bool,
}

impl ServerBuilder {
    /// A TOML configuration file for the server (`--config`).
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    /// Without the break-glass admin token (on by default in the harness so
    /// that tests about other things can use the admin API simply).
    pub fn without_break_glass(mut self) -> Self {
        self.no_break_glass = true;
        self
    }

    /// Changes the policy directory (a copy of the example bundle) before start.
    pub fn policies(mut self, f: impl FnOnce(&Path) + 'static) -> Self {
        self.setup.push(Box::new(f));
        self
    }

    /// Starts the server and waits until it is ready.
    pub fn start(self) -> Server {
        let root = tempfile::Builder::new()
            .prefix("palisade-e2e-")
            .tempdir()
            .unwrap();
        let data_dir = root.path().join("data");
        let policy_dir = root.path().join("policies");
        copy_dir(&examples_dir(), &policy_dir);
        for f in self.setup {
            f(&policy_dir);
        }
        let config_file = self.config.map(|text| {
            let p = root.path().join("palisade.toml");
            std::fs::write(&p, text).unwrap();
            p
        });
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            base: String::new(),
            root,
            data_dir,
            policy_dir,
            config_file,
            client: client(),
            starts: 0,
            tls_ready: false,
            break_glass: !self.no_break_glass,
        };
        server.spawn();
        server
    }
}

/// A running `palisade serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub base: String,
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub policy_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub client: Client,
    starts: usize,
    /// Whether `client` speaks TLS with this data directory's CA.
    tls_ready: bool,
    break_glass: bool,
}

/// A free port on 127.0.0.1, as far as the kernel can tell right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A `palisade` command with a clean environment (no `PALISADE_*` leaking in
/// from the caller).
pub fn palisade() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PALISADE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

impl Server {
    /// A server on a copy of the example bundle, default configuration.
    pub fn start() -> Server {
        Server::builder().start()
    }

    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn log_paths(&self) -> (PathBuf, PathBuf) {
        (
            self.root.path().join(format!("stdout.{}.log", self.starts)),
            self.root.path().join(format!("stderr.{}.log", self.starts)),
        )
    }

    /// What the current (or last) process printed.
    pub fn logs(&self) -> String {
        let (out, err) = self.log_paths();
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            std::fs::read_to_string(out).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }

    /// Starts the process (again, after [`Server::stop`]) on the same data
    /// directory, policy directory and configuration, and waits until ready.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        // The port is free when we look, but another process may take it
        // before the server binds it: then try another one.
        for _attempt in 0..10 {
            self.starts += 1;
            let port = free_port();
            self.addr = SocketAddr::from(([127, 0, 0, 1], port));
            self.base = String::new();
            let (out, err) = self.log_paths();
            let mut cmd = palisade();
            cmd.arg("--data-dir").arg(&self.data_dir);
            if let Some(c) = &self.config_file {
                cmd.arg("--config").arg(c);
            }
            cmd.arg("serve")
                .arg("--listen")
                .arg(self.addr.to_string())
                .arg("--policies")
                .arg(&self.policy_dir)
                .env("PALISADE_LOG", "info")
                .env(
                    "PALISADE_ADMIN_BREAK_GLASS",
                    if self.break_glass { "1" } else { "0" },
                )
                .stdin(Stdio::null())
                .stdout(File::create(&out).unwrap())
                .stderr(File::create(&err).unwrap());
            let mut child = cmd.spawn().expect("cannot start palisade");
            let start = Instant::now();
            // Ready when this process says it listens on our port (so we are
            // not talking to someone else who took it) and answers /readyz.
            let outcome = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Err(status);
                }
                let said = std::fs::read_to_string(&out).unwrap_or_default();
                // TLS unless the configuration opted out (`ca.tls = false`).
                for scheme in ["https", "http"] {
                    let base = format!("{scheme}://{}", self.addr);
                    if said.contains(&format!("palisade listening on {base} ")) {
                        self.base = base;
                    }
                }
                if !self.base.is_empty() {
                    if self.base.starts_with("https:") && !self.tls_ready {
                        self.client = self.admin_client();
                        self.tls_ready = true;
                    }
                    let ready = self
                        .client
                        .get(self.url("/readyz"))
                        .send()
                        .is_ok_and(|r| r.status().as_u16() == 200);
                    if ready {
                        break Ok(());
                    }
                }
                if start.elapsed() > DEADLINE {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "palisade did not become ready within {DEADLINE:?}\n{}",
                        self.logs()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            match outcome {
                Ok(()) => {
                    self.child = Some(child);
                    return;
                }
                Err(status) => {
                    let logs = self.logs();
                    if logs.contains("cannot listen") {
                        continue;
                    }
                    panic!("palisade exited during startup with {status}\n{logs}");
                }
            }
        }
        panic!("could not find a free port for palisade");
    }

    /// The trust bundle the server wrote at start (PEM).
    pub fn bundle(&self) -> PathBuf {
        self.data_dir.join("ca-bundle.pem")
    }

    /// A client trusting the server's CA and presenting a certificate that
    /// the local administrator (`palisade ca issue`) issued for
    /// `spiffe://example.org/e2e-client`: what the admin routes ask for
    /// besides the bearer token.
    fn admin_client(&self) -> Client {
        let (cert, key) = self.issue_cert("e2e-client", "spiffe://example.org/e2e-client");
        let mut identity = std::fs::read(&cert).unwrap();
        identity.extend(std::fs::read(&key).unwrap());
        tls_client(&self.bundle(), Some(&identity))
    }

    /// A certificate and key for `spiffe_id` that the local administrator
    /// (`palisade ca issue` on the server's data directory) issued, written
    /// to `NAME.pem` and `NAME.key` in the test's directory.
    pub fn issue_cert(&self, name: &str, spiffe_id: &str) -> (PathBuf, PathBuf) {
        let cert = self.root.path().join(format!("{name}.pem"));
        let key = self.root.path().join(format!("{name}.key"));
        let mut cmd = palisade();
        cmd.arg("--data-dir").arg(&self.data_dir);
        if let Some(c) = &self.config_file {
            cmd.arg("--config").arg(c);
        }
        let out = cmd
            .args(["ca", "issue", "--spiffe-id", spiffe_id])
            .arg("--out-cert")
            .arg(&cert)
            .arg("--out-key")
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run palisade ca issue");
        assert!(
            out.status.success(),
            "palisade ca issue {spiffe_id}: {}",
            describe(&out)
        );
        (cert, key)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// Sends a signal (`HUP`, `TERM`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1) is needed");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kills the process with SIGKILL — no signal handler runs, nothing is
    /// flushed — and reaps it. [`Server::spawn`] starts it again.
    pub fn kill_hard(&mut self) -> ExitStatus {
        self.signal("KILL");
        let mut child = self.child.take().unwrap();
        poll_until("palisade to die after SIGKILL", || {
            child.try_wait().unwrap()
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Graceful stop: SIGTERM, then wait (bounded) for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        poll_until("palisade to exit after SIGTERM", || {
            child.try_wait().unwrap()
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Resp {
        to_resp(self.client.get(self.url(path)).send().unwrap())
    }

    /// POST a JSON value.
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        to_resp(self.client.post(self.url(path)).json(body).send().unwrap())
    }

    /// POST raw bytes as `application/json`.
    pub fn post_raw(&self, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        to_resp(
            self.client
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body.into())
                .send()
                .unwrap(),
        )
    }

    /// The admin bearer token the server created in its data directory.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// An admin request with the bearer token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.admin_token())
    }

    pub fn send(rb: reqwest::blocking::RequestBuilder) -> Resp {
        to_resp(rb.send().unwrap())
    }

    /// PUT /admin/v1/policies with Cedar text.
    pub fn put_policies(&self, text: &str, if_match: Option<&str>) -> Resp {
        let mut rb = self
            .admin(reqwest::Method::PUT, "/admin/v1/policies")
            .header("content-type", "text/plain")
            .body(text.to_owned());
        if let Some(m) = if_match {
            rb = rb.header("if-match", m);
        }
        Server::send(rb)
    }

    /// The etag of the served version, from GET /admin/v1/policy (checking
    /// that the ETag header and the body agree).
    pub fn etag(&self) -> String {
        let r = Server::send(self.admin(reqwest::Method::GET, "/admin/v1/policy")).expect(200);
        let body = r.json();
        let etag = body["etag"].as_str().expect("etag in body").to_owned();
        assert_eq!(
            r.header("etag"),
            Some(format!("\"{etag}\"")),
            "ETag header and body disagree"
        );
        etag
    }

    /// The Prometheus exposition.
    pub fn metrics(&self) -> String {
        self.get("/metrics").expect(200).text
    }

    /// One sample of the exposition (0 when the series is absent).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics(), name, labels).unwrap_or(0.0)
    }

    /// An AuthZEN evaluation; asserts 200 and returns the body.
    pub fn evaluate(&self, subject: &str, action: &str, resource: &str) -> Value {
        self.post("/access/v1/evaluation", &authzen(subject, action, resource))
            .expect(200)
            .json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("=== palisade server logs ({})\n{}", self.base, self.logs());
        }
    }
}

/// An AuthZEN request body from `Type:id` strings, e.g.
/// `authzen("User:alice", "read", "Document:roadmap")`.
pub fn authzen(subject: &str, action: &str, resource: &str) -> Value {
    json!({
        "subject": entity(subject),
        "action": { "name": action },
        "resource": entity(resource),
    })
}

/// `{"type", "id"}` from `Type:id`.
pub fn entity(s: &str) -> Value {
    let (t, id) = s.split_once(':').expect("Type:id");
    json!({ "type": t, "id": id })
}

/// A Cedar uid string from `Type:id`: `Type::"id"`.
pub fn uid(s: &str) -> String {
    let (t, id) = s.split_once(':').expect("Type:id");
    format!("{t}::\"{id}\"")
}

/// The value of the sample `name{labels...}` in a Prometheus text exposition.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            continue;
        }
        let have: Vec<(&str, &str)> = label_text
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.iter().all(|l| have.contains(l)) {
            return value.parse().ok();
        }
    }
    None
}

/// Runs the CLI to completion in `cwd`.
pub fn run_cli(cwd: &Path, args: &[&str]) -> Output {
    palisade()
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run palisade")
}

/// Exit code, stdout and stderr of a finished command, for messages.
pub fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Sends raw bytes on a fresh TLS connection (the request must ask for
/// `Connection: close` or be unparseable) and returns whatever the server
/// answered before closing. The TLS client is `openssl s_client` (an
/// independent peer, verifying the server against its bundle); the bytes go
/// in on their own thread so a server that answers early is read, not
/// deadlocked on.
pub fn raw_exchange(server: &Server, bytes: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(server.addr.to_string())
        .arg("-CAfile")
        .arg(server.bundle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is needed (scripts/test.sh installs it)");
    let mut writer = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
        let _ = writer.flush();
    });
    let mut reader = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(DEADLINE).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let _ = w.join();
    out
}

/// A P-256 key and a CSR for `spiffe_id`, made by OpenSSL (an independent
/// peer); returns the CSR (PEM).
pub fn openssl_csr(dir: &Path, name: &str, spiffe_id: &str) -> String {
    openssl_csr_with(dir, name, Some(spiffe_id))
}

/// A P-256 key (`DIR/NAME.key`) and a CSR made by OpenSSL, with `spiffe_id`
/// as its URI SAN or with no SAN at all; returns the CSR (PEM).
pub fn openssl_csr_with(dir: &Path, name: &str, spiffe_id: Option<&str>) -> String {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/O=palisade-test",
    ]);
    if let Some(id) = spiffe_id {
        cmd.arg("-addext").arg(format!("subjectAltName=URI:{id}"));
    }
    let out = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl req: {}", describe(&out));
    std::fs::read_to_string(csr).unwrap()
}

/// Every decision log record in the store at `store_url` (`sqlite://` or
/// `postgres://`), in chain order.
pub fn decision_records_at(store_url: &str) -> Vec<Value> {
    const QUERY: &str = "SELECT record FROM decision_log ORDER BY seq";
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let rows: Vec<(String,)> = if store_url.starts_with("postgres") {
                let pool = sqlx::PgPool::connect(store_url).await.unwrap();
                let rows = sqlx::query_as(QUERY).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            } else {
                let pool = sqlx::SqlitePool::connect(store_url).await.unwrap();
                let rows = sqlx::query_as(QUERY).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            };
            rows.into_iter()
                .map(|(r,)| serde_json::from_str(&r).unwrap())
                .collect()
        })
}

/// Every decision log record of the server whose data directory is
/// `data_dir` (the embedded SQLite store).
pub fn decision_records(data_dir: &Path) -> Vec<Value> {
    decision_records_at(&format!(
        "sqlite://{}",
        data_dir.join("palisade.db").display()
    ))
}

/// `palisade --data-dir DIR ARGS...`; asserts success, returns stdout.
pub fn cli(data_dir: &Path, args: &[&str]) -> String {
    cli_with(data_dir, None, args)
}

/// `palisade --data-dir DIR [--config CONFIG] ARGS...`; asserts success,
/// returns stdout.
pub fn cli_with(data_dir: &Path, config: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = palisade();
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "palisade {args:?}: {}",
        describe(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// curl (an independent TLS peer): its exit code, the HTTP status and the
/// body followed by curl's own messages.
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        status.to_owned(),
        format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    )
}
