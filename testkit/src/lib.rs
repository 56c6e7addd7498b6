//! Test support shared by Palisade's crates.
//!
//! Starts the real services the tests need through the project's scripts
//! (`scripts/services/*.sh`), once per test process. A service that cannot be
//! started fails the test loudly: nothing is ever skipped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// Runs `scripts/services/NAME.sh` (once per process) and returns its
/// `KEY=VALUE` lines.
pub fn service(name: &str) -> HashMap<String, String> {
    static STARTED: OnceLock<Mutex<HashMap<String, HashMap<String, String>>>> = OnceLock::new();
    let started = STARTED.get_or_init(Default::default);
    let mut started = started.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = started.get(name) {
        return env.clone();
    }
    let env = start_service(name);
    started.insert(name.to_owned(), env.clone());
    env
}

/// Runs `scripts/services/NAME.sh` and returns its `KEY=VALUE` lines: a
/// fresh instance every call (for tests that change the service's state,
/// such as rotating an OpenID provider's keys).
pub fn start_service(name: &str) -> HashMap<String, String> {
    let script = repo_root()
        .join("scripts/services")
        .join(format!("{name}.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .env("PALISADE_TEST_PARENT_PID", std::process::id().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): the tests need this service",
        script.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A TCP port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

/// A fresh, empty PostgreSQL database on the test server that
/// `scripts/services/postgres.sh` starts (once per test process): its
/// `postgres://` URL. Every call creates a new database, so tests never see
/// each other's rows. Panics (fails the test) when PostgreSQL cannot start.
pub fn postgres_database() -> String {
    new_database(&service("postgres"))
}

/// A fresh, empty database on a second test server that speaks TLS only
/// (`scripts/services/postgres-tls.sh`: certificates made by openssl, TCP
/// connections without TLS rejected): its `postgres://` URL (no TLS
/// parameters: the test adds them) and the CA certificate (PEM file) that
/// issued the server's certificate for `localhost` and `127.0.0.1`.
pub fn postgres_tls_database() -> (String, PathBuf) {
    let env = service("postgres-tls");
    let ca = env
        .get("PG_SSL_ROOT_CERT")
        .expect("postgres-tls.sh prints PG_SSL_ROOT_CERT");
    (new_database(&env), PathBuf::from(ca))
}

/// Creates a database on the server `env` describes (the lines of
/// `postgres.sh`); returns its URL.
fn new_database(env: &HashMap<String, String>) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let admin = env
        .get("PALISADE_PG_ADMIN_URL")
        .expect("postgres.sh prints PALISADE_PG_ADMIN_URL");
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let out = Command::new("psql")
        .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (apt-get install postgresql): {e}"));
    assert!(
        out.status.success(),
        "cannot create test database {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = admin.rsplit_once('/').expect("URL has a database path");
    format!("{base}/{name}")
}

/// The OpenID provider of the tests (`scripts/services/oidc.sh`: npm
/// `oidc-provider`, client-credentials grant, JWT access tokens with a
/// groups claim), driven over HTTP with `curl` so that sync and async tests
/// alike can use it.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    /// The issuer URL (`iss` of its tokens).
    pub issuer: String,
    secret: String,
}

impl OidcProvider {
    fn from_env(env: HashMap<String, String>) -> Self {
        Self {
            issuer: env["OIDC_ISSUER"].clone(),
            secret: env["OIDC_CLIENT_SECRET"].clone(),
        }
    }

    /// The provider shared by this test process.
    pub fn shared() -> Self {
        Self::from_env(service("oidc"))
    }

    /// A provider of its own (for tests that rotate its keys).
    pub fn own() -> Self {
        Self::from_env(start_service("oidc"))
    }

    /// An access token for `client_id` (client-credentials grant), for the
    /// resource indicator `resource` when given.
    pub fn token(&self, client_id: &str, resource: Option<&str>) -> String {
        let mut form = "grant_type=client_credentials".to_owned();
        if let Some(r) = resource {
            form.push_str("&resource=");
            form.push_str(r);
        }
        let r = self.post(
            "/token",
            &[
                "-u",
                &format!("{client_id}:{}", self.secret),
                "-H",
                "content-type: application/x-www-form-urlencoded",
                "--data-binary",
                &form,
            ],
        );
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for {client_id}: {r}"))
            .to_owned()
    }

    /// A token with arbitrary header and claims, signed with the provider's
    /// current key for `alg` (one it would never issue by itself).
    pub fn sign(&self, alg: &str, header: serde_json::Value, claims: serde_json::Value) -> String {
        let body = serde_json::json!({ "alg": alg, "header": header, "claims": claims });
        let r = self.post(
            "/test/sign",
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body.to_string(),
            ],
        );
        r["token"]
            .as_str()
            .unwrap_or_else(|| panic!("not signed: {r}"))
            .to_owned()
    }

    /// Rotates the signing keys (a new current key per algorithm); with
    /// `retire`, the old keys leave the key set. Returns the key ids.
    pub fn rotate(&self, retire: bool) -> Vec<String> {
        let path = if retire {
            "/test/rotate?retire=1"
        } else {
            "/test/rotate"
        };
        let r = self.post(path, &[]);
        serde_json::from_value(r["kids"].clone())
            .unwrap_or_else(|e| panic!("rotate answered {r}: {e}"))
    }

    fn post(&self, path: &str, args: &[&str]) -> serde_json::Value {
        let url = format!("{}{path}", self.issuer);
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--max-time", "30", "-X", "POST"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "POST {url}: {} {body} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {url}: {e}: {body}"))
    }
}
