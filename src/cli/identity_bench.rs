//! `palisade bench identity`: the cost of identity on the request path, in
//! one run against a real `oidc-provider` (started by
//! `scripts/services/oidc.sh`):
//! 1. verifying one OIDC token with a warm key-set cache (RS256 and ES256
//!    JWT access tokens), and verifying plus mapping it to a Cedar principal;
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

/// Part 1: token verification on one thread; returns the worst mean (µs).
fn bench_verification(
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
        "{:<30} {:>10} {:>10} {:>10}",
        "row", "mean µs", "p50 µs", "p99 µs"
    );
    let mut worst = 0.0f64;
    for (alg, token) in tokens {
        let cold = Instant::now();
        rt.block_on(verifier.verify(token))
            .map_err(|e| anyhow::anyhow!("{alg} token refused: {e}"))?;
        let cold = cold.elapsed();
        for (row, map) in [("verify", false), ("verify + map to principal", true)] {
            let mut lat = Vec::with_capacity(iterations);
            rt.block_on(async {
                for _ in 0..iterations {
                    let t = Instant::now();
                    if map {
                        let _ = std::hint::black_box(verifier.authenticate(token).await);
                    } else {
                        let _ = std::hint::black_box(verifier.verify(token).await);
                    }
                    lat.push(t.elapsed());
                }
            });
            lat.sort();
            let mean = micros(lat.iter().sum::<Duration>()) / lat.len().max(1) as f64;
            let p = |q: f64| micros(lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]);
            println!(
                "{:<30} {:>10.1} {:>10.1} {:>10.1}",
                format!("{alg} {row}"),
                mean,
                p(0.5),
                p(0.99)
            );
            if !map {
                worst = worst.max(mean);
            }
        }
        println!(
            "{:<30} {:>10.1}   (first token: discovery + key set)",
            format!("{alg} cold"),
            micros(cold)
        );
    }
    println!(
        "target: at most {TARGET_US} µs per token: {} (worst mean {worst:.1} µs)",
        if worst <= TARGET_US { "met" } else { "NOT met" }
    );
    Ok(worst)
}

/// The `CheckRequest` Envoy sends for `GET orders.shop.svc/v1/orders/42`.
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
    let tokens = [
        ("RS256", token(&issuer, secret, "svc-bob", "urn:palisade")?),
        (
            "ES256",
            token(&issuer, secret, "svc-bob", "urn:palisade:es256")?,
        ),
    ];
    let result = (|| {
        bench_verification(&verifier, &tokens, args.iterations)?;

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
