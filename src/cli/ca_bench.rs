//! `palisade bench ca`: certificate issuance over HTTP with the durable
//! ledger, side by side with OpenBao's PKI engine (server mode, Raft storage,
//! certificates stored), both signing P-256 CSRs with a 1-hour TTL.
//!
//! Each row also shows the CPU spent per certificate, by this process
//! (server and load client) and by the peer's. After the table comes the
//! floor: the CSR's signature check and the CA's signature on one thread,
//! an HTTP exchange with an empty handler under the same load, and the
//! ledger's durable writes on bare SQLite, with the throughput those alone
//! would allow on this machine's cores. Palisade's own ledger doing the same
//! writes is printed beside them, for comparison.

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
    /// Skip the floor (signature operations, the empty HTTP exchange and
    /// the bare ledger writes),
    /// for instance to profile issuance alone.
    #[arg(long)]
    no_floor: bool,
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
    /// Mean size of a response body, in bytes.
    pub(crate) body_bytes: usize,
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
            let mut bytes = 0;
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
                bytes += body.len();
            }
            anyhow::Ok((lat, bytes))
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    let mut bytes = 0;
    for t in tasks {
        let (lat, b) = t.await??;
        all.extend(lat);
        bytes += b;
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
        body_bytes: bytes / all.len().max(1),
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
        "{:<10} {:>5} {:>10} {:>9} {:>9} {:>8} {:>11} {:>11}",
        "target", "conc", "certs/s", "p50 ms", "p99 ms", "count", "cpu here", "cpu peer"
    );
    let mut results = std::collections::HashMap::new();
    for &c in &levels {
        for t in &targets {
            // Warm-up, then the measurement.
            client_rt.block_on(measure(t, c, Duration::from_millis(300)))?;
            let (f, cpu) = measured_cpu(peer_pid.as_deref(), || {
                client_rt.block_on(measure(t, c, duration))
            })?;
            println!(
                "{:<10} {:>5} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>11} {:>11}",
                t.name,
                c,
                f.per_sec,
                f.p50_ms,
                f.p99_ms,
                f.count,
                cpu.here.map_or("-".into(), |d| per_item(d, f.count)),
                match (t.name, cpu.peer) {
                    ("openbao", Some(d)) => per_item(d, f.count),
                    _ => "-".into(),
                },
            );
            results.insert((t.name, c), f);
        }
    }
    println!("(cpu: µs of CPU per certificate, user + system; \"here\" is this process: Palisade's server and the load client; \"peer\" is OpenBao's process)");
    if !args.no_peer {
        for &c in &levels {
            let p = results[&("palisade", c)].per_sec;
            let o = results[&("openbao", c)].per_sec;
            println!("concurrency {c}: palisade/openbao = {:.1}x", p / o);
        }
    }

    if !args.no_floor {
        print_floor(
            &server_rt, &client_rt, &targets, &levels, &results, duration, &dir,
        )?;
    }
    if let Some(pid) = peer_pid {
        let _ = Command::new("kill").arg(&pid).status();
    }
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// The floor: what any CA behind this HTTP client, recording its
/// certificates durably in SQLite, spends per certificate before parsing a
/// CSR, deciding or building a certificate, and the throughput that alone
/// would allow on this machine's cores.
fn print_floor(
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    targets: &[Target],
    levels: &[usize],
    results: &std::collections::HashMap<(&str, usize), Figures>,
    duration: Duration,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let top = levels.iter().copied().max().unwrap_or(16);
    let sig = signature_floor(2_000)?;
    let ledger_bare = ledger_floor(dir, LEDGER_CERTS, top)?;
    let ledger_own = server_rt.block_on(ledger_alone(dir, LEDGER_CERTS, top))?;
    let body_bytes = results[&("palisade", top)].body_bytes;
    let null_addr = server_rt.block_on(async {
        let body = bytes::Bytes::from(vec![b'x'; body_bytes]);
        let app = axum::Router::new().route(
            "/null",
            axum::routing::post(move |_req: bytes::Bytes| async move { body }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        anyhow::Ok(addr)
    })?;
    let null = Target {
        name: "null",
        urls: vec![format!("http://{null_addr}/null")],
        headers: targets[0].headers.clone(),
        bodies: targets[0].bodies.clone(),
    };
    client_rt.block_on(measure(&null, top, Duration::from_millis(300)))?;
    let (f, cpu) = measured_cpu(None, || client_rt.block_on(measure(&null, top, duration)))?;
    let http = cpu
        .here
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6 / f.count.max(1) as f64);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nThe floor on this machine ({cores} cores), µs of CPU per certificate:");
    println!(
        "  CSR self-signature check, ring P-256 (one thread)        {:>7.1}",
        sig.csr_check
    );
    println!(
        "  CA signature, RustCrypto p256 RFC 6979, as Palisade signs {:>6.1}",
        sig.sign_deterministic
    );
    println!(
        "  CA signature, ring, randomized (one thread)              {:>7.1}",
        sig.sign_ring
    );
    println!(
        "  HTTP exchange, empty handler, client + server, conc {top:<4} {http:>7.1}  ({:.0}/s, same request, {body_bytes}-byte response)",
        f.per_sec
    );
    println!(
        "{:<58}{ledger_bare:>7.1}  (reserve + complete, {top} per commit, WAL, synchronous FULL, primary key only)",
        "  Ledger writes, bare SQLite (one thread)"
    );
    println!(
        "{:<58}{ledger_own:>7.1}  (not in the floor: the same writes, its schema, indexes and page cache)",
        "  Palisade's own ledger, for comparison"
    );
    let floor = sig.csr_check + sig.sign_ring + http + ledger_bare;
    let ceiling = cores as f64 * 1e6 / floor;
    print!(
        "ceiling with the fastest of each: {cores} × 10^6 / {floor:.1} µs = {ceiling:.0} certificates/s"
    );
    match results.get(&("openbao", top)) {
        Some(o) => println!(
            ", {:.1}x OpenBao's {:.0}/s at concurrency {top} in this run",
            ceiling / o.per_sec,
            o.per_sec
        ),
        None => println!(),
    }
    Ok(())
}

/// CPU used while `f` ran, by this process and by the peer's.
struct CpuUse {
    here: Option<Duration>,
    peer: Option<Duration>,
}

fn measured_cpu<T>(
    peer_pid: Option<&str>,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, CpuUse)> {
    let before = (cpu_time("self"), peer_pid.and_then(cpu_time));
    let out = f()?;
    let after = (cpu_time("self"), peer_pid.and_then(cpu_time));
    let since = |a: Option<Duration>, b: Option<Duration>| Some(a?.saturating_sub(b?));
    Ok((
        out,
        CpuUse {
            here: since(after.0, before.0),
            peer: since(after.1, before.1),
        },
    ))
}

fn per_item(d: Duration, count: usize) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6 / count.max(1) as f64)
}

/// CPU time (user + system) used so far by process `pid` (`self` for this
/// one), from `/proc/PID/stat`, whose clock ticks are USER_HZ (100 per
/// second on Linux).
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, starting with field 3 (state):
    // utime is field 14, stime field 15.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// What every issuance must spend on signatures, one operation at a time on
/// one thread, in µs: the CSR's self-signature check with `ring` (the
/// fastest verifier here), the CA's deterministic signature as Palisade
/// makes it (RustCrypto `p256`, RFC 6979), and a randomized `ring` signature.
struct SignatureFloor {
    csr_check: f64,
    sign_deterministic: f64,
    sign_ring: f64,
}

fn signature_floor(n: usize) -> anyhow::Result<SignatureFloor> {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::DecodePrivateKey as _;
    use ring::signature::{self, KeyPair as _};
    // About the size of a leaf's to-be-signed certificate.
    let msg = [7u8; 600];
    let rng = ring::rand::SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
        .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?;
    let ring_key = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("P-256 key: unusable"))?;
    let rustcrypto_key = p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8.as_ref())
        .map_err(|e| anyhow::anyhow!("P-256 key for p256: {e}"))?;
    let public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        ring_key.public_key().as_ref().to_vec(),
    );
    let deterministic: p256::ecdsa::DerSignature = rustcrypto_key.sign(&msg);
    let per_op = |f: &mut dyn FnMut() -> bool| -> anyhow::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            anyhow::ensure!(f(), "a signature operation failed");
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
    };
    Ok(SignatureFloor {
        csr_check: per_op(&mut || public.verify(&msg, deterministic.as_bytes()).is_ok())?,
        sign_deterministic: per_op(&mut || {
            let s: p256::ecdsa::DerSignature = rustcrypto_key.sign(std::hint::black_box(&msg));
            !s.as_bytes().is_empty()
        })?,
        sign_ring: per_op(&mut || ring_key.sign(&rng, std::hint::black_box(&msg)).is_ok())?,
    })
}

/// About the size of a leaf's to-be-signed certificate, in bytes.
const TBS_BYTES: usize = 560;
/// About the size of a signed leaf certificate, in bytes.
const CERT_BYTES: usize = 640;
/// Certificates written by each ledger measurement of the floor.
const LEDGER_CERTS: usize = 20_000;

/// The `i`th serial of a ledger measurement: 128 bits, lowercase hex,
/// spread over the key space as random serials are.
fn floor_serial(i: usize) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

/// The least a durable SQLite ledger spends per certificate, in µs of CPU
/// (fsync's kernel time included): each certificate's reservation (an
/// `INSERT` with its to-be-signed bytes) and completion (an `UPDATE` with the
/// certificate), `per_commit` certificates to a transaction, in WAL mode with
/// `synchronous = FULL` as Palisade's ledger opens SQLite; one table with
/// its primary key only, prepared statements on one thread, no pool, no
/// async.
fn ledger_floor(dir: &std::path::Path, certs: usize, per_commit: usize) -> anyhow::Result<f64> {
    let path = dir.join("ledger-floor.db");
    let db = rusqlite::Connection::open(&path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE certs (serial TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL,
                             status TEXT NOT NULL, tbs BLOB NOT NULL, der BLOB);",
    )?;
    let tbs = vec![0x30u8; TBS_BYTES];
    let der = vec![0x30u8; CERT_BYTES];
    let mut reserved: Vec<String> = Vec::with_capacity(per_commit);
    let mut next = 0;
    let before = cpu_time("self");
    while next < certs || !reserved.is_empty() {
        let tx = db.unchecked_transaction()?;
        {
            let mut complete = tx
                .prepare_cached("UPDATE certs SET status = 'issued', der = ?2 WHERE serial = ?1")?;
            for s in reserved.drain(..) {
                anyhow::ensure!(
                    complete.execute(rusqlite::params![s, der])? == 1,
                    "lost row"
                );
            }
            let mut reserve = tx.prepare_cached(
                "INSERT INTO certs (serial, spiffe_id, status, tbs) VALUES (?1, ?2, 'reserved', ?3)",
            )?;
            for _ in 0..per_commit.min(certs - next) {
                let s = floor_serial(next);
                reserve.execute(rusqlite::params![
                    s,
                    format!("spiffe://example.org/w/{}", next % 16),
                    tbs
                ])?;
                reserved.push(s);
                next += 1;
            }
        }
        tx.commit()?;
    }
    let spent = cpu_time("self")
        .zip(before)
        .map(|(a, b)| a.saturating_sub(b));
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(spent.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6 / certs as f64))
}

/// Palisade's own ledger doing what [`ledger_floor`] does, through its
/// storage trait: reservations of `per_commit` certificates and the
/// completions of the ones before share each `write_batch`. µs of CPU per
/// certificate, the store's SQLite thread included.
async fn ledger_alone(
    dir: &std::path::Path,
    certs: usize,
    per_commit: usize,
) -> anyhow::Result<f64> {
    use palisade_store::{CertCompletion, CertRecord};
    let url = format!("sqlite://{}", dir.join("ledger-alone.db").display());
    let ledger = palisade_store::open_ledger(&url).await?;
    let der = vec![0x30u8; CERT_BYTES];
    let mut completions: Vec<CertCompletion> = Vec::new();
    let mut next = 0;
    let before = cpu_time("self");
    while next < certs || !completions.is_empty() {
        let reservations: Vec<CertRecord> = (next..(next + per_commit).min(certs))
            .map(|i| CertRecord {
                serial: floor_serial(i),
                issuer_id: "floor".into(),
                spiffe_id: format!("spiffe://example.org/w/{}", i % 16),
                sans: Vec::new(),
                public_key_hash: "00".repeat(32),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: "2026-01-01T01:00:00Z".into(),
                requester: "floor".into(),
                status: "reserved".into(),
                tbs_der: vec![0x30u8; TBS_BYTES],
                cert_der: None,
                revoked_at: None,
                revocation_reason: None,
                created_at: "2026-01-01T00:00:00Z".into(),
            })
            .collect();
        next += reservations.len();
        ledger.write_batch(&reservations, &completions).await?;
        completions = reservations
            .into_iter()
            .map(|r| CertCompletion {
                serial: r.serial,
                cert_der: der.clone(),
            })
            .collect();
    }
    let spent = cpu_time("self")
        .zip(before)
        .map(|(a, b)| a.saturating_sub(b));
    Ok(spent.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6 / certs as f64))
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("palisade-bench-ca-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}
