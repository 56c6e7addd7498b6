//! `palisade bench store`: what the shared store costs and buys. Real
//! `palisade serve` processes (this binary, plain HTTP like the CA bench's
//! peer comparison) on a real PostgreSQL that `scripts/services/postgres.sh`
//! starts (or `--postgres-url`), side by side with the embedded SQLite:
//! - decisions/s (AuthZEN evaluations, each one in the hash-chained decision
//!   log) with 2 replicas on one database against 1;
//! - issuance/s (P-256 CSRs, every certificate durable in the ledger before
//!   the answer) with 2 replicas against 1, and PostgreSQL against SQLite.
//!
//! Each configuration gets a fresh database (or data directory); the load is
//! spread round-robin over the replicas by a client on its own runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::ca_bench::{csrs, measure, Figures, Target};
use crate::config::Config;

/// Options of `palisade bench store`.
#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    /// Length of each measurement, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    duration_ms: u64,
    /// Concurrent client connections (spread over the replicas).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// An existing PostgreSQL server to use: a `postgres://` URL to a
    /// database whose user may create databases (default: start one with
    /// scripts/services/postgres.sh).
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
}

const ADMIN_TOKEN: &str = "bench-store-admin-token";
const TRUST_DOMAIN: &str = "example.org";

/// The embedded default or the shared store.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What is measured.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    Decisions,
    Issuance,
}

/// Replicas of one deployment, stopped (SIGTERM, then waited for) when
/// dropped.
struct Deployment {
    children: Vec<Child>,
    bases: Vec<String>,
    dir: PathBuf,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for c in &self.children {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The PostgreSQL server the bench creates its databases on.
struct Postgres {
    admin_url: String,
    pid: Option<String>,
    next: usize,
}

impl Postgres {
    fn start(url: Option<String>) -> anyhow::Result<Postgres> {
        if let Some(url) = url {
            return Ok(Postgres {
                admin_url: url,
                pid: None,
                next: 0,
            });
        }
        let env = crate::cli::ca_bench::start_service("postgres.sh")?;
        Ok(Postgres {
            admin_url: env
                .get("PALISADE_PG_ADMIN_URL")
                .context("postgres.sh prints PALISADE_PG_ADMIN_URL")?
                .clone(),
            pid: env.get("PG_PID").cloned(),
            next: 0,
        })
    }

    /// A fresh database: its URL.
    fn database(&mut self) -> anyhow::Result<String> {
        self.next += 1;
        let name = format!("bench_store_{}_{}", std::process::id(), self.next);
        let out = Command::new("psql")
            .args([self.admin_url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .context("psql is needed (apt-get install postgresql-client)")?;
        anyhow::ensure!(
            out.status.success(),
            "cannot create database {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (base, _) = self
            .admin_url
            .rsplit_once('/')
            .context("the PostgreSQL URL has no database path")?;
        Ok(format!("{base}/{name}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pid) = &self.pid {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

/// `palisade --data-dir DIR --config CONFIG ARGS...` with this binary.
fn palisade(dir: &Path, args: &[&str]) -> anyhow::Result<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("palisade.toml"))
        .args(args)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PALISADE_") {
            cmd.env_remove(k);
        }
    }
    Ok(cmd)
}

/// Starts `replicas` servers on `store_url` sharing one set of key material
/// (made by `palisade ca init`), and waits until each answers `/readyz`.
fn deploy(store_url: &str, replicas: usize) -> anyhow::Result<Deployment> {
    let root = scratch_dir("deployment");
    let mut d = Deployment {
        children: Vec::new(),
        bases: Vec::new(),
        dir: root.clone(),
    };
    let config = format!(
        "store_url = \"{store_url}\"\n[ca]\ntls = false\nserve = true\n[policy]\nwatch = false\n\
         [server]\nadmin_break_glass = true\n"
    );
    let keys = root.join("keys");
    std::fs::create_dir_all(&keys)?;
    std::fs::write(keys.join("palisade.toml"), &config)?;
    let out = palisade(&keys, &["ca", "init", "--trust-domain", TRUST_DOMAIN])?.output()?;
    anyhow::ensure!(
        out.status.success(),
        "palisade ca init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(keys.join("data/admin.token"), format!("{ADMIN_TOKEN}\n"))?;
    for r in 0..replicas {
        let dir = root.join(format!("replica-{r}"));
        copy_dir(&keys, &dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = palisade(&dir, &["serve", "--listen", &format!("127.0.0.1:{port}")])?
            .env("PALISADE_LOG", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        d.children.push(child);
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base, d.children.last_mut().expect("just pushed"), &dir)?;
        d.bases.push(base);
    }
    Ok(d)
}

/// A new directory path under the temporary directory (not created).
fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!(
        "palisade-bench-store-{what}-{}-{n}",
        std::process::id()
    ))
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn wait_ready(base: &str, child: &mut Child, dir: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "palisade serve exited with {status}: {}",
                std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
            );
        }
        let ready = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "--max-time", "2"])
            .arg(format!("{base}/readyz"))
            .status()
            .context("curl is needed")?;
        if ready.success() {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(120),
            "palisade serve did not become ready: {}",
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The load of `op` on the replicas of `d`.
fn target(d: &Deployment, op: Operation, csrs: &[String]) -> Target {
    match op {
        Operation::Decisions => Target {
            name: "decisions",
            urls: d
                .bases
                .iter()
                .map(|b| format!("{b}/access/v1/evaluation"))
                .collect(),
            headers: Vec::new(),
            bodies: ["alice", "bob", "carol"]
                .iter()
                .map(|who| {
                    serde_json::json!({
                        "subject": {"type": "User", "id": who},
                        "action": {"name": "read"},
                        "resource": {"type": "Document", "id": "roadmap"},
                    })
                    .to_string()
                })
                .collect(),
        },
        Operation::Issuance => Target {
            name: "issuance",
            urls: d.bases.iter().map(|b| format!("{b}/ca/v1/issue")).collect(),
            headers: vec![("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))],
            bodies: csrs
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    serde_json::json!({
                        "csr": c,
                        "spiffe_id": format!("spiffe://{TRUST_DOMAIN}/bench/{i}"),
                        "ttl_seconds": 3600,
                    })
                    .to_string()
                })
                .collect(),
        },
    }
}

pub fn run(_config: Config, args: StoreBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let duration = Duration::from_millis(args.duration_ms);
    let csrs = csrs(64)?;
    let mut pg = Postgres::start(args.postgres_url)?;
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scenarios = [
        (Backend::Sqlite, 1),
        (Backend::Postgres, 1),
        (Backend::Postgres, 2),
    ];
    println!(
        "palisade serve processes over plain HTTP on loopback, {} connections spread over the replicas",
        args.concurrency
    );
    println!(
        "{:<9} {:>8} {:<10} {:>10} {:>9} {:>9} {:>8}",
        "store", "replicas", "operation", "per s", "p50 ms", "p99 ms", "count"
    );
    let mut results: HashMap<(Backend, usize, Operation), Figures> = HashMap::new();
    for (backend, replicas) in scenarios {
        // A fresh store per configuration: every one starts empty.
        let root = scratch_dir("sqlite");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", root.join("palisade.db").display()),
            Backend::Postgres => pg.database()?,
        };
        std::fs::create_dir_all(&root)?;
        let d = deploy(&url, replicas)?;
        for op in [Operation::Decisions, Operation::Issuance] {
            let t = target(&d, op, &csrs);
            client_rt.block_on(measure(&t, args.concurrency, Duration::from_millis(300)))?;
            let f = client_rt.block_on(measure(&t, args.concurrency, duration))?;
            println!(
                "{:<9} {:>8} {:<10} {:>10.0} {:>9.2} {:>9.2} {:>8}",
                backend.name(),
                replicas,
                t.name,
                f.per_sec,
                f.p50_ms,
                f.p99_ms,
                f.count
            );
            results.insert((backend, replicas, op), f);
        }
        drop(d);
        let _ = std::fs::remove_dir_all(&root);
    }
    let rate = |b, r, op| results[&(b, r, op)].per_sec;
    println!(
        "decisions, postgres, 2 replicas / 1 = {:.2}x",
        rate(Backend::Postgres, 2, Operation::Decisions)
            / rate(Backend::Postgres, 1, Operation::Decisions)
    );
    println!(
        "issuance, postgres, 2 replicas / 1 = {:.2}x",
        rate(Backend::Postgres, 2, Operation::Issuance)
            / rate(Backend::Postgres, 1, Operation::Issuance)
    );
    println!(
        "issuance, 1 replica, postgres / sqlite = {:.2}x",
        rate(Backend::Postgres, 1, Operation::Issuance)
            / rate(Backend::Sqlite, 1, Operation::Issuance)
    );
    Ok(ExitCode::SUCCESS)
}
