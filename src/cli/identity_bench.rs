//! `palisade bench identity`: the cost of identity on the request path, in
//! one run against a real `oidc-provider` (started by
//! `scripts/services/oidc.sh`):
//! 1. verifying one OIDC token with a warm key-set cache (RS256 and ES256
//!    JWT access tokens): its first presentation (the signature is checked),
//!    a presentation again (the verified-token cache), and that plus mapping
//!    to a Cedar principal; next to the cost of the signature check alone;
//! 2. Envoy ext_authz `Check` over gRPC (one HTTP/2 connection, N concurrent
//!    streams) with a SPIFFE source and with a bearer token, next to the
//!    plain HTTP decision path (AuthZEN `POST /access/v1/evaluation`, N
//!    keep-alive connections) for the same decision, on the example bundle
//!    with the decision log writing to SQLite.
//!
//! The servers run on their own multi-threaded runtime in this process; the
//! load client runs on a single-threaded runtime on the calling thread (as
//! in `palisade bench authz`). Loops are bounded in time; loopback only.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use palisade_extauthz::{ExtAuthz, ExtAuthzConfig, ExtAuthzServer};
use palisade_identity::{IdentityConfig, IssuerConfig, PrincipalMapping, TokenVerifier};
use serde_json::json;

use crate::cli::bench::{
    duration, expect_allow_authzen, load_average, measure_http, send_once, thousands, Call,
    Figures, Palisade, Scratch, Server, Timing,
};
use crate::config::Config;

/// Options of `palisade bench identity`.
#[derive(Debug, clap::Args)]
pub struct IdentityBenchArgs {
    /// Verifications measured per algorithm.
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
    /// Concurrent gRPC streams and HTTP connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Unmeasured warm-up before each throughput measurement, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    warmup_ms: u64,
    /// Measured window of each throughput measurement, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    duration_ms: u64,
    /// Server worker threads (default: `server.worker_threads`, else one per core).
    #[arg(long)]
    server_threads: Option<usize>,
}

/// The per-token target of issue 7, in microseconds.
const TARGET_US: f64 = 50.0;
/// The workload whose request the throughput rows decide (allowed by
/// `mesh-frontend-reads-orders` in the example bundle).
const FRONTEND: &str = "spiffe://cluster.local/ns/shop/sa/frontend";

/// A client-credentials token from the provider (curl reads the client
/// secret from standard input, so it never appears in a process list).
fn token(issuer: &str, secret: &str, client: &str, resource: &str) -> anyhow::Result<String> {
    let mut child = Command::new("curl")
        .args([
            "-fsS",
            "-K",
            "-",
            "-d",
            "grant_type=client_credentials",
            "-d",
        ])
        .arg(format!("resource={resource}"))
        .arg(format!("{issuer}/token"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("curl is needed to get tokens")?;
    child
        .stdin
        .take()
        .context("curl stdin")?
        .write_all(format!("user = \"{client}:{secret}\"\n").as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "the provider refused a token");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token in the answer")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Tokens of this issuer map like `examples/policies/ext_authz.cedar` expects.
fn identity(issuer: &str) -> IdentityConfig {
    IdentityConfig {
        issuers: vec![IssuerConfig {
            issuer: issuer.to_owned(),
            audiences: vec!["urn:palisade".into()],
            principal: PrincipalMapping {
                entity_type: "Service".into(),
                group_entity_type: "ServiceGroup".into(),
                id_prefix: Some("idp|".into()),
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Mean, p50 and p99 of `n` timed runs of `f`, in µs.
fn timed(rt: &tokio::runtime::Runtime, n: usize, f: impl AsyncFn()) -> (f64, f64, f64) {
    let mut lat = Vec::with_capacity(n);
    rt.block_on(async {
        for _ in 0..n {
            let t = Instant::now();
            f().await;
            lat.push(t.elapsed());
        }
    });
    lat.sort();
    let mean = micros(lat.iter().sum::<Duration>()) / lat.len().max(1) as f64;
    let p = |q: f64| micros(lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]);
    (mean, p(0.5), p(0.99))
}

/// The signature check alone, with `ring` on this machine: the floor of a
/// token's first verification. RSA-2048 (PKCS#1 v1.5, SHA-256) with a key
/// made by OpenSSL (ring makes no RSA keys), ECDSA P-256 with ring's own.
fn signature_floor(n: usize) -> anyhow::Result<[(&'static str, f64); 2]> {
    use ring::signature::{self, KeyPair as _};
    let msg = [7u8; 700];
    let rng = ring::rand::SystemRandom::new();
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
        ])
        .stderr(Stdio::null())
        .output()
        .context("openssl makes the RSA key of the signature floor")?;
    // OpenSSL 3.0 writes RSAPrivateKey (PKCS#1) DER here, later ones PKCS#8.
    let rsa = signature::RsaKeyPair::from_der(&out.stdout)
        .or_else(|_| signature::RsaKeyPair::from_pkcs8(&out.stdout))
        .map_err(|e| anyhow::anyhow!("openssl's RSA key: {e}"))?;
    let mut rsa_sig = vec![0; rsa.public().modulus_len()];
    rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut rsa_sig)
        .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
    let rsa_pub = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rsa.public().as_ref().to_vec(),
    );
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
        .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?;
    let ec = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("P-256 key: unusable"))?;
    let ec_sig = ec
        .sign(&rng, &msg)
        .map_err(|_| anyhow::anyhow!("P-256 signing failed"))?;
    let ec_pub = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        ec.public_key().as_ref().to_vec(),
    );
    let mean = |f: &dyn Fn() -> bool| -> anyhow::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            anyhow::ensure!(f(), "a valid signature did not verify");
        }
        Ok(micros(t.elapsed()) / n as f64)
    };
    Ok([
        ("RS256", mean(&|| rsa_pub.verify(&msg, &rsa_sig).is_ok())?),
        (
            "ES256",
            mean(&|| ec_pub.verify(&msg, ec_sig.as_ref()).is_ok())?,
        ),
    ])
}

/// Part 1: token verification on one thread. `fresh` checks every
/// signature (its verified-token cache is off), `verifier` remembers the
/// tokens it verified. Returns the worst mean of a token presented again.
fn bench_verification(
    fresh: &TokenVerifier,
    verifier: &TokenVerifier,
    tokens: &[(&str, String)],
    iterations: usize,
) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "\nOIDC token verification, warm key-set cache, one thread, {iterations} tokens per row"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "row", "mean µs", "p50 µs", "p99 µs"
    );
    let floor = signature_floor(iterations.clamp(1, 5_000))?;
    let mut worst = 0.0f64;
    let mut first = Vec::new();
    for (alg, token) in tokens {
        let cold = Instant::now();
        rt.block_on(verifier.verify(token))
            .map_err(|e| anyhow::anyhow!("{alg} token refused: {e}"))?;
        let cold = cold.elapsed();
        rt.block_on(fresh.verify(token))
            .map_err(|e| anyhow::anyhow!("{alg} token refused: {e}"))?;
        let rows: [(&str, &TokenVerifier, bool); 3] = [
            ("first presentation (signature)", fresh, false),
            ("presented again", verifier, false),
            ("again + map to principal", verifier, true),
        ];
        for (i, (row, v, map)) in rows.into_iter().enumerate() {
            let (mean, p50, p99) = timed(&rt, iterations, async || {
                if map {
                    let _ = std::hint::black_box(v.authenticate(token).await);
                } else {
                    let _ = std::hint::black_box(v.verify(token).await);
                }
            });
            println!(
                "{:<40} {:>10.1} {:>10.1} {:>10.1}",
                format!("{alg} {row}"),
                mean,
                p50,
                p99
            );
            match i {
                0 => first.push((*alg, mean)),
                1 => worst = worst.max(mean),
                _ => {}
            }
        }
        if let Some((_, f)) = floor.iter().find(|(a, _)| a == alg) {
            println!(
                "{:<40} {:>10.1}",
                format!("{alg} signature alone (ring)"),
                f
            );
        }
        println!(
            "{:<40} {:>10.1}   (first token: discovery + key set)",
            format!("{alg} cold"),
            micros(cold)
        );
    }
    println!(
        "target: at most {TARGET_US} µs per token: {} for tokens presented again (worst mean {worst:.1} µs)",
        if worst <= TARGET_US { "met" } else { "NOT met" }
    );
    for (alg, mean) in first {
        let sig = floor.iter().find(|(a, _)| *a == alg).map_or(0.0, |f| f.1);
        println!(
            "  first presentation of an {alg} token: {mean:.1} µs, {} (its signature alone: {sig:.1} µs)",
            if mean <= TARGET_US { "met" } else { "NOT met" }
        );
    }
    Ok(worst)
}

fn check_request(source: &str, authorization: Option<&str>) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    headers.insert("user-agent".to_owned(), "bench".to_owned());
    if let Some(a) = authorization {
        headers.insert("authorization".to_owned(), a.to_owned());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: source.into(),
                ..Default::default()
            }),
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/v1/orders/42".into(),
                    host: "orders.shop.svc".into(),
                    scheme: "https".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// The same decision as the SPIFFE `Check`, asked over AuthZEN.
fn authzen_body() -> bytes::Bytes {
    let body = json!({
        "subject": {"type": "Workload", "id": FRONTEND, "properties": {
            "trust_domain": "cluster.local", "path": "/ns/shop/sa/frontend",
            "segments": ["ns", "shop", "sa", "frontend"]}},
        "action": {"name": "http:read"},
        "resource": {"type": "HttpRoute", "id": "orders.shop.svc/v1/orders/42", "properties": {
            "host": "orders.shop.svc", "path": "/v1/orders/42", "segments": ["v1", "orders", "42"]}},
        "context": {"method": "GET", "path": "/v1/orders/42", "query": "", "host": "orders.shop.svc",
            "scheme": "https", "source_address": "", "source_principal": FRONTEND,
            "destination_principal": "", "headers": {}},
    });
    bytes::Bytes::from(body.to_string())
}

/// `streams` concurrent `Check` calls on one HTTP/2 connection, back to
/// back: a warm-up, then the measured window. Anything but OK fails it.
async fn measure_grpc(
    addr: SocketAddr,
    request: CheckRequest,
    streams: usize,
    timing: Timing,
) -> anyhow::Result<Figures> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let first = AuthorizationClient::new(channel.clone())
        .check(request.clone())
        .await?
        .into_inner();
    anyhow::ensure!(
        first.status.as_ref().is_some_and(|s| s.code == 0),
        "the benchmark's Check is not allowed: {:?}",
        first.status
    );
    let measure_from = Instant::now() + timing.warmup;
    let end = measure_from + timing.duration;
    let mut tasks = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut client = AuthorizationClient::new(channel.clone());
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(1 << 16);
            let mut last = measure_from;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let r = client.check(request.clone()).await?.into_inner();
                anyhow::ensure!(
                    r.status.as_ref().is_some_and(|s| s.code == 0),
                    "Check denied during the measurement: {:?}",
                    r.status
                );
                let t1 = Instant::now();
                if t0 >= measure_from {
                    samples.push((t1 - t0).as_nanos() as u64);
                    last = last.max(t1);
                }
            }
            Ok::<_, anyhow::Error>((samples, last))
        }));
    }
    let mut samples = Vec::new();
    let mut last = measure_from;
    for t in tasks {
        let (s, l) = t.await??;
        samples.extend(s);
        last = last.max(l);
    }
    Ok(Figures::from_samples(
        samples,
        last.saturating_duration_since(measure_from),
        1,
    ))
}

fn print_row(name: &str, f: &Figures) {
    println!(
        "{name:<44} {:>12} {:>10} {:>10} {:>10}",
        thousands(f.ops_per_s as u64),
        duration(f.mean_ns),
        duration(f.p50_ns),
        duration(f.p99_ns)
    );
}

/// Runs the benchmark.
pub fn run(config: Config, args: IdentityBenchArgs) -> anyhow::Result<ExitCode> {
    let timing = Timing {
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms.max(1)),
    };
    let threads = args
        .server_threads
        .or(config.server.worker_threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    println!("palisade bench identity");
    println!(
        "  {} cores, load average {}; server: {threads} worker threads; client: 1 thread; {} concurrent streams / connections",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        args.concurrency
    );
    let env = crate::cli::ca_bench::start_service("oidc.sh")?;
    let issuer = env["OIDC_ISSUER"].clone();
    let secret = &env["OIDC_CLIENT_SECRET"];
    let identity = identity(&issuer);
    let verifier = Arc::new(TokenVerifier::new(&identity)?);
    let fresh = TokenVerifier::new(&IdentityConfig {
        verified_token_cache: 0,
        ..identity.clone()
    })?;
    let tokens = [
        ("RS256", token(&issuer, secret, "svc-bob", "urn:palisade")?),
        (
            "ES256",
            token(&issuer, secret, "svc-bob", "urn:palisade:es256")?,
        ),
    ];
    let result = (|| {
        bench_verification(&fresh, &verifier, &tokens, args.iterations)?;

        let scratch = Scratch::new("identity")?;
        let mut config = config.clone();
        config.data_dir = scratch.path().to_path_buf();
        config.policy.dir = None;
        let policy_dir = crate::cli::serve::policy_dir(&config)?;
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("bench-server")
            .enable_all()
            .build()?;
        let palisade = server_rt.block_on(Palisade::start(&config, &policy_dir, scratch.path()))?;
        let authz = ExtAuthz::new(
            ExtAuthzConfig {
                enabled: true,
                grpc_listen: "127.0.0.1:0".into(),
                ..Default::default()
            },
            palisade.pdp.clone(),
            verifier.clone(),
            identity.workload.clone(),
        )?;
        let ext = server_rt.block_on(ExtAuthzServer::start(Arc::new(authz)))?;
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        println!(
            "\nDecisions at {} concurrent streams / connections, {} ms after {} ms warm-up (example bundle, decision log on)",
            args.concurrency, args.duration_ms, args.warmup_ms
        );
        println!(
            "{:<44} {:>12} {:>10} {:>10} {:>10}",
            "path", "ops/s", "mean", "p50", "p99"
        );
        let bearer = format!("Bearer {}", tokens[0].1);
        let mut rows = Vec::new();
        for (name, request) in [
            ("gRPC Check, SPIFFE source", check_request(FRONTEND, None)),
            (
                "gRPC Check, bearer token (RS256)",
                check_request("", Some(bearer.as_str())),
            ),
        ] {
            let f = client.block_on(measure_grpc(
                ext.grpc_addr(),
                request,
                args.concurrency,
                timing,
            ))?;
            print_row(name, &f);
            rows.push(f);
            server_rt.block_on(palisade.drain_log());
        }
        let call = Call {
            addr: palisade.addr,
            path: "/access/v1/evaluation".into(),
            body: Some(authzen_body()),
        };
        let (status, body) = client.block_on(send_once(&call))?;
        anyhow::ensure!(status == 200, "AuthZEN answered {status}");
        expect_allow_authzen(&body)?;
        let http = client.block_on(measure_http(
            &call,
            Server::ThisProcess,
            args.concurrency,
            1,
            timing,
        ))?;
        print_row("HTTP/1.1 AuthZEN /access/v1/evaluation", &http);
        println!(
            "gRPC Check (SPIFFE) / HTTP AuthZEN: {:.2}x throughput, {:.2}x p99",
            rows[0].ops_per_s / http.ops_per_s.max(1e-9),
            rows[0].p99_ns as f64 / http.p99_ns.max(1) as f64
        );
        drop(ext);
        let records = server_rt.block_on(palisade.shutdown())?;
        println!("decision log: {} records written", thousands(records));
        println!("load average at the end: {}", load_average());
        Ok::<_, anyhow::Error>(())
    })();
    if let Some(pid) = env.get("OIDC_PID") {
        let _ = Command::new("kill").arg(pid).status();
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
