//! `palisade bench ca`: certificate issuance over HTTP with the durable
//! ledger, side by side with OpenBao's PKI engine (server mode, Raft storage,
//! certificates stored), both signing P-256 CSRs with a 1-hour TTL.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Config;

/// Options of `palisade bench ca`.
#[derive(Debug, clap::Args)]
pub struct CaBenchArgs {
    /// Length of each measurement, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    duration_ms: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,16")]
    concurrency: String,
    /// Skip the OpenBao comparison.
    #[arg(long)]
    no_peer: bool,
}

/// A load: POST one of `bodies` (in turn) with `headers`; client `w` of a
/// measurement sends to `urls[w % urls.len()]` (several servers share the
/// load round-robin).
pub(crate) struct Target {
    pub(crate) name: &'static str,
    pub(crate) urls: Vec<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) bodies: Vec<String>,
}

/// Throughput and latency of one measurement.
pub(crate) struct Figures {
    pub(crate) per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) count: usize,
}

/// `n` P-256 CSRs made by OpenSSL.
pub(crate) fn csrs(n: usize) -> anyhow::Result<Vec<String>> {
    (0..n)
        .map(|_| {
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    "/dev/null",
                    "-subj",
                    "/O=bench",
                ])
                .output()
                .context("openssl is needed to make the CSRs")?;
            anyhow::ensure!(out.status.success(), "openssl req failed");
            Ok(String::from_utf8(out.stdout)?)
        })
        .collect()
}

/// A service starter of `scripts/services/`.
pub(crate) fn repo_script(name: &str) -> PathBuf {
    let here = PathBuf::from("scripts/services").join(name);
    if here.exists() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/services")
        .join(name)
}

/// Runs `scripts/services/NAME` (a peer or test service, stopped when this
/// process exits) and returns its `KEY=VALUE` lines.
pub(crate) fn start_service(
    name: &str,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let script = repo_script(name);
    let out = Command::new("bash")
        .arg(&script)
        .env("PALISADE_TEST_PARENT_PID", std::process::id().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(out.status.success(), "{} failed", script.display());
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

pub(crate) async fn measure(
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build_http();
    let deadline = Instant::now() + duration;
    let target = Arc::new((
        target.urls.clone(),
        target.headers.clone(),
        target.bodies.clone(),
    ));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let client = client.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let (urls, headers, bodies) = &*target;
                let url = &urls[w % urls.len()];
                let mut req =
                    hyper::Request::post(url.as_str()).header("content-type", "application/json");
                for (k, v) in headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let req = req.body(Full::new(bytes::Bytes::from(
                    bodies[i % bodies.len()].clone(),
                )))?;
                i += concurrency;
                let t = Instant::now();
                let resp = client.request(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                anyhow::ensure!(
                    status.is_success(),
                    "{url} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().max(duration);
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(Figures {
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        count: all.len(),
    })
}

pub fn run(_config: Config, args: CaBenchArgs) -> anyhow::Result<ExitCode> {
    let levels: Vec<usize> = args
        .concurrency
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--concurrency: comma-separated numbers")?;
    let duration = Duration::from_millis(args.duration_ms);
    let csrs = csrs(64)?;
    let dir = tempfile_dir()?;

    // Palisade: its own runtime (server threads), plain HTTP like the peer.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let admin_token = "bench-admin-token";
    let addr = server_rt.block_on(async {
        let url = format!("sqlite://{}", dir.join("palisade.db").display());
        let ledger = palisade_store::open_ledger(&url).await?;
        let kek = Arc::new(palisade_secrets::LocalKek::new(
            &palisade_secrets::MasterKey::generate(),
        ));
        let config = palisade_ca::CaConfig {
            trust_domain: "example.org".into(),
            ..Default::default()
        };
        palisade_ca::CertificateAuthority::init(ledger.clone(), kek.clone(), &config, false)
            .await?;
        let ca = Arc::new(
            palisade_ca::CertificateAuthority::load(
                ledger,
                kek,
                config,
                palisade_ca::IssuePolicy::builtin(),
            )
            .await?,
        );
        let app = palisade_ca::http::router(
            ca,
            palisade_ca::http::CaHttpOptions {
                // Break-glass: issuance is then decided by the CA's fixed policy.
                admin: Some(Arc::new(palisade_policy::AdminGuard::new(
                    None,
                    None,
                    Some(admin_token),
                ))),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        anyhow::Ok(addr)
    })?;
    let bodies = |f: &dyn Fn(usize, &str) -> serde_json::Value| {
        csrs.iter()
            .enumerate()
            .map(|(i, c)| f(i, c).to_string())
            .collect::<Vec<_>>()
    };
    let mut targets = vec![Target {
        name: "palisade",
        urls: vec![format!("http://{addr}/ca/v1/issue")],
        headers: vec![("authorization".into(), format!("Bearer {admin_token}"))],
        bodies: bodies(
            &|i, c| serde_json::json!({"csr": c, "spiffe_id": format!("spiffe://example.org/bench/{i}")}),
        ),
    }];
    let mut peer_pid = None;
    if !args.no_peer {
        let env = start_service("openbao-raft.sh")?;
        peer_pid = env.get("OPENBAO_PID").cloned();
        targets.push(Target {
            name: "openbao",
            urls: vec![format!("{}/v1/pki/sign/bench", env["OPENBAO_ADDR"])],
            headers: vec![("x-vault-token".into(), env["OPENBAO_TOKEN"].clone())],
            bodies: bodies(&|i, c| {
                serde_json::json!({"csr": c, "uri_sans": format!("spiffe://example.org/bench/{i}"), "ttl": "1h"})
            }),
        });
    }

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "CA issuance over HTTP, P-256 CSRs, 1 h TTL, every certificate durable before the answer"
    );
    println!(
        "{:<10} {:>5} {:>10} {:>9} {:>9} {:>8}",
        "target", "conc", "certs/s", "p50 ms", "p99 ms", "count"
    );
    let mut results = std::collections::HashMap::new();
    for &c in &levels {
        for t in &targets {
            // Warm-up, then the measurement.
            client_rt.block_on(measure(t, c, Duration::from_millis(300)))?;
            let f = client_rt.block_on(measure(t, c, duration))?;
            println!(
                "{:<10} {:>5} {:>10.0} {:>9.2} {:>9.2} {:>8}",
                t.name, c, f.per_sec, f.p50_ms, f.p99_ms, f.count
            );
            results.insert((t.name, c), f.per_sec);
        }
    }
    if !args.no_peer {
        for &c in &levels {
            let p = results[&("palisade", c)];
            let o = results[&("openbao", c)];
            println!("concurrency {c}: palisade/openbao = {:.1}x", p / o);
        }
    }
    if let Some(pid) = peer_pid {
        let _ = Command::new("kill").arg(&pid).status();
    }
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("palisade-bench-ca-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}
