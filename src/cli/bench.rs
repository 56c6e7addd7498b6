//! `palisade bench authz`: what one decision costs, from the raw Cedar engine
//! up to HTTP over loopback, side by side with a peer server (cedar-agent).
//!
//! One run measures two entity stores — the example bundle and a generated
//! store with the same schema, policies and links — and for each:
//! 1. the raw engine (`cedar_policy::Authorizer::is_authorized`) on a request
//!    built once;
//! 2. the whole handler in-process (`tower::ServiceExt::oneshot` on the
//!    router, JSON in and out, the decision log writing to SQLite);
//! 3. HTTP/1.1 keep-alive over real loopback TCP at 1 and 8 connections, for
//!    single AuthZEN evaluations and batches of 100;
//! 4. the peer: cedar-agent on the same (equivalent) policies and entities,
//!    against Palisade's Cedar-native endpoint, with the same client and the
//!    same request body.
//!
//! The server runs on its own multi-threaded runtime (wired as `palisade
//! serve` wires it); the load client runs on a separate single-threaded
//! runtime on the calling thread, so neither starves the other's scheduler.
//! Every loop is bounded in count and time, and only loopback is used.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use palisade_policy::decision_log::{AuditKeys, DecisionLog};
use palisade_policy::{
    DecisionPoint, HttpOptions, PolicyMetrics, PolicyStore, PolicyUpdate, SourceFile,
};
use serde::Serialize;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::config::Config;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Authorization: raw engine, handler, HTTP, and cedar-agent side by side.
    Authz(AuthzArgs),
    /// Vulnerability scan of an image archive, side by side with syft.
    Scan(crate::cli::scan::BenchScanArgs),
    /// CA issuance over HTTP, side by side with OpenBao's PKI engine.
    Ca(crate::cli::ca_bench::CaBenchArgs),
    /// Configuration scan of a generated corpus (Kubernetes, Dockerfile, Terraform), side by side with Checkov.
    Config(crate::cli::config_bench::BenchConfigArgs),
    /// Decisions and issuance with 2 replicas against 1 on PostgreSQL, and PostgreSQL against SQLite.
    Store(crate::cli::store_bench::StoreBenchArgs),
    /// Compliance reports: every export of the three frameworks for 1k-100k findings.
    Compliance(crate::cli::compliance_bench::ComplianceBenchArgs),
    /// OIDC token verification with a warm key-set cache (RS256, ES256).
    Identity(crate::cli::identity_bench::IdentityBenchArgs),
}

/// Options of `palisade bench authz`.
#[derive(Debug, clap::Args)]
pub struct AuthzArgs {
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The cedar-agent binary to compare against (default:
    /// target/peers/bin/cedar-agent, as scripts/install-peers.sh installs it).
    #[arg(long, value_name = "PATH")]
    peer_cedar_agent: Option<PathBuf>,
    /// Skip the cedar-agent comparison.
    #[arg(long)]
    no_peer: bool,
    /// Entities in the generated store, actions included.
    #[arg(long, default_value_t = 20_000)]
    entities: usize,
    /// Length of each measurement, in milliseconds.
    #[arg(long, default_value_t = 2_500)]
    duration_ms: u64,
    /// Unmeasured warm-up before each measurement, in milliseconds.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Server worker threads (default: server.worker_threads, else one per core).
    #[arg(long)]
    server_threads: Option<usize>,
}

/// Runs a benchmark.
pub fn run(config: Config, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Authz(args) => authz(config, args),
        BenchCommand::Scan(args) => crate::cli::scan::bench(config, args),
        BenchCommand::Ca(args) => crate::cli::ca_bench::run(config, args),
        BenchCommand::Config(args) => crate::cli::config_bench::run(config, args),
        BenchCommand::Store(args) => crate::cli::store_bench::run(config, args),
        BenchCommand::Compliance(args) => crate::cli::compliance_bench::run(config, args),
        BenchCommand::Identity(args) => crate::cli::identity_bench::run(config, args),
    }
}

// ---------------------------------------------------------------------------
// The bundles
// ---------------------------------------------------------------------------

/// The example schema.
const SCHEMA: &str = include_str!("../../examples/policies/app.cedarschema");
/// The example policies.
const DOCUMENTS: &str = include_str!("../../examples/policies/documents.cedar");
/// The example template.
const SHARING: &str = include_str!("../../examples/policies/sharing.cedar");
/// The example template links.
const LINKS: &str = include_str!("../../examples/policies/links.json");
/// The example entities.
const EXAMPLE_ENTITIES: &str = include_str!("../../examples/policies/entities.json");

/// Actions the example schema declares (each one an entity of the store):
/// read, write, delete, share, the CA's `ca:issue`, `admin` with its six
/// `admin:*` members, and ext_authz's `http:read`, `http:write`, `http:delete`.
const SCHEMA_ACTIONS: usize = 15;

/// The example policy set written so that Cedar 2.x (cedar-agent) parses it:
/// no `is` (Cedar 3) and no template (cedar-agent stores static policies
/// only). Under the example schema it decides exactly as the example bundle:
/// only `Document` has `classification` and `public`, so `resource has
/// classification` holds exactly when `resource is Document`, and the one
/// template link is written out as the static policy it stands for.
const PEER_POLICIES: &[(&str, &str)] = &[
    (
        "owners-full-access",
        "permit (principal, action, resource)\nwhen { resource has owner && resource.owner == principal };",
    ),
    (
        "staff-read-by-clearance",
        "permit (principal in Group::\"staff\", action == Action::\"read\", resource)\n\
         when { resource has classification && principal has clearance && resource.classification <= principal.clearance };",
    ),
    (
        "public-read",
        "permit (principal, action == Action::\"read\", resource)\nwhen { resource has public && resource.public };",
    ),
    (
        "delete-needs-mfa",
        "forbid (principal, action == Action::\"delete\", resource)\nunless { context has mfa && context.mfa };",
    ),
    (
        "carol-edits-engineering",
        "permit (principal == User::\"carol\", action in [Action::\"read\", Action::\"write\"], resource in Folder::\"engineering\");",
    ),
];

/// The example schema in the JSON schema format Cedar 2.x reads.
const PEER_SCHEMA_JSON: &str = r#"{
  "": {
    "entityTypes": {
      "Group": {},
      "User": {
        "memberOfTypes": ["Group"],
        "shape": { "type": "Record", "attributes": {
          "department": { "type": "String" },
          "clearance": { "type": "Long" } } }
      },
      "Folder": {
        "memberOfTypes": ["Folder"],
        "shape": { "type": "Record", "attributes": {
          "owner": { "type": "Entity", "name": "User" } } }
      },
      "Document": {
        "memberOfTypes": ["Folder"],
        "shape": { "type": "Record", "attributes": {
          "owner": { "type": "Entity", "name": "User" },
          "classification": { "type": "Long" },
          "public": { "type": "Boolean" } } }
      }
    },
    "actions": {
      "read": { "appliesTo": { "principalTypes": ["User"], "resourceTypes": ["Document", "Folder"],
                "context": { "type": "Record", "attributes": { "mfa": { "type": "Boolean", "required": false } } } } },
      "write": { "appliesTo": { "principalTypes": ["User"], "resourceTypes": ["Document", "Folder"],
                "context": { "type": "Record", "attributes": { "mfa": { "type": "Boolean", "required": false } } } } },
      "delete": { "appliesTo": { "principalTypes": ["User"], "resourceTypes": ["Document", "Folder"],
                "context": { "type": "Record", "attributes": { "mfa": { "type": "Boolean", "required": false } } } } },
      "share": { "appliesTo": { "principalTypes": ["User"], "resourceTypes": ["Document", "Folder"],
                "context": { "type": "Record", "attributes": { "mfa": { "type": "Boolean", "required": false } } } } }
    }
  }
}"#;

/// The peer-compatible policy set as one Cedar file, ids as `@id`.
fn peer_policies_cedar() -> String {
    let mut text =
        String::from("// The example policies in Cedar 2 syntax (see `palisade bench authz`).\n");
    for (id, body) in PEER_POLICIES {
        let _ = write!(text, "@id(\"{id}\")\n{body}\n\n");
    }
    text
}

/// The peer-compatible policy set as cedar-agent's policy file.
fn peer_policies_json() -> Value {
    Value::Array(
        PEER_POLICIES
            .iter()
            .map(|(id, body)| json!({ "id": id, "content": body }))
            .collect(),
    )
}

/// Writes a bundle directory: the example schema, policies and links, and
/// these entities.
fn write_bundle(dir: &Path, entities_json: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in [
        ("app.cedarschema", SCHEMA),
        ("documents.cedar", DOCUMENTS),
        ("sharing.cedar", SHARING),
        ("links.json", LINKS),
        ("entities.json", entities_json),
    ] {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(())
}

/// Departments of generated users.
const DEPARTMENTS: [&str; 5] = ["engineering", "sales", "support", "finance", "legal"];

/// Id of generated group `g` (0 is the example's `staff`).
fn group_id(g: usize) -> String {
    if g == 0 {
        "staff".into()
    } else {
        format!("group-{g:04}")
    }
}

/// Id of generated user `u` (0–2 are the example's users).
fn user_id(u: usize) -> String {
    match u {
        0 => "alice".into(),
        1 => "bob".into(),
        2 => "carol".into(),
        _ => format!("user-{u:05}"),
    }
}

/// Id of generated folder `f` (0 is the example's `engineering`).
fn folder_id(f: usize) -> String {
    if f == 0 {
        "engineering".into()
    } else {
        format!("folder-{f:04}")
    }
}

/// An entity reference in Cedar's entity JSON.
fn uid(kind: &str, id: &str) -> Value {
    json!({ "type": kind, "id": id })
}

/// A store of `total` entities (the schema's actions included) with the
/// example schema: users in groups, documents in a tree of folders. The
/// example's entities are part of it, unchanged, so every request of the
/// example decides the same on it.
fn generated_entities(total: usize) -> anyhow::Result<Value> {
    anyhow::ensure!(
        total >= 100,
        "the generated store needs at least 100 entities"
    );
    let rest = total - SCHEMA_ACTIONS;
    let groups = (rest / 400).max(2);
    let folders = (rest / 100).max(1);
    let users = rest / 4 - groups;
    let documents = rest - groups - folders - users;
    let mut out = Vec::with_capacity(rest);
    for g in 0..groups {
        out.push(json!({ "uid": uid("Group", &group_id(g)), "attrs": {}, "parents": [] }));
    }
    for u in 0..users {
        let (department, clearance, parents) = match u {
            0 => ("engineering", 3, vec![uid("Group", "staff")]),
            1 => ("sales", 1, vec![uid("Group", "staff")]),
            2 => ("contractors", 0, vec![]),
            _ => {
                let mut parents = vec![uid("Group", &group_id(1 + u % (groups - 1)))];
                if u % 3 == 0 {
                    parents.push(uid("Group", "staff"));
                }
                (DEPARTMENTS[u % DEPARTMENTS.len()], u % 4, parents)
            }
        };
        out.push(json!({
            "uid": uid("User", &user_id(u)),
            "attrs": { "department": department, "clearance": clearance },
            "parents": parents,
        }));
    }
    for f in 0..folders {
        let (owner, parents) = match f {
            0 => (0, vec![]),
            _ => (f % users, vec![uid("Folder", &folder_id((f - 1) / 8))]),
        };
        out.push(json!({
            "uid": uid("Folder", &folder_id(f)),
            "attrs": { "owner": uid("User", &user_id(owner)) },
            "parents": parents,
        }));
    }
    for d in 0..documents {
        let (id, owner, classification, public, parents) = match d {
            0 => (
                "roadmap".into(),
                0,
                2,
                false,
                vec![uid("Folder", "engineering")],
            ),
            1 => (
                "design".into(),
                0,
                3,
                false,
                vec![uid("Folder", "engineering")],
            ),
            2 => ("handbook".into(), 1, 0, true, vec![]),
            _ => (
                format!("doc-{d:05}"),
                d % users,
                d % 4,
                d % 7 == 0,
                vec![uid("Folder", &folder_id(d % folders))],
            ),
        };
        out.push(json!({
            "uid": uid("Document", &id),
            "attrs": {
                "owner": uid("User", &user_id(owner)),
                "classification": classification,
                "public": public,
            },
            "parents": parents,
        }));
    }
    Ok(Value::Array(out))
}

/// The same entities with every entity reference among attributes written
/// with an explicit `__entity` escape, which Cedar 2.x (cedar-agent) needs:
/// it reads the entities once without the schema, where a bare
/// `{"type", "id"}` object would be a record.
fn escape_entity_refs(entities: &Value) -> Value {
    let mut out = entities.clone();
    if let Some(items) = out.as_array_mut() {
        for attrs in items
            .iter_mut()
            .filter_map(|e| e.get_mut("attrs").and_then(Value::as_object_mut))
        {
            for v in attrs.values_mut() {
                let is_ref = v.as_object().is_some_and(|o| {
                    o.len() == 2 && o.contains_key("type") && o.contains_key("id")
                });
                if is_ref {
                    *v = json!({ "__entity": v.take() });
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The request every single-decision measurement asks (an allow, decided by
/// two policies: ownership and staff clearance).
const SUBJECT: &str = "alice";
/// The action of the measured request.
const ACTION: &str = "read";
/// The resource of the measured request.
const RESOURCE: &str = "roadmap";
/// Items in one measured batch.
const BATCH: usize = 100;

/// `POST /access/v1/evaluation` body of the measured request.
fn authzen_body() -> Bytes {
    Bytes::from(
        json!({
            "subject": { "type": "User", "id": SUBJECT },
            "action": { "name": ACTION },
            "resource": { "type": "Document", "id": RESOURCE },
        })
        .to_string(),
    )
}

/// Cedar-native body (`POST /v1/is_authorized`), the same for Palisade and
/// cedar-agent.
fn cedar_body(principal: &str, action: &str, resource: &str, context: &Value) -> Bytes {
    Bytes::from(
        json!({
            "principal": principal,
            "action": format!("Action::\"{action}\""),
            "resource": resource,
            "context": context,
        })
        .to_string(),
    )
}

/// `POST /access/v1/evaluations` body: [`BATCH`] items over the example's
/// users, documents and actions (allows and denies mixed).
fn authzen_batch_body() -> Bytes {
    let users = ["alice", "bob", "carol"];
    let docs = ["roadmap", "design", "handbook"];
    let actions = ["read", "write", "delete", "share"];
    let items: Vec<Value> = (0..BATCH)
        .map(|i| {
            json!({
                "subject": { "type": "User", "id": users[i % 3] },
                "action": { "name": actions[(i / 3) % 4] },
                "resource": { "type": "Document", "id": docs[(i / 12) % 3] },
            })
        })
        .collect();
    Bytes::from(json!({ "evaluations": items }).to_string())
}

/// The requests that check, on the live servers, that Palisade and the peer
/// decide alike: every example user on every example resource, every action,
/// with and without MFA.
fn check_requests() -> Vec<Bytes> {
    let mut out = Vec::new();
    for user in ["alice", "bob", "carol"] {
        for resource in [
            "Document::\"roadmap\"",
            "Document::\"design\"",
            "Document::\"handbook\"",
            "Folder::\"engineering\"",
        ] {
            for action in ["read", "write", "delete", "share"] {
                for context in [json!({}), json!({ "mfa": true })] {
                    let principal = format!("User::\"{user}\"");
                    out.push(cedar_body(&principal, action, resource, &context));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

/// How long a measurement runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Unmeasured warm-up.
    pub(crate) warmup: Duration,
    /// Measured window.
    pub(crate) duration: Duration,
}

/// Most samples one in-process measurement keeps (bounds memory and loops).
const MAX_SAMPLES: usize = 4_000_000;
/// Most requests one HTTP connection sends in one measurement.
const MAX_REQUESTS_PER_CONNECTION: usize = 1_000_000;

/// The figures of one measurement.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figures {
    /// Operations (calls or HTTP requests) measured.
    pub(crate) ops: u64,
    /// Measured window, seconds.
    seconds: f64,
    /// Operations per second.
    pub(crate) ops_per_s: f64,
    /// Decisions per second (ops × decisions per op).
    decisions_per_s: f64,
    /// Median latency of one operation, nanoseconds.
    pub(crate) p50_ns: u64,
    /// 99th percentile latency of one operation, nanoseconds.
    pub(crate) p99_ns: u64,
    /// Mean latency of one operation, nanoseconds.
    pub(crate) mean_ns: u64,
    /// CPU used during the measured window (HTTP measurements).
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<CpuUse>,
}

/// CPU used during a measured window, in cores (CPU seconds per second).
#[derive(Debug, Clone, Copy, Serialize)]
struct CpuUse {
    /// The load client (one thread).
    client_cores: f64,
    /// The server process (for Palisade: this process less the client thread,
    /// so the decision log writer and SQLite are included).
    server_cores: f64,
}

/// Clock ticks per second of the CPU times in /proc (USER_HZ: 100 on Linux).
const USER_HZ: f64 = 100.0;

/// User plus system CPU time, in seconds, from a /proc `stat` file.
fn cpu_seconds(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Which process serves an HTTP measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Server {
    /// This process (Palisade in-process).
    ThisProcess,
    /// A child process (the peer).
    Child(u32),
}

/// CPU seconds so far: the calling thread (the client) and the server process.
fn cpu_snapshot(server: Server) -> Option<(f64, f64)> {
    let client = cpu_seconds("/proc/thread-self/stat")?;
    let process = match server {
        Server::ThisProcess => cpu_seconds("/proc/self/stat")? - client,
        Server::Child(pid) => cpu_seconds(&format!("/proc/{pid}/stat"))?,
    };
    Some((client, process))
}

impl Figures {
    /// Figures from latency samples (ns) over a window.
    pub(crate) fn from_samples(
        mut samples: Vec<u64>,
        window: Duration,
        decisions_per_op: u64,
    ) -> Self {
        samples.sort_unstable();
        let ops = samples.len() as u64;
        let seconds = window.as_secs_f64().max(1e-9);
        let ops_per_s = ops as f64 / seconds;
        let mean_ns = if ops == 0 {
            0
        } else {
            (samples.iter().map(|&s| u128::from(s)).sum::<u128>() / u128::from(ops)) as u64
        };
        Self {
            ops,
            seconds,
            ops_per_s,
            decisions_per_s: ops_per_s * decisions_per_op as f64,
            p50_ns: percentile(&samples, 0.50),
            p99_ns: percentile(&samples, 0.99),
            mean_ns,
            cpu: None,
        }
    }
}

/// Nearest-rank percentile of sorted samples (0 when there are none).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times `op` one call at a time: a warm-up, then the measured window.
fn measure_sync(timing: Timing, mut op: impl FnMut()) -> Figures {
    let warm_until = Instant::now() + timing.warmup;
    while Instant::now() < warm_until {
        op();
    }
    let mut samples = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let end = start + timing.duration;
    loop {
        let t0 = Instant::now();
        if t0 >= end || samples.len() >= MAX_SAMPLES {
            break;
        }
        op();
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    let window = start.elapsed();
    Figures::from_samples(samples, window, 1)
}

/// Times the whole handler in-process: an HTTP request value with a JSON
/// body through the router (`oneshot`), the response body collected.
async fn measure_handler(
    router: axum::Router,
    body: Bytes,
    timing: Timing,
) -> anyhow::Result<Figures> {
    let call = |body: Bytes| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::post("/access/v1/evaluation")
                .header(CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))?;
            let response = router.oneshot(request).await?;
            anyhow::ensure!(
                response.status() == 200,
                "handler answered {}",
                response.status()
            );
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>(bytes)
        }
    };
    let first = call(body.clone()).await?;
    expect_allow_authzen(&first)?;
    let warm_until = Instant::now() + timing.warmup;
    while Instant::now() < warm_until {
        black_box(call(body.clone()).await?);
    }
    let mut samples = Vec::with_capacity(1 << 18);
    let start = Instant::now();
    let end = start + timing.duration;
    loop {
        let t0 = Instant::now();
        if t0 >= end || samples.len() >= MAX_SAMPLES {
            break;
        }
        black_box(call(body.clone()).await?);
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    Ok(Figures::from_samples(samples, start.elapsed(), 1))
}

/// Checks that an AuthZEN answer is an allow.
pub(crate) fn expect_allow_authzen(body: &[u8]) -> anyhow::Result<()> {
    let v: Value = serde_json::from_slice(body).context("answer is not JSON")?;
    anyhow::ensure!(
        v["decision"] == Value::Bool(true),
        "expected an allow, got {}",
        String::from_utf8_lossy(body)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The HTTP client
// ---------------------------------------------------------------------------

/// One keep-alive HTTP/1.1 connection.
type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A POST (or GET, without body) the client repeats.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Server address.
    pub(crate) addr: SocketAddr,
    /// Request path.
    pub(crate) path: String,
    /// JSON body; `None` for a GET.
    pub(crate) body: Option<Bytes>,
}

/// Opens a keep-alive connection; its driver runs on the current runtime.
async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer.
async fn send(
    conn: &mut Connection,
    call: &Call,
    host: &HeaderValue,
) -> anyhow::Result<(u16, Bytes)> {
    conn.ready().await?;
    let builder = hyper::Request::builder()
        .uri(call.path.as_str())
        .header(HOST, host);
    let request = match &call.body {
        Some(body) => builder
            .method("POST")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?,
        None => builder.method("GET").body(Full::new(Bytes::new()))?,
    };
    let response = conn.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a fresh connection.
pub(crate) async fn send_once(call: &Call) -> anyhow::Result<(u16, Bytes)> {
    let host = HeaderValue::from_str(&call.addr.to_string())?;
    let mut conn = connect(call.addr).await?;
    send(&mut conn, call, &host).await
}

/// Runs `connections` keep-alive connections, each sending `call` back to
/// back: a warm-up, then the measured window. Any non-200 answer fails the
/// measurement.
pub(crate) async fn measure_http(
    call: &Call,
    server: Server,
    connections: usize,
    decisions_per_request: u64,
    timing: Timing,
) -> anyhow::Result<Figures> {
    let host = HeaderValue::from_str(&call.addr.to_string())?;
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(connect(call.addr).await?);
    }
    let begin = Instant::now();
    let measure_from = begin + timing.warmup;
    let end = measure_from + timing.duration;
    // CPU use over the measured window, sampled on this (the client's) thread.
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let (t0, a) = (Instant::now(), cpu_snapshot(server));
        tokio::time::sleep_until(end.into()).await;
        let (t1, b) = (Instant::now(), cpu_snapshot(server));
        let wall = (t1 - t0).as_secs_f64().max(1e-9);
        Some(CpuUse {
            client_cores: (b?.0 - a?.0) / wall,
            server_cores: (b?.1 - a?.1) / wall,
        })
    });
    let mut tasks = Vec::with_capacity(connections);
    for mut conn in conns {
        let (call, host) = (call.clone(), host.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(1 << 16);
            let mut last = measure_from;
            for _ in 0..MAX_REQUESTS_PER_CONNECTION {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let (status, body) = send(&mut conn, &call, &host).await?;
                anyhow::ensure!(
                    status == 200,
                    "{} answered {status}: {}",
                    call.path,
                    String::from_utf8_lossy(&body)
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
    for task in tasks {
        let (s, l) = task.await??;
        samples.extend(s);
        last = last.max(l);
    }
    let mut figures = Figures::from_samples(
        samples,
        last.saturating_duration_since(measure_from),
        decisions_per_request,
    );
    figures.cpu = sampler.await?;
    Ok(figures)
}

// ---------------------------------------------------------------------------
// Palisade in-process
// ---------------------------------------------------------------------------

/// A scratch directory, removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A new, empty directory under the system's temporary directory.
    pub(crate) fn new(label: &str) -> anyhow::Result<Self> {
        let name = format!(
            "palisade-bench-{label}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Palisade decision API wired as `palisade serve` wires it, on a SQLite
/// store in a scratch directory, listening on a loopback port.
pub(crate) struct Palisade {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The decision point behind the router.
    pub(crate) pdp: Arc<DecisionPoint>,
    /// The router, for in-process calls.
    router: axum::Router,
    /// The live policies.
    policies: Arc<PolicyStore>,
    /// The decision log.
    log: Arc<DecisionLog>,
    /// The metrics (dropped log entries).
    metrics: PolicyMetrics,
    /// The store the log writes to.
    store: Arc<dyn palisade_store::Store>,
    /// Stops the server.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The server task.
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Palisade {
    /// Starts it on the current runtime (which must be the server's).
    pub(crate) async fn start(
        config: &Config,
        policy_dir: &Path,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let url = format!("sqlite://{}", data_dir.join("palisade.db").display());
        let store = palisade_store::open(&url).await?;
        let metrics = PolicyMetrics::new();
        let policies = Arc::new(
            PolicyStore::open(
                policy_dir,
                store.clone(),
                metrics.clone(),
                config.policy.on_evaluation_error,
            )
            .await
            .with_context(|| format!("cannot load policies from {}", policy_dir.display()))?,
        );
        let keys = Arc::new(AuditKeys::load_or_create(data_dir)?);
        let log = Arc::new(
            DecisionLog::start(store.clone(), keys, &config.decision_log, metrics.clone()).await?,
        );
        let pdp = Arc::new(DecisionPoint::new(
            policies.clone(),
            log.clone(),
            metrics.clone(),
            config.authzen.clone(),
            config.limits.clone(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = palisade_policy::router(
            pdp.clone(),
            HttpOptions {
                max_body_bytes: config.server.max_body_bytes,
                public_url: format!("http://{addr}"),
                ..Default::default()
            },
        );
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            addr,
            pdp,
            router,
            policies,
            log,
            metrics,
            store,
            stop,
            server,
        })
    }

    /// Waits (at most 30 s) until the decision log has taken every queued
    /// entry, so that one measurement's log backlog does not load the next.
    pub(crate) async fn drain_log(&self) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.log.queue_depth() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Stops the server, flushes the log, and says how many records it holds.
    pub(crate) async fn shutdown(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        self.log.shutdown().await;
        let head = self.store.chain_head().await?;
        Ok(head.map_or(0, |h| h.seq.max(0) as u64))
    }
}

// ---------------------------------------------------------------------------
// cedar-agent
// ---------------------------------------------------------------------------

/// A cedar-agent process on a loopback port, killed when dropped.
struct CedarAgent {
    /// The process.
    child: Child,
    /// Where it listens.
    addr: SocketAddr,
    /// Its output (stdout and stderr).
    log_file: PathBuf,
}

impl Drop for CedarAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(StdTcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last lines of a file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl CedarAgent {
    /// Starts cedar-agent with the peer policy set, the example schema and
    /// these entities, loaded from files at startup, and waits (at most 60 s)
    /// until it answers.
    async fn start(bin: &Path, dir: &Path, entities: &Value) -> anyhow::Result<Self> {
        let policies = dir.join("peer-policies.json");
        let data = dir.join("peer-data.json");
        let schema = dir.join("peer-schema.json");
        std::fs::write(&policies, peer_policies_json().to_string())?;
        std::fs::write(&data, escape_entity_refs(entities).to_string())?;
        std::fs::write(&schema, PEER_SCHEMA_JSON)?;
        let log_file = dir.join("cedar-agent.log");
        let out = std::fs::File::create(&log_file)?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // cedar-agent lets environment variables (prefixed or not) override
        // its flags, and Rocket reads ROCKET_*: start it with none.
        let child = Command::new(bin)
            .env_clear()
            .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "warn"])
            .arg("--schema")
            .arg(&schema)
            .arg("--data")
            .arg(&data)
            .arg("--policies")
            .arg(&policies)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut agent = Self {
            child,
            addr,
            log_file,
        };
        let health = Call {
            addr,
            path: "/v1/".into(),
            body: None,
        };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = agent.child.try_wait()? {
                anyhow::bail!(
                    "cedar-agent exited ({status}) before answering:\n{}",
                    tail(&agent.log_file, 20)
                );
            }
            if let Ok((200, _)) = send_once(&health).await {
                break;
            }
            anyhow::ensure!(
                Instant::now() < until,
                "cedar-agent did not answer on {addr} within 60 s:\n{}",
                tail(&agent.log_file, 20)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Loading from files only logs its failures: look for them.
        let log = std::fs::read_to_string(&agent.log_file).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("Failed")) {
            anyhow::bail!("cedar-agent could not load the bundle: {line}");
        }
        agent.addr = addr;
        Ok(agent)
    }
}

/// Where `scripts/install-peers.sh` puts cedar-agent, seen from this binary
/// (target/release/palisade → target/peers/bin) or from the current directory.
fn default_cedar_agent() -> Option<PathBuf> {
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("peers/bin/cedar-agent")));
    from_exe
        .into_iter()
        .chain([PathBuf::from("target/peers/bin/cedar-agent")])
        .find(|p| p.is_file())
}

/// Decision and sorted reasons of a Cedar-native answer (Palisade's or
/// cedar-agent's: the same shape).
fn cedar_answer(body: &[u8]) -> anyhow::Result<(String, Vec<String>)> {
    let v: Value = serde_json::from_slice(body)
        .with_context(|| format!("answer is not JSON: {}", String::from_utf8_lossy(body)))?;
    let decision = v["decision"]
        .as_str()
        .with_context(|| format!("answer has no decision: {v}"))?
        .to_owned();
    let mut reasons: Vec<String> = v["diagnostics"]["reason"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    reasons.sort();
    Ok((decision, reasons))
}

/// Asks both servers every check request; fails on the first difference.
async fn check_same_decisions(palisade: SocketAddr, peer: SocketAddr) -> anyhow::Result<usize> {
    let requests = check_requests();
    let host_p = HeaderValue::from_str(&palisade.to_string())?;
    let host_a = HeaderValue::from_str(&peer.to_string())?;
    let mut conn_p = connect(palisade).await?;
    let mut conn_a = connect(peer).await?;
    let mut allows = 0;
    for body in &requests {
        let call = |addr| Call {
            addr,
            path: "/v1/is_authorized".into(),
            body: Some(body.clone()),
        };
        let (sp, bp) = send(&mut conn_p, &call(palisade), &host_p).await?;
        let (sa, ba) = send(&mut conn_a, &call(peer), &host_a).await?;
        anyhow::ensure!(
            sp == 200 && sa == 200,
            "check request {} answered {sp} (palisade) and {sa} (cedar-agent): {}",
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&ba)
        );
        let (p, a) = (cedar_answer(&bp)?, cedar_answer(&ba)?);
        anyhow::ensure!(
            p == a,
            "palisade and cedar-agent disagree on {}: {p:?} vs {a:?}",
            String::from_utf8_lossy(body)
        );
        allows += usize::from(p.0 == "Allow");
    }
    anyhow::ensure!(
        allows > 0,
        "no check request was allowed: the peer bundle did not load"
    );
    Ok(requests.len())
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// One row of a store's table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    /// Stable key (JSON).
    key: &'static str,
    /// What was measured (table).
    name: &'static str,
    /// The figures.
    #[serde(flatten)]
    figures: Figures,
    /// Decision log entries dropped during the measurement (Palisade HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    log_dropped: Option<u64>,
}

/// The peer comparison of one store.
#[derive(Debug, Clone, Serialize)]
struct PeerComparison {
    /// Connections.
    connections: usize,
    /// Palisade's Cedar-native decisions/s ÷ cedar-agent's.
    throughput_ratio: f64,
    /// cedar-agent's p50 ÷ Palisade's p50.
    p50_ratio: f64,
    /// cedar-agent's p99 ÷ Palisade's p99.
    p99_ratio: f64,
}

/// Everything measured on one store.
#[derive(Debug, Clone, Serialize)]
struct StoreReport {
    /// Short name.
    name: &'static str,
    /// Entities in the store, actions included.
    entities: usize,
    /// Rows, in table order.
    rows: Vec<Row>,
    /// Handler p50 minus raw p50, nanoseconds.
    handler_overhead_p50_ns: i64,
    /// Records the decision log held at the end.
    decision_log_records: u64,
    /// Decision log entries dropped over the whole run.
    decision_log_dropped: u64,
    /// Check requests on which Palisade and cedar-agent agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_checked_requests: Option<usize>,
    /// Palisade vs cedar-agent.
    peer: Vec<PeerComparison>,
    /// Why there is no peer comparison, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_error: Option<String>,
}

impl StoreReport {
    /// The row with this key.
    fn row(&self, key: &str) -> Option<&Figures> {
        self.rows.iter().find(|r| r.key == key).map(|r| &r.figures)
    }
}

/// A target and whether it is met.
#[derive(Debug, Clone, Serialize)]
struct Target {
    /// What the target says.
    target: String,
    /// What was measured.
    measured: String,
    /// Met or not (`None`: not measured).
    met: Option<bool>,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
struct Report {
    /// The command's settings and the machine.
    setup: Value,
    /// One report per store.
    stores: Vec<StoreReport>,
    /// The targets.
    targets: Vec<Target>,
}

/// What the bench needs from one store.
struct StoreSpec {
    /// Short name.
    name: &'static str,
    /// Its entities (Cedar entity JSON, implicit entity references).
    entities: Value,
}

/// The peer to compare against, or why there is none.
enum Peer {
    /// cedar-agent at this path.
    CedarAgent(PathBuf),
    /// No comparison, and why.
    Skipped(String),
}

/// `palisade bench authz`.
fn authz(config: Config, args: AuthzArgs) -> anyhow::Result<ExitCode> {
    let timing = Timing {
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms.max(1)),
    };
    let peer = if args.no_peer {
        Peer::Skipped("--no-peer".into())
    } else {
        match args.peer_cedar_agent.clone().or_else(default_cedar_agent) {
            Some(p) if p.is_file() => Peer::CedarAgent(p),
            Some(p) => Peer::Skipped(format!("no cedar-agent binary at {}", p.display())),
            None => Peer::Skipped(
                "cedar-agent not found (target/peers/bin/cedar-agent); run scripts/install-peers.sh or pass --peer-cedar-agent".into(),
            ),
        }
    };
    let threads = args
        .server_threads
        .or(config.server.worker_threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let setup = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu_model(),
        "load_average_at_start": load_average(),
        "server_worker_threads": threads,
        "client": "hyper 1 http1, keep-alive, one current-thread runtime on the calling thread",
        "warmup_ms": args.warmup_ms,
        "duration_ms": args.duration_ms,
        "request": format!("User::\"{SUBJECT}\" {ACTION} Document::\"{RESOURCE}\" (allow)"),
        "batch_items": BATCH,
        "decision_log": {
            "enabled": config.decision_log.enabled,
            "queue_capacity": config.decision_log.queue_capacity,
            "on_overflow": config.decision_log.on_overflow,
        },
        "peer": match &peer { Peer::CedarAgent(p) => p.display().to_string(), Peer::Skipped(why) => format!("skipped: {why}") },
    });
    println!("palisade bench authz");
    println!(
        "  {} cores ({}), load average {}; server: {threads} worker threads; client: 1 thread",
        setup["cores"],
        setup["cpu"].as_str().unwrap_or("?"),
        setup["load_average_at_start"].as_str().unwrap_or("?"),
    );
    println!(
        "  each measurement {} ms after {} ms warm-up; request {}; batches of {BATCH}",
        args.duration_ms,
        args.warmup_ms,
        setup["request"].as_str().unwrap_or("")
    );
    if let Peer::Skipped(why) = &peer {
        println!("  peer: skipped ({why})");
    }

    let stores = [
        StoreSpec {
            name: "example",
            entities: serde_json::from_str(EXAMPLE_ENTITIES)?,
        },
        StoreSpec {
            name: "generated",
            entities: generated_entities(args.entities)?,
        },
    ];
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut reports = Vec::new();
    for spec in &stores {
        let report = bench_store(&config, spec, &peer, threads, timing, &client)?;
        print_store(&report);
        reports.push(report);
    }
    let targets = targets(&reports);
    print_summary(&reports, &targets);
    let mut setup = setup;
    setup["load_average_at_end"] = load_average().into();
    println!("\nload average at the end: {}", load_average());
    let report = Report {
        setup,
        stores: reports,
        targets,
    };
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("\nfigures written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The processor's model name, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The 1, 5 and 15 minute load averages, from /proc/loadavg.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Measures one store.
fn bench_store(
    config: &Config,
    spec: &StoreSpec,
    peer: &Peer,
    threads: usize,
    timing: Timing,
    client: &tokio::runtime::Runtime,
) -> anyhow::Result<StoreReport> {
    let scratch = Scratch::new(spec.name)?;
    let policy_dir = scratch.path().join("policies");
    write_bundle(&policy_dir, &spec.entities.to_string())?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("bench-server")
        .enable_all()
        .build()?;
    let palisade = server_rt.block_on(Palisade::start(config, &policy_dir, scratch.path()))?;
    let version = palisade.policies.current();
    let entities = version.entity_count();
    eprintln!(
        "[{}] {} entities, {} policies: measuring",
        spec.name,
        thousands(entities as u64),
        version.policy_count()
    );
    let mut rows = Vec::new();

    // 1. The raw engine.
    let authorizer = cedar_policy::Authorizer::new();
    let request = cedar_policy::Request::new(
        cedar_policy::EntityUid::from_str(&format!("User::\"{SUBJECT}\""))?,
        cedar_policy::EntityUid::from_str(&format!("Action::\"{ACTION}\""))?,
        cedar_policy::EntityUid::from_str(&format!("Document::\"{RESOURCE}\""))?,
        cedar_policy::Context::empty(),
        version.schema(),
    )?;
    let response = authorizer.is_authorized(&request, version.policies(), version.entities());
    anyhow::ensure!(
        response.decision() == cedar_policy::Decision::Allow,
        "the measured request is not allowed on the {} store",
        spec.name
    );
    let raw = measure_sync(timing, || {
        black_box(authorizer.is_authorized(
            black_box(&request),
            version.policies(),
            version.entities(),
        ));
    });
    rows.push(Row {
        key: "raw",
        name: "raw Authorizer::is_authorized",
        figures: raw.clone(),
        log_dropped: None,
    });

    // 2. The handler in-process, decision log included.
    let handler = server_rt.block_on(async {
        let f = measure_handler(palisade.router.clone(), authzen_body(), timing).await;
        palisade.drain_log().await;
        f
    })?;
    let overhead = handler.p50_ns as i64 - raw.p50_ns as i64;
    rows.push(Row {
        key: "handler",
        name: "handler in-process (oneshot)",
        figures: handler,
        log_dropped: None,
    });

    // 3. HTTP over loopback.
    let single = Call {
        addr: palisade.addr,
        path: "/access/v1/evaluation".into(),
        body: Some(authzen_body()),
    };
    let batch = Call {
        addr: palisade.addr,
        path: "/access/v1/evaluations".into(),
        body: Some(authzen_batch_body()),
    };
    let (_, first) = client.block_on(send_once(&single))?;
    expect_allow_authzen(&first)?;
    let http_rows: [(&'static str, &'static str, &Call, usize, u64); 4] = [
        (
            "http_single_c1",
            "HTTP AuthZEN single, 1 conn",
            &single,
            1,
            1,
        ),
        (
            "http_single_c8",
            "HTTP AuthZEN single, 8 conns",
            &single,
            8,
            1,
        ),
        (
            "http_batch_c1",
            "HTTP AuthZEN batch of 100, 1 conn",
            &batch,
            1,
            BATCH as u64,
        ),
        (
            "http_batch_c8",
            "HTTP AuthZEN batch of 100, 8 conns",
            &batch,
            8,
            BATCH as u64,
        ),
    ];
    for (key, name, call, conns, per) in http_rows {
        let dropped = palisade.metrics.dropped();
        let figures =
            client.block_on(measure_http(call, Server::ThisProcess, conns, per, timing))?;
        server_rt.block_on(palisade.drain_log());
        rows.push(Row {
            key,
            name,
            figures,
            log_dropped: Some(palisade.metrics.dropped() - dropped),
        });
    }

    // 4. The peer, on the equivalent policy set.
    let mut peer_checked = None;
    let mut comparisons = Vec::new();
    let mut peer_error = None;
    match peer {
        Peer::Skipped(why) => peer_error = Some(why.clone()),
        Peer::CedarAgent(bin) => {
            let result = (|| {
                server_rt.block_on(palisade.policies.update(
                    PolicyUpdate::Policies {
                        policies: vec![SourceFile {
                            name: "peer-equivalent.cedar".into(),
                            text: peer_policies_cedar(),
                        }],
                        links: vec![],
                    },
                    None,
                    "bench",
                ))?;
                let agent =
                    client.block_on(CedarAgent::start(bin, scratch.path(), &spec.entities))?;
                let checked = client.block_on(check_same_decisions(palisade.addr, agent.addr))?;
                let body = cedar_body(
                    &format!("User::\"{SUBJECT}\""),
                    ACTION,
                    &format!("Document::\"{RESOURCE}\""),
                    &json!({}),
                );
                let mut peer_rows = Vec::new();
                for (conns, key_p, name_p, key_a, name_a) in [
                    (
                        1,
                        "http_cedar_c1",
                        "HTTP Cedar-native single, 1 conn",
                        "peer_cedar_agent_c1",
                        "cedar-agent single, 1 conn",
                    ),
                    (
                        8,
                        "http_cedar_c8",
                        "HTTP Cedar-native single, 8 conns",
                        "peer_cedar_agent_c8",
                        "cedar-agent single, 8 conns",
                    ),
                ] {
                    let path = "/v1/is_authorized".to_owned();
                    let dropped = palisade.metrics.dropped();
                    let ours = client.block_on(measure_http(
                        &Call {
                            addr: palisade.addr,
                            path: path.clone(),
                            body: Some(body.clone()),
                        },
                        Server::ThisProcess,
                        conns,
                        1,
                        timing,
                    ))?;
                    server_rt.block_on(palisade.drain_log());
                    let theirs = client.block_on(measure_http(
                        &Call {
                            addr: agent.addr,
                            path,
                            body: Some(body.clone()),
                        },
                        Server::Child(agent.child.id()),
                        conns,
                        1,
                        timing,
                    ))?;
                    peer_rows.push(PeerComparison {
                        connections: conns,
                        throughput_ratio: ours.decisions_per_s / theirs.decisions_per_s.max(1e-9),
                        p50_ratio: theirs.p50_ns as f64 / ours.p50_ns.max(1) as f64,
                        p99_ratio: theirs.p99_ns as f64 / ours.p99_ns.max(1) as f64,
                    });
                    rows.push(Row {
                        key: key_p,
                        name: name_p,
                        figures: ours,
                        log_dropped: Some(palisade.metrics.dropped() - dropped),
                    });
                    rows.push(Row {
                        key: key_a,
                        name: name_a,
                        figures: theirs,
                        log_dropped: None,
                    });
                }
                drop(agent);
                Ok::<_, anyhow::Error>((checked, peer_rows))
            })();
            match result {
                Ok((checked, peer_rows)) => {
                    peer_checked = Some(checked);
                    comparisons = peer_rows;
                }
                Err(e) => {
                    eprintln!("[{}] peer comparison failed: {e:#}", spec.name);
                    peer_error = Some(format!("{e:#}"));
                }
            }
        }
    }

    let dropped = palisade.metrics.dropped();
    let records = server_rt.block_on(palisade.shutdown())?;
    drop(server_rt);
    Ok(StoreReport {
        name: spec.name,
        entities,
        rows,
        handler_overhead_p50_ns: overhead,
        decision_log_records: records,
        decision_log_dropped: dropped,
        peer_checked_requests: peer_checked,
        peer: comparisons,
        peer_error,
    })
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// `12345678` → `12,345,678`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in the unit that reads best.
pub(crate) fn duration(ns: u64) -> String {
    match ns {
        n if n < 10_000 => format!("{:.2} µs", n as f64 / 1e3),
        n if n < 1_000_000 => format!("{:.1} µs", n as f64 / 1e3),
        n => format!("{:.2} ms", n as f64 / 1e6),
    }
}

/// Prints one store's table.
fn print_store(r: &StoreReport) {
    println!(
        "\n== {} store: {} entities ==",
        r.name,
        thousands(r.entities as u64)
    );
    println!(
        "{:<36} {:>10} {:>12} {:>10} {:>10} {:>8} {:>11}",
        "measurement", "requests/s", "decisions/s", "p50", "p99", "log drop", "cpu srv/cli"
    );
    for row in &r.rows {
        let f = &row.figures;
        println!(
            "{:<36} {:>10} {:>12} {:>10} {:>10} {:>8} {:>11}",
            row.name,
            thousands(f.ops_per_s as u64),
            thousands(f.decisions_per_s as u64),
            duration(f.p50_ns),
            duration(f.p99_ns),
            row.log_dropped.map_or("-".into(), thousands),
            f.cpu.map_or("-".into(), |c| format!(
                "{:.2}/{:.2}",
                c.server_cores, c.client_cores
            )),
        );
    }
    println!("(cpu: cores used by the server process and by the load client during the window)");
    println!(
        "handler overhead over the raw engine (p50): {}",
        duration(r.handler_overhead_p50_ns.max(0) as u64)
    );
    println!(
        "decision log: {} records written, {} entries dropped",
        thousands(r.decision_log_records),
        thousands(r.decision_log_dropped)
    );
    if let Some(n) = r.peer_checked_requests {
        println!("peer: palisade and cedar-agent agreed on all {n} check requests");
    }
    if let Some(e) = &r.peer_error {
        println!("peer: no comparison ({e})");
    }
}

/// Whether `b` is within `pct` percent below `a` (or above it).
fn within(a: f64, b: f64, pct: f64) -> bool {
    b >= a * (1.0 - pct / 100.0)
}

/// Evaluates the targets.
fn targets(reports: &[StoreReport]) -> Vec<Target> {
    let mut out = Vec::new();
    for r in reports {
        let n = thousands(r.entities as u64);
        out.push(Target {
            target: format!("handler overhead ≤ 20 µs p50 ({n} entities)"),
            measured: duration(r.handler_overhead_p50_ns.max(0) as u64),
            met: Some(r.handler_overhead_p50_ns <= 20_000),
        });
        if let Some(f) = r.row("http_single_c8") {
            out.push(Target {
                target: format!("HTTP single ≥ 35,000 decisions/s at 8 conns ({n} entities)"),
                measured: format!("{}/s", thousands(f.decisions_per_s as u64)),
                met: Some(f.decisions_per_s >= 35_000.0),
            });
        }
        if let Some(f) = r.row("http_batch_c8") {
            out.push(Target {
                target: format!("HTTP batch ≥ 150,000 decisions/s at 8 conns ({n} entities)"),
                measured: format!("{}/s", thousands(f.decisions_per_s as u64)),
                met: Some(f.decisions_per_s >= 150_000.0),
            });
        }
    }
    if let [small, large, ..] = reports {
        for (key, what) in [
            ("http_single_c8", "HTTP single, 8 conns"),
            ("http_batch_c8", "HTTP batch, 8 conns"),
            ("handler", "handler in-process"),
        ] {
            if let (Some(a), Some(b)) = (small.row(key), large.row(key)) {
                out.push(Target {
                    target: format!(
                        "{} vs {} entities: at most 10% slower ({what})",
                        thousands(large.entities as u64),
                        small.entities
                    ),
                    measured: format!(
                        "{:+.1}% decisions/s",
                        (b.decisions_per_s / a.decisions_per_s.max(1e-9) - 1.0) * 100.0
                    ),
                    met: Some(within(a.decisions_per_s, b.decisions_per_s, 10.0)),
                });
            }
        }
    }
    out
}

/// Prints the peer ratios and the targets.
fn print_summary(reports: &[StoreReport], targets: &[Target]) {
    println!("\n== palisade vs cedar-agent (Cedar-native endpoint, same client, body, policies, entities) ==");
    println!(
        "{:<20} {:>6} {:>22} {:>20} {:>20}",
        "store", "conns", "decisions/s ratio", "p50 ratio", "p99 ratio"
    );
    for r in reports {
        for c in &r.peer {
            println!(
                "{:<20} {:>6} {:>22} {:>20} {:>20}",
                format!("{} ({})", r.name, thousands(r.entities as u64)),
                c.connections,
                format!("{:.2}× palisade/peer", c.throughput_ratio),
                format!("{:.2}× peer/palisade", c.p50_ratio),
                format!("{:.2}× peer/palisade", c.p99_ratio),
            );
        }
        if r.peer.is_empty() {
            println!(
                "{:<20} no comparison: {}",
                r.name,
                r.peer_error.as_deref().unwrap_or("unknown reason")
            );
        }
    }
    println!("\n== targets ==");
    for t in targets {
        let verdict = match t.met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "n/a",
        };
        println!("{verdict:<7} {:<64} {}", t.target, t.measured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{DecisionRequest, OnEvaluationError, PolicyBundle, PolicyVersion};

    /// A compiled bundle with the example schema and these policies.
    fn compile(
        policies: Vec<SourceFile>,
        links: Vec<SourceFile>,
        entities: &Value,
        json_schema: bool,
    ) -> PolicyVersion {
        let schema = if json_schema {
            SourceFile {
                name: "app.cedarschema.json".into(),
                text: PEER_SCHEMA_JSON.into(),
            }
        } else {
            SourceFile {
                name: "app.cedarschema".into(),
                text: SCHEMA.into(),
            }
        };
        let bundle = PolicyBundle {
            policies,
            schema: Some(schema),
            entities: vec![SourceFile {
                name: "entities.json".into(),
                text: entities.to_string(),
            }],
            links,
        };
        PolicyVersion::compile(bundle, OnEvaluationError::Deny).expect("bundle compiles")
    }

    /// The example bundle over these entities.
    fn example(entities: &Value) -> PolicyVersion {
        compile(
            vec![
                SourceFile {
                    name: "documents.cedar".into(),
                    text: DOCUMENTS.into(),
                },
                SourceFile {
                    name: "sharing.cedar".into(),
                    text: SHARING.into(),
                },
            ],
            vec![SourceFile {
                name: "links.json".into(),
                text: LINKS.into(),
            }],
            entities,
            false,
        )
    }

    /// The peer-compatible bundle over these entities.
    fn peer(entities: &Value, json_schema: bool) -> PolicyVersion {
        compile(
            vec![SourceFile {
                name: "peer.cedar".into(),
                text: peer_policies_cedar(),
            }],
            vec![],
            entities,
            json_schema,
        )
    }

    /// Every check request, as decision requests.
    fn grid(extra_users: &[&str], extra_docs: &[&str]) -> Vec<DecisionRequest> {
        let mut out = Vec::new();
        let users: Vec<&str> = ["alice", "bob", "carol"]
            .iter()
            .chain(extra_users)
            .copied()
            .collect();
        let mut resources: Vec<String> = ["roadmap", "design", "handbook"]
            .iter()
            .chain(extra_docs)
            .map(|d| format!("Document::\"{d}\""))
            .collect();
        resources.push("Folder::\"engineering\"".into());
        resources.push("Folder::\"folder-0001\"".into());
        for user in &users {
            for resource in &resources {
                for action in ["read", "write", "delete", "share"] {
                    for context in [
                        None,
                        Some(json!({ "mfa": true })),
                        Some(json!({ "mfa": false })),
                    ] {
                        out.push(DecisionRequest {
                            principal: format!("User::\"{user}\"").parse().unwrap(),
                            action: format!("Action::\"{action}\"").parse().unwrap(),
                            resource: resource.parse().unwrap(),
                            context,
                            entities: None,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn generated_store_has_the_requested_size_and_keeps_the_example() {
        let entities = generated_entities(20_000).unwrap();
        let version = example(&entities);
        assert_eq!(version.entity_count(), 20_000);
        let example_entities: Value = serde_json::from_str(EXAMPLE_ENTITIES).unwrap();
        let small = example(&example_entities);
        assert_eq!(
            small.entity_count(),
            example_entities.as_array().unwrap().len() + SCHEMA_ACTIONS
        );
        // Every request of the example decides the same on the large store.
        for req in grid(&[], &[])
            .into_iter()
            .filter(|r| !r.resource.to_string().contains("folder-"))
        {
            assert_eq!(small.decide(&req), version.decide(&req), "{req:?}");
        }
    }

    #[test]
    fn peer_policy_set_decides_as_the_example_bundle() {
        let small: Value = serde_json::from_str(EXAMPLE_ENTITIES).unwrap();
        let large = generated_entities(400).unwrap();
        for (entities, users, docs) in [
            (&small, &[][..], &[][..]),
            (
                &large,
                &["user-00003", "user-00004", "user-00042"][..],
                &["doc-00003", "doc-00007", "doc-00150"][..],
            ),
        ] {
            let a = example(entities);
            let b = peer(entities, false);
            let c = peer(entities, true);
            let mut allowed = 0;
            for req in grid(users, docs) {
                let (da, db, dc) = (a.decide(&req), b.decide(&req), c.decide(&req));
                assert_eq!(da, db, "{req:?}");
                assert_eq!(da, dc, "{req:?}");
                allowed += usize::from(da.allowed);
            }
            assert!(allowed > 10, "the grid exercises allows: {allowed}");
        }
    }

    #[test]
    fn peer_entities_escape_only_entity_references() {
        let example_entities: Value = serde_json::from_str(EXAMPLE_ENTITIES).unwrap();
        let escaped = escape_entity_refs(&example_entities);
        let roadmap = escaped
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["uid"]["id"] == "roadmap")
            .unwrap();
        assert_eq!(
            roadmap["attrs"]["owner"],
            json!({ "__entity": { "type": "User", "id": "alice" } })
        );
        assert_eq!(roadmap["attrs"]["classification"], json!(2));
        assert_eq!(
            roadmap["parents"],
            json!([{ "type": "Folder", "id": "engineering" }])
        );
        // Cedar still reads the escaped form, with the schema, to the same store.
        let version = example(&escaped);
        assert_eq!(
            version.entity_count(),
            example_entities.as_array().unwrap().len() + SCHEMA_ACTIONS
        );
    }

    #[test]
    fn batch_body_has_the_batch_size_and_mixes_decisions() {
        let v: Value = serde_json::from_slice(&authzen_batch_body()).unwrap();
        assert_eq!(v["evaluations"].as_array().unwrap().len(), BATCH);
        assert_eq!(check_requests().len(), 96);
    }

    #[test]
    fn percentiles_and_formatting() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 0.5), 50);
        assert_eq!(percentile(&samples, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
        let f = Figures::from_samples(vec![3, 1, 2], Duration::from_secs(1), 100);
        assert_eq!((f.ops, f.p50_ns, f.mean_ns), (3, 2, 2));
        assert_eq!(f.decisions_per_s, 300.0);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(duration(3_100), "3.10 µs");
        assert_eq!(duration(2_500_000), "2.50 ms");
        assert!(within(100.0, 91.0, 10.0) && !within(100.0, 89.0, 10.0));
    }
}
