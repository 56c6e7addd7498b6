//! `palisade report ...`: compliance reports from the shell — generate
//! (SOC 2, HIPAA, GDPR or a framework file; JSON, CSV, Markdown, HTML, OSCAL,
//! or a signed evidence bundle), `verify` a bundle, `diff` the last two
//! reports — the `--record` option of the gate, and on `palisade serve`
//! ([`ComplianceRoutes`]) the same reports over HTTP and the scan records
//! CI runners post.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use palisade_compliance::export::{self, Format};
use palisade_compliance::{bundle, history, Attestations, Catalog, Report, RuntimeFacts, Sources};
use palisade_policy::decision_log::AuditKeys;
use palisade_policy::{AdminAction, AdminCaller, AdminGuard, PeerPrincipal};
use tokio::sync::Semaphore;

use crate::cli::server_client::{error_message, ServerArgs, ServerClient};
use crate::config::Config;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: Option<ReportCommand>,
    #[command(flatten)]
    generate: GenerateArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ReportCommand {
    /// Verify a signed evidence bundle; exit 1 and say what changed if it was altered.
    Verify {
        /// The bundle (`palisade report --format bundle`).
        bundle: PathBuf,
        /// Ed25519 public key (hex) instead of the data directory's key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Controls whose status changed between the last two kept reports.
    Diff {
        /// soc2, hipaa, gdpr or a custom framework id.
        #[arg(long, default_value = "soc2")]
        framework: String,
    },
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// soc2, hipaa, gdpr, a custom framework id, or a framework FILE.
    #[arg(long, default_value = "soc2")]
    framework: String,
    /// json, csv, markdown, html, oscal, or bundle (signed DSSE evidence bundle).
    #[arg(long, short, default_value = "json")]
    format: String,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Extra framework files (a built-in id in one replaces that framework).
    #[arg(long)]
    framework_file: Vec<PathBuf>,
    /// Check registry overrides (freshness windows).
    #[arg(long)]
    checks_file: Vec<PathBuf>,
    /// Attestation and waiver files (default: DATA_DIR/compliance/attestations.toml if present).
    #[arg(long)]
    attestations: Vec<PathBuf>,
    /// Evaluate at this time (RFC 3339) instead of now: reproducible output.
    #[arg(long)]
    now: Option<String>,
    /// Do not keep the report in the store's history (`palisade report diff`).
    #[arg(long)]
    no_keep: bool,
}

fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, String)>> {
    paths
        .iter()
        .map(|p| {
            Ok((
                p.clone(),
                std::fs::read_to_string(p).with_context(|| p.display().to_string())?,
            ))
        })
        .collect()
}

fn compliance_dir(config: &Config) -> PathBuf {
    config.data_dir.join("compliance")
}

/// The route CI runners post scan summaries to.
const SCANS_PATH: &str = "/v1/compliance/scans";

/// The report route on `palisade serve`.
const REPORT_PATH: &str = "/v1/compliance/report";

/// `palisade gate --record`: keeps a signed summary of the gated report in
/// the configured store, or posts it to `server.server` (`palisade serve`
/// signs and keeps it there). Says where it went.
pub fn record_scan(
    config: &Config,
    report_json: &str,
    passed: bool,
    threshold: Option<String>,
    server: &ServerArgs,
) -> anyhow::Result<String> {
    let j = palisade_scanner::report::read_json_report(report_json.as_bytes())?;
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let mut rec = palisade_compliance::ScanRecord::from_report(
        &j,
        report_json.as_bytes(),
        passed,
        threshold,
        &now,
    );
    let rt = runtime()?;
    let Some(url) = &server.server else {
        std::fs::create_dir_all(&config.data_dir)?;
        rec.sign(&AuditKeys::load_or_create(&config.data_dir)?);
        let id = rt.block_on(async {
            let store = palisade_store::open(&config.store_url()).await?;
            anyhow::Ok(rec.keep(store.as_ref()).await?)
        })?;
        return Ok(format!("{} in the store (#{id})", rec.target));
    };
    let client = ServerClient::new(url, server, &config.data_dir.join("ca-bundle.pem"))?;
    let (status, answer) = rt.block_on(client.post_json(SCANS_PATH, serde_json::to_vec(&rec)?))?;
    anyhow::ensure!(
        status == 201,
        "{url} did not keep the scan record: {status} {}",
        error_message(&answer)
    );
    let kept: serde_json::Value = serde_json::from_slice(&answer)
        .with_context(|| format!("{url} answered 201 with something else than JSON"))?;
    Ok(format!("{} on {url} (#{})", rec.target, kept["id"]))
}

fn runtime_facts(config: &Config) -> RuntimeFacts {
    let tls = std::env::var("PALISADE_CA_TLS")
        .ok()
        .map_or(config.ca.tls, |v| {
            matches!(v.as_str(), "1" | "true" | "yes" | "on")
        });
    RuntimeFacts {
        admin_api: config.server.admin_api,
        admin_token_file: Some(
            config
                .server
                .admin_token_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("admin.token")),
        ),
        tls,
        // The CA's TLS listener accepts TLS 1.3 only (palisade_ca::tls::TlsSettings::allow_tls12 is off).
        tls_versions: if tls {
            vec!["TLSv1.3".into()]
        } else {
            Vec::new()
        },
        client_auth_required: config.ca.client_auth.admin == palisade_ca::tls::ClientCert::Required
            && config.ca.client_auth.issuance == palisade_ca::tls::ClientCert::Required,
        secrets_backend: config.secrets.url(config),
        ca_kek: config.ca.kek.clone(),
        data_dir: config.data_dir.clone(),
    }
}

fn parse_now(now: Option<&str>) -> anyhow::Result<time::OffsetDateTime> {
    Ok(match now {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--now {t:?} is not RFC 3339"))?,
        None => time::OffsetDateTime::now_utc(),
    })
}

/// The attestation and waiver files given, else
/// `DATA_DIR/compliance/attestations.toml` when it exists.
fn attestations(
    config: &Config,
    catalog: &Catalog,
    paths: &[PathBuf],
) -> anyhow::Result<Attestations> {
    let mut att_paths = paths.to_vec();
    let default_att = compliance_dir(config).join("attestations.toml");
    if att_paths.is_empty() && default_att.is_file() {
        att_paths.push(default_att);
    }
    let att_files = read_all(&att_paths)?;
    let att_refs: Vec<(&Path, &str)> = att_files
        .iter()
        .map(|(p, t)| (p.as_path(), t.as_str()))
        .collect();
    Ok(Attestations::load(catalog, &att_refs)?)
}

/// The running system a report reads: the store, the CA ledger (read only:
/// no CRL is signed, nothing is written) and the data directory.
pub(crate) struct Live<'a> {
    pub(crate) config: &'a Config,
    pub(crate) store: &'a dyn palisade_store::Store,
    pub(crate) ledger: Option<&'a dyn palisade_store::CertLedger>,
    pub(crate) public_key: Vec<u8>,
}

impl Live<'_> {
    /// Collects the evidence at `now` and assesses `framework` against it.
    pub(crate) async fn assess(
        self,
        catalog: &Catalog,
        framework: &palisade_compliance::Framework,
        attestations: &Attestations,
        now: time::OffsetDateTime,
    ) -> Report {
        let sources = Sources {
            store: self.store,
            ledger: self.ledger,
            ca_config: self.config.ca.ca_config(),
            public_key: self.public_key,
            runtime: runtime_facts(self.config),
        };
        let evidence = palisade_compliance::evidence::collect(&sources, now).await;
        palisade_compliance::assess(catalog, framework, &evidence, attestations, now)
    }
}

/// The report in `format` (`None`: the signed evidence bundle); `json` is
/// its JSON form, already rendered (kept in the history), returned as is
/// when JSON is asked for.
fn render(
    report: &Report,
    format: Option<Format>,
    json: String,
    keys: &AuditKeys,
) -> anyhow::Result<String> {
    Ok(match format {
        Some(Format::Json) => json,
        Some(f) => export::render(report, f)?,
        None => serde_json::to_string_pretty(&bundle::sign(report, keys)?)? + "\n",
    })
}

/// A tokio runtime for the shell commands that read the store.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn run(config: Config, a: ReportArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        Some(ReportCommand::Verify {
            bundle: path,
            public_key,
        }) => verify(&config, &path, public_key),
        Some(ReportCommand::Diff { framework }) => diff(&config, &framework),
        None => generate(&config, a.generate),
    }
}

fn generate(config: &Config, g: GenerateArgs) -> anyhow::Result<ExitCode> {
    let mut fw_files = read_all(&g.framework_file)?;
    let framework_path = Path::new(&g.framework);
    let framework_id = if g.framework.ends_with(".toml") || framework_path.is_file() {
        fw_files.extend(read_all(&[framework_path.to_owned()])?);
        let text = &fw_files.last().map(|f| f.1.clone()).unwrap_or_default();
        let v: toml::Value = toml::from_str(text).with_context(|| g.framework.clone())?;
        v.get("framework")
            .and_then(|f| f.get("id"))
            .and_then(|i| i.as_str())
            .unwrap_or_default()
            .to_owned()
    } else {
        g.framework.clone()
    };
    let checks_files = read_all(&g.checks_file)?;
    let names = |v: &[(PathBuf, String)]| {
        v.iter()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
    };
    let (fw_names, ck_names) = (names(&fw_files), names(&checks_files));
    let fw_refs: Vec<(&str, &str)> = fw_names
        .iter()
        .zip(&fw_files)
        .map(|(n, (_, t))| (n.as_str(), t.as_str()))
        .collect();
    let ck_refs: Vec<(&str, &str)> = ck_names
        .iter()
        .zip(&checks_files)
        .map(|(n, (_, t))| (n.as_str(), t.as_str()))
        .collect();
    let catalog = Catalog::load(&ck_refs, &fw_refs)?;
    let framework = catalog.framework(&framework_id).with_context(|| {
        format!(
            "no framework {framework_id:?} (have: {})",
            catalog
                .frameworks()
                .iter()
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let attestations = attestations(config, &catalog, &g.attestations)?;
    let now = parse_now(g.now.as_deref())?;
    let sign = g.format == "bundle";
    let format: Option<Format> = if sign { None } else { Some(g.format.parse()?) };

    std::fs::create_dir_all(&config.data_dir)?;
    let keys = AuditKeys::load_or_create(&config.data_dir)?;
    let rt = runtime()?;
    let url = config.store_url();
    let store = rt.block_on(palisade_store::open(&url))?;
    let report = rt.block_on(async {
        let ledger = palisade_store::open_ledger(&url).await.ok();
        let live = Live {
            config,
            store: store.as_ref(),
            ledger: ledger.as_deref(),
            public_key: keys.public_key().to_vec(),
        };
        live.assess(&catalog, framework, &attestations, now).await
    });
    let json = export::render(&report, Format::Json)?;
    if !g.no_keep {
        let id = rt.block_on(history::keep(store.as_ref(), &report, &json))?;
        eprintln!("report kept in the store's history (#{id})");
    }
    let text = render(&report, format, json, &keys)?;
    match &g.output {
        Some(p) => std::fs::write(p, &text).with_context(|| p.display().to_string())?,
        None => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    let s = &report.summary;
    eprintln!(
        "{}: {} controls — {} pass, {} fail, {} manual, {} waived, {} not applicable",
        report.framework.id, s.total, s.pass, s.fail, s.manual, s.waived, s.not_applicable
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(config: &Config, path: &Path, public_key: Option<String>) -> anyhow::Result<ExitCode> {
    let key = match public_key {
        Some(h) => hex::decode(h.trim())?,
        None => AuditKeys::load_or_create(&config.data_dir)?
            .public_key()
            .to_vec(),
    };
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let b: bundle::Bundle = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an evidence bundle", path.display()))?;
    let v = bundle::verify(&b, &key);
    if v.is_intact() {
        println!(
            "ok: {} report of {} — signature valid, {} controls, {} checks, {} evidence pieces unchanged",
            b.report.framework.id,
            b.report.generated_at,
            b.report.controls.len(),
            b.report.checks.len(),
            b.report.evidence.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("ALTERED: {}", path.display());
        for c in &v.changes {
            println!("  {c}");
        }
        Ok(ExitCode::from(1))
    }
}

fn diff(config: &Config, framework: &str) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let kept = rt.block_on(async {
        let store = palisade_store::open(&config.store_url()).await?;
        anyhow::Ok(history::last_two(store.as_ref(), framework).await?)
    })?;
    let Some((a, b)) = kept else {
        anyhow::bail!("fewer than two kept {framework} reports: run `palisade report --framework {framework}` twice");
    };
    let changes = history::diff(&a, &b);
    println!(
        "{} → {}: {} control(s) changed status",
        a.generated_at,
        b.generated_at,
        changes.len()
    );
    let name = |s: Option<palisade_compliance::Status>| s.map_or("(absent)", |s| s.as_str());
    for c in &changes {
        println!("  {}: {} → {}", c.control, name(c.before), name(c.after));
    }
    Ok(ExitCode::SUCCESS)
}

/// The compliance routes of `palisade serve`, admin-protected like the
/// other admin routes (the caller's OIDC token or mTLS certificate, and a
/// Cedar allow through [`AdminGuard`]; 404 when the admin API is off):
/// - `GET /v1/compliance/report?framework=soc2|hipaa|gdpr&format=json|csv|html|oscal|md|bundle`
///   (`admin:compliance.read`): a report generated from the live store at
///   request time, kept in the history like the shell's. Generating is heavy:
///   at most `server.report_generations` at once, the others get 429 with
///   `Retry-After`.
/// - `POST /v1/compliance/scans` (`admin:compliance.record`): a gated scan's
///   unsigned summary from a CI runner (`palisade gate --record --server`),
///   stamped with the server's clock, signed with the platform key and kept
///   in the store; 201 with the record's id.
///
/// Internal errors are logged; the caller gets a bare 500.
pub struct ComplianceRoutes {
    config: Config,
    catalog: Catalog,
    store: Arc<dyn palisade_store::Store>,
    ledger: Option<Arc<dyn palisade_store::CertLedger>>,
    keys: Arc<AuditKeys>,
    admin: Option<Arc<AdminGuard>>,
    /// Permits for report generations running at once.
    generations: Semaphore,
}

impl ComplianceRoutes {
    /// The routes' state: the built-in catalogue, the server's store and keys.
    pub async fn new(
        config: &Config,
        store: Arc<dyn palisade_store::Store>,
        keys: Arc<AuditKeys>,
        admin: Option<Arc<AdminGuard>>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            config: config.clone(),
            catalog: Catalog::builtin()?,
            store,
            ledger: palisade_store::open_ledger(&config.store_url()).await.ok(),
            keys,
            admin,
            generations: Semaphore::new(config.server.report_generations),
        })
    }

    /// The router serving `GET /v1/compliance/report` and `POST /v1/compliance/scans`.
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .route(REPORT_PATH, axum::routing::get(report_route))
            .route(SCANS_PATH, axum::routing::post(scans_route))
            .with_state(Arc::new(self))
    }

    async fn respond(&self, uri: &axum::http::Uri) -> Result<Response, (StatusCode, String)> {
        let bad = |m: String| (StatusCode::BAD_REQUEST, m);
        let q = axum::extract::Query::<ReportQuery>::try_from_uri(uri)
            .map_err(|e| bad(e.body_text()))?
            .0;
        let framework_id = q.framework.as_deref().unwrap_or("soc2");
        let framework = self.catalog.framework(framework_id).ok_or_else(|| {
            bad(format!(
                "no framework {framework_id:?} (have: {})",
                self.catalog
                    .frameworks()
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let format = match q.format.as_deref().unwrap_or("json") {
            "bundle" => None,
            f => Some(f.parse::<Format>().map_err(|e| bad(e.to_string()))?),
        };
        let internal = |e: anyhow::Error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
        let attestations = attestations(&self.config, &self.catalog, &[]).map_err(internal)?;
        let live = Live {
            config: &self.config,
            store: self.store.as_ref(),
            ledger: self.ledger.as_deref(),
            public_key: self.keys.public_key().to_vec(),
        };
        let now = time::OffsetDateTime::now_utc();
        let report = live
            .assess(&self.catalog, framework, &attestations, now)
            .await;
        // Rendering is CPU work proportional to the evidence: off the reactor.
        let (report, json) = tokio::task::spawn_blocking(move || {
            let json = export::render(&report, Format::Json);
            (report, json)
        })
        .await
        .map_err(|e| internal(e.into()))?;
        let json = json.map_err(|e| internal(e.into()))?;
        history::keep(self.store.as_ref(), &report, &json)
            .await
            .map_err(|e| internal(e.into()))?;
        let keys = self.keys.clone();
        let text = tokio::task::spawn_blocking(move || render(&report, format, json, &keys))
            .await
            .map_err(|e| internal(e.into()))?
            .map_err(internal)?;
        let media_type = format.map_or("application/json", Format::media_type);
        let filename = format!(
            "palisade-{framework_id}.{}",
            format.map_or("bundle.json", Format::extension)
        );
        let mut headers = vec![
            (header::CONTENT_TYPE, media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ];
        if format == Some(Format::Html) {
            // The page is self-contained: it may load nothing at all.
            headers.push((header::CONTENT_SECURITY_POLICY, HTML_CSP.to_owned()));
        }
        let mut response = text.into_response();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        Ok(response)
    }
}

/// The Content-Security-Policy of HTML reports: inline styles, nothing
/// fetched from anywhere.
const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

#[derive(serde::Deserialize)]
struct ReportQuery {
    framework: Option<String>,
    format: Option<String>,
}

/// An error answer in the shape of every other route's.
fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({
            "error": { "status": status.as_u16(), "message": message }
        })),
    )
        .into_response()
}

/// A 500 that says nothing of the cause (logged here instead).
fn internal_error(what: &str, cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "{what}");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// 429 when every report generation permit is taken.
fn too_busy() -> Response {
    let mut r = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "too many compliance reports are being generated; retry shortly",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

impl ComplianceRoutes {
    /// The caller of an admin request, allowed to do `action` (404 when the
    /// admin API is off; 401/403 from [`AdminGuard`] otherwise).
    async fn admit(
        &self,
        action: AdminAction,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        peer: Option<axum::Extension<PeerPrincipal>>,
    ) -> Result<AdminCaller, Response> {
        let Some(admin) = &self.admin else {
            return Err(error_response(
                StatusCode::NOT_FOUND,
                "the admin API is disabled",
            ));
        };
        let peer = peer.map(|axum::Extension(p)| p);
        admin
            .authorize(action, method, path, headers, peer.as_ref())
            .await
    }
}

async fn report_route(
    State(route): State<Arc<ComplianceRoutes>>,
    peer: Option<axum::Extension<PeerPrincipal>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(refused) = route
        .admit(
            AdminAction::ComplianceRead,
            "GET",
            REPORT_PATH,
            &headers,
            peer,
        )
        .await
    {
        return refused;
    }
    // Held until the report is rendered.
    let Ok(_permit) = route.generations.try_acquire() else {
        return too_busy();
    };
    match route.respond(&uri).await {
        Ok(r) => r,
        Err((status, message)) if status.is_server_error() => {
            internal_error("compliance report failed", &message)
        }
        Err((status, message)) => error_response(status, &message),
    }
}

async fn scans_route(
    State(route): State<Arc<ComplianceRoutes>>,
    peer: Option<axum::Extension<PeerPrincipal>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // Who is asking, before anything of the body is read.
    let caller = match route
        .admit(
            AdminAction::ComplianceRecord,
            "POST",
            SCANS_PATH,
            &headers,
            peer,
        )
        .await
    {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    let limit = route.config.server.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the scan summary is over {limit} bytes (server.max_body_bytes)"),
                )
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the request: {e}"),
                )
            };
        }
    };
    let now = match time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
    {
        Ok(t) => t,
        Err(e) => return internal_error("cannot format the time", &e),
    };
    let mut rec = match palisade_compliance::ScanRecord::from_posted(&bytes, &now) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    rec.sign(route.keys.as_ref());
    match rec.keep(route.store.as_ref()).await {
        Ok(id) => {
            tracing::info!(
                id,
                target = %rec.target,
                principal = %caller.principal,
                credential = caller.credential,
                "scan record kept"
            );
            (
                StatusCode::CREATED,
                axum::Json(serde_json::json!({
                    "id": id,
                    "target": rec.target,
                    "recorded_at": rec.recorded_at,
                    "key_id": rec.key_id,
                })),
            )
                .into_response()
        }
        Err(e) => internal_error("cannot keep the scan record", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes on a fresh data directory, the admin guard admitting the
    /// break-glass token `glass` (no policy engine needed).
    async fn routes(dir: &Path, generations: usize) -> Arc<ComplianceRoutes> {
        routes_with(dir, generations, 1024 * 1024).await
    }

    async fn routes_with(
        dir: &Path,
        generations: usize,
        max_body_bytes: usize,
    ) -> Arc<ComplianceRoutes> {
        let config = Config {
            data_dir: dir.to_owned(),
            server: crate::config::ServerConfig {
                report_generations: generations,
                max_body_bytes,
                ..Default::default()
            },
            ..Default::default()
        };
        let store = palisade_store::open(&config.store_url()).await.unwrap();
        let keys = Arc::new(AuditKeys::load_or_create(dir).unwrap());
        let admin = Arc::new(AdminGuard::new(None, None, Some("glass")));
        Arc::new(
            ComplianceRoutes::new(&config, store, keys, Some(admin))
                .await
                .unwrap(),
        )
    }

    fn admin_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer glass"),
        );
        headers
    }

    async fn get_report(routes: &Arc<ComplianceRoutes>) -> (StatusCode, HeaderMap, String) {
        let headers = admin_headers();
        let uri = "/v1/compliance/report?framework=soc2&format=json"
            .parse()
            .unwrap();
        let r = report_route(State(routes.clone()), None, headers, uri).await;
        let (parts, body) = r.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn report_generations_over_the_cap_get_429() {
        let dir = tempfile::tempdir().unwrap();
        let routes = routes(dir.path(), 1).await;
        // Another request is generating a report: it holds the only permit.
        let busy = routes.generations.try_acquire().unwrap();
        let (status, headers, body) = get_report(&routes).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(headers[header::RETRY_AFTER], "2");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["status"], 429);
        // Once it is done, the next one is served and gives its permit back.
        drop(busy);
        let (status, _, body) = get_report(&routes).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(routes.generations.available_permits(), 1);
    }

    #[tokio::test]
    async fn posted_summaries_are_bounded_signed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let routes = routes_with(dir.path(), 2, 512).await;
        let post = |body: Vec<u8>| {
            let routes = routes.clone();
            async move {
                let r = scans_route(
                    State(routes),
                    None,
                    admin_headers(),
                    axum::body::Body::from(body),
                )
                .await;
                let status = r.status();
                let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                )
            }
        };
        let summary = |target: &str| palisade_compliance::ScanRecord {
            target: target.into(),
            artifact_type: "container_image".into(),
            recorded_at: "1999-01-01T00:00:00Z".into(),
            gate_passed: true,
            threshold: None,
            counts: Default::default(),
            suppressed: 0,
            criticals: vec![],
            report_sha256: "ab".repeat(32),
            key_id: String::new(),
            signature: String::new(),
        };
        // Over server.max_body_bytes: 413, nothing kept.
        let big = serde_json::to_vec(&summary(&"x".repeat(600))).unwrap();
        let (status, v) = post(big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        assert!(routes.store.scan_records(10).await.unwrap().is_empty());
        // A summary: stamped with the server's clock, signed, kept.
        let (status, v) = post(serde_json::to_vec(&summary("app:1")).unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let key = routes.keys.public_key().to_vec();
        let kept = palisade_compliance::load_records(routes.store.as_ref(), &key, 10)
            .await
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, v["id"].as_i64().unwrap());
        let rec = kept[0].1.as_ref().expect("a record that verifies");
        assert_eq!(rec.target, "app:1");
        assert_eq!(rec.recorded_at, v["recorded_at"].as_str().unwrap());
        assert_ne!(rec.recorded_at, "1999-01-01T00:00:00Z");
    }

    #[tokio::test]
    async fn internal_errors_do_not_reach_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let routes = routes(dir.path(), 2).await;
        // A broken attestation file beside the data: the report cannot be made.
        let att = dir.path().join("compliance/attestations.toml");
        std::fs::create_dir_all(att.parent().unwrap()).unwrap();
        std::fs::write(&att, "[[attestation]\nsecret-detail = ").unwrap();
        let (status, _, body) = get_report(&routes).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "error": { "status": 500, "message": "internal error" } })
        );
        // The permit is back even though the generation failed.
        assert_eq!(routes.generations.available_permits(), 2);
    }
}
