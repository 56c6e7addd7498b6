//! `palisade ca ...`: the internal CA from the shell (local administrator).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use palisade_ca::renewal::{PairFiles, RenewalClient, Renewed, WatchOptions};
use palisade_ca::{
    CaConfig, CertFilter, CertificateAuthority, IssueAuthorizer, IssuePolicy, IssueRequest,
    KeyAlgorithm, Requester,
};
use serde::Deserialize;

use crate::config::Config;

/// `[ca]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaSettings {
    /// Trust domain (`example.org`).
    pub trust_domain: String,
    /// Key algorithm of new CA keys: p256, p384 or ed25519.
    pub key_algorithm: KeyAlgorithm,
    /// Key-encryption key sealing the CA keys: `local` (the local master key)
    /// or `transit+http://HOST:PORT/MOUNT/KEY` (OpenBao/Vault Transit).
    pub kek: String,
    /// Default leaf lifetime, seconds.
    pub leaf_ttl_seconds: u64,
    /// Longest leaf lifetime a caller may request, seconds.
    pub max_leaf_ttl_seconds: u64,
    /// Shortest leaf lifetime a caller may request, seconds.
    pub min_leaf_ttl_seconds: u64,
    /// CRL lifetime (nextUpdate - thisUpdate), seconds.
    pub crl_ttl_seconds: u64,
    /// Mount the CA routes (`/ca/v1/...`) on `palisade serve`.
    pub serve: bool,
    /// Serve the API over TLS 1.3 with a server certificate from this CA
    /// (implies `serve`; the default). `false`: plain HTTP, for use behind a
    /// mesh sidecar that terminates TLS.
    pub tls: bool,
    /// Client certificates per route group on the TLS listener.
    pub client_auth: palisade_ca::tls::RouteAuth,
    /// DNS names and IP addresses of the server certificate.
    pub server_names: Vec<String>,
}

impl Default for CaSettings {
    fn default() -> Self {
        let d = CaConfig::default();
        Self {
            trust_domain: d.trust_domain,
            key_algorithm: d.key_algorithm,
            kek: "local".into(),
            leaf_ttl_seconds: d.leaf_ttl.as_secs(),
            max_leaf_ttl_seconds: d.max_leaf_ttl.as_secs(),
            min_leaf_ttl_seconds: d.min_leaf_ttl.as_secs(),
            crl_ttl_seconds: d.crl_ttl.as_secs(),
            serve: false,
            tls: true,
            client_auth: Default::default(),
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
        }
    }
}

impl CaSettings {
    pub fn ca_config(&self) -> CaConfig {
        CaConfig {
            trust_domain: self.trust_domain.clone(),
            key_algorithm: self.key_algorithm,
            leaf_ttl: Duration::from_secs(self.leaf_ttl_seconds),
            max_leaf_ttl: Duration::from_secs(self.max_leaf_ttl_seconds),
            min_leaf_ttl: Duration::from_secs(self.min_leaf_ttl_seconds),
            crl_ttl: Duration::from_secs(self.crl_ttl_seconds),
            ..CaConfig::default()
        }
    }

    pub async fn kek(
        &self,
        config: &Config,
    ) -> anyhow::Result<Arc<dyn palisade_secrets::KeyWrapper>> {
        let opts = config.secrets.open_options(config);
        palisade_secrets::open_key_wrapper(&self.kek, &opts, &config.data_dir)
            .await
            .with_context(|| format!("CA key-encryption key `{}`", self.kek))
    }

    /// Opens the CA of this configuration (it must be initialized), with
    /// `ca:issue` decided by `authorizer`.
    pub async fn open(
        &self,
        config: &Config,
        authorizer: impl IssueAuthorizer,
    ) -> anyhow::Result<CertificateAuthority> {
        let ledger = palisade_store::open_ledger(&config.store_url()).await?;
        let kek = self.kek(config).await?;
        Ok(CertificateAuthority::load(ledger, kek, self.ca_config(), authorizer).await?)
    }
}

/// For the subcommands that never issue: every `ca:issue` is denied.
pub(crate) struct NoIssuance;

impl IssueAuthorizer for NoIssuance {
    fn decide_issue(
        &self,
        _: &palisade_ca::IssueQuestion,
    ) -> (palisade_policy::Decision, Arc<str>) {
        (
            palisade_policy::Decision::deny_with_error("this command does not issue certificates"),
            "none".into(),
        )
    }
}

fn env_flag(name: &str) -> Option<bool> {
    std::env::var(name)
        .ok()
        .map(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"))
}

/// Whether `palisade serve` speaks TLS (`ca.tls`, PALISADE_CA_TLS).
pub fn tls_enabled(config: &Config) -> bool {
    env_flag("PALISADE_CA_TLS").unwrap_or(config.ca.tls)
}

/// For `palisade serve`: mounts the CA routes on `app` when `ca.serve` or
/// `ca.tls` (the default) is set (also PALISADE_CA_SERVE, PALISADE_CA_TLS),
/// initializing the CA first when the store has none. `ca:issue` is decided
/// by the served decision point (hot reload, decision log); the admin routes
/// by `admin` (identity + Cedar); with `identity.exchange` and an issuer,
/// `POST /ca/v1/exchange` swaps a token for a first certificate.
pub async fn mount(
    config: &Config,
    app: axum::Router,
    pdp: Arc<palisade_policy::DecisionPoint>,
    admin: Option<Arc<palisade_policy::AdminGuard>>,
    tokens: Option<Arc<palisade_identity::TokenVerifier>>,
) -> anyhow::Result<(axum::Router, Option<Arc<CertificateAuthority>>)> {
    let serve = env_flag("PALISADE_CA_SERVE").unwrap_or(config.ca.serve) || tls_enabled(config);
    if !serve {
        return Ok((app, None));
    }
    let ledger = palisade_store::open_ledger(&config.store_url()).await?;
    let kek = config.ca.kek(config).await?;
    if ledger.issuers().await?.is_empty() {
        // The embedded default: a fresh data directory gets its CA, as
        // `palisade ca init` would make it.
        CertificateAuthority::init(ledger.clone(), kek.clone(), &config.ca.ca_config(), false)
            .await
            .context("cannot initialize the CA of this data directory")?;
        tracing::info!(
            trust_domain = %config.ca.trust_domain,
            kek = %config.ca.kek,
            "CA initialized (root and intermediate keys sealed)"
        );
    }
    let ca = Arc::new(
        CertificateAuthority::load(ledger, kek, config.ca.ca_config(), pdp)
            .await
            .context("cannot open the CA")?,
    );
    tracing::info!(
        recovered = ca.recovered_at_open(),
        "CA opened (recovered: certificates answered before a crash whose completion it lost, \
         re-derived from their reservations)"
    );
    let mut app = app.merge(palisade_ca::http::router(
        ca.clone(),
        palisade_ca::http::CaHttpOptions { admin },
    ));
    if let Some(exchange) = &config.identity.exchange {
        let tokens = tokens.context("identity.exchange needs [[identity.issuers]]")?;
        app = app.merge(palisade_identity::exchange_router(
            tokens,
            ca.clone(),
            exchange,
        )?);
        tracing::info!(template = %exchange.spiffe_id_template, "token exchange enabled");
    }
    Ok((app, Some(ca)))
}

/// For `palisade serve`: the TLS listener unless `ca.tls = false`.
pub async fn tls_listener(
    config: &Config,
    ca: Option<&Arc<CertificateAuthority>>,
) -> anyhow::Result<Option<Arc<palisade_ca::tls::TlsListener>>> {
    let Some(ca) = ca.filter(|_| tls_enabled(config)) else {
        return Ok(None);
    };
    let mut settings = palisade_ca::tls::TlsSettings {
        client_auth: config.ca.client_auth.handshake(),
        route_auth: config.ca.client_auth,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        ..Default::default()
    };
    for n in &config.ca.server_names {
        match n.parse::<std::net::IpAddr>() {
            Ok(ip) => settings.ip_addresses.push(ip),
            Err(_) => settings.dns_names.push(n.clone()),
        }
    }
    Ok(Some(
        palisade_ca::tls::TlsListener::new(ca.clone(), settings).await?,
    ))
}

#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Create the root and the online intermediate.
    Init {
        /// Trust domain (overrides ca.trust_domain).
        #[arg(long)]
        trust_domain: Option<String>,
        /// p256 (default), p384 or ed25519.
        #[arg(long)]
        key_algorithm: Option<KeyAlgorithm>,
        /// Write the root key here (mode 0600) instead of storing it: keep it offline.
        #[arg(long)]
        export_root_key: Option<PathBuf>,
    },
    /// Issue a certificate as the local administrator.
    Issue {
        /// The SPIFFE ID (default: the CSR's URI SAN).
        #[arg(long)]
        spiffe_id: Option<String>,
        /// The workload's CSR (PEM); without it a P-256 key is generated.
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Extra DNS SANs.
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// Lifetime in seconds (default ca.leaf_ttl_seconds).
        #[arg(long)]
        ttl: Option<u64>,
        /// Write the certificate chain (leaf, intermediate) here.
        #[arg(long)]
        out_cert: PathBuf,
        /// Write the generated key here (mode 0600); required without --csr.
        #[arg(long)]
        out_key: Option<PathBuf>,
    },
    /// Renew a certificate/key pair over mTLS with the current certificate
    /// (a client of `palisade serve` with TLS); with --watch, keep it fresh.
    Renew {
        /// The server, `https://HOST:PORT`.
        #[arg(long)]
        server: String,
        /// Trust bundle (PEM) the server's certificate must chain to.
        #[arg(long)]
        bundle: PathBuf,
        /// Certificate chain file (PEM), replaced on renewal.
        #[arg(long)]
        cert: PathBuf,
        /// Private key file (PEM), replaced on renewal (mode 0600).
        #[arg(long)]
        key: PathBuf,
        /// Lifetime to ask for, seconds (default: the CA's).
        #[arg(long)]
        ttl: Option<u64>,
        /// Keep running: renew at half the lifetime, retry failures with
        /// backoff; exit 1 when the certificate expired without renewal.
        #[arg(long)]
        watch: bool,
    },
    /// Join tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Revoke a certificate and regenerate the CRL.
    Revoke {
        serial: String,
        /// RFC 5280 reason: unspecified, keyCompromise, superseded, ...
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// List ledger entries.
    List {
        /// Only certificates expiring within this many seconds.
        #[arg(long)]
        expiring: Option<u64>,
        /// Only revoked certificates.
        #[arg(long)]
        revoked: bool,
        /// Only this SPIFFE ID.
        #[arg(long)]
        spiffe_id: Option<String>,
        /// Output JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the active intermediate's CRL.
    Crl {
        /// DER to this file instead of PEM on standard output.
        #[arg(long)]
        der_out: Option<PathBuf>,
    },
    /// Print the trust bundle (PEM, or the SPIFFE JWKS bundle).
    Bundle {
        #[arg(long)]
        jwks: bool,
    },
    /// Introduce a new intermediate (or, with --root, a new root and intermediate).
    Rotate {
        #[arg(long)]
        root: bool,
        /// The offline root key (PEM), when the root key is not stored.
        #[arg(long)]
        root_key: Option<PathBuf>,
    },
    /// Retire an issuer in `retiring` state (leaves the bundle / stops its CRL).
    Retire {
        issuer_id: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a one-time join token bound to a SPIFFE ID.
    Create {
        #[arg(long)]
        spiffe_id: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 600)]
        ttl: u64,
    },
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    palisade_secrets::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a public file (mode 0644) by atomic replacement.
pub fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    palisade_secrets::write_atomic(path, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

pub fn run(mut config: Config, cmd: CaCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd {
            CaCommand::Renew {
                server,
                bundle,
                cert,
                key,
                ttl,
                watch,
            } => return renew(&server, &bundle, PairFiles { cert, key }, ttl, watch).await,
            CaCommand::Init {
                trust_domain,
                key_algorithm,
                export_root_key,
            } => {
                if let Some(td) = trust_domain {
                    config.ca.trust_domain = td;
                }
                if let Some(a) = key_algorithm {
                    config.ca.key_algorithm = a;
                }
                let ledger = palisade_store::open_ledger(&config.store_url()).await?;
                let kek = config.ca.kek(&config).await?;
                let root_key = CertificateAuthority::init(
                    ledger,
                    kek,
                    &config.ca.ca_config(),
                    export_root_key.is_some(),
                )
                .await?;
                if let (Some(path), Some(key)) = (&export_root_key, root_key) {
                    write_private(path, key.expose())?;
                    println!("root key written to {} (keep it offline)", path.display());
                }
                let ca = config.ca.open(&config, NoIssuance).await?;
                println!(
                    "CA initialized for spiffe://{} (keys sealed under `{}`)",
                    ca.config().trust_domain,
                    config.ca.kek
                );
                print!("{}", ca.bundle_pem());
            }
            CaCommand::Issue {
                spiffe_id,
                csr,
                dns,
                ttl,
                out_cert,
                out_key,
            } => {
                // The local administrator: decided by the same bundle the
                // server serves (not logged: the decision log has one
                // writer, the server; the ledger records the requester).
                let dir = crate::cli::serve::policy_dir(&config)?;
                let ca = config.ca.open(&config, IssuePolicy::from_dir(&dir)?).await?;
                if csr.is_none() && out_key.is_none() {
                    anyhow::bail!("without --csr a key is generated: give --out-key FILE");
                }
                let csr_der = match &csr {
                    Some(p) => {
                        let text = std::fs::read_to_string(p)
                            .with_context(|| format!("cannot read {}", p.display()))?;
                        use rustls_pki_types::pem::PemObject as _;
                        Some(
                            rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(
                                text.as_bytes(),
                            )
                            .with_context(|| format!("{}: not a PEM CSR", p.display()))?
                            .as_ref()
                            .to_vec(),
                        )
                    }
                    None => None,
                };
                let svid = ca
                    .issue(
                        IssueRequest {
                            csr_der,
                            spiffe_id,
                            dns_names: dns,
                            ip_addresses: Vec::new(),
                            ttl: ttl.map(Duration::from_secs),
                        },
                        &Requester::Admin(whoami()),
                    )
                    .await?;
                // The certificate is durable (its reservation determines it);
                // record it in full before this process exits.
                ca.flush().await?;
                write_public(&out_cert, &svid.chain_pem)?;
                if let (Some(p), Some(k)) = (&out_key, &svid.key_pem) {
                    write_private(p, k.expose())?;
                }
                println!(
                    "issued {} serial {} until {}",
                    svid.spiffe_id, svid.serial, svid.not_after
                );
            }
            CaCommand::Token(TokenCommand::Create { spiffe_id, ttl }) => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                let t = ca
                    .create_join_token(&spiffe_id, Duration::from_secs(ttl), &whoami())
                    .await?;
                eprintln!(
                    "join token for {} (one use, expires {}):",
                    t.spiffe_id, t.expires_at
                );
                println!("{}", t.token.as_str());
            }
            CaCommand::Revoke { serial, reason } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                ca.revoke(&serial, &reason).await?;
                let crl = ca.crl().await?;
                println!("revoked {serial} ({reason}); CRL number {}", crl.number);
            }
            CaCommand::List {
                expiring,
                revoked,
                spiffe_id,
                json,
            } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                let mut filter = CertFilter {
                    spiffe_id,
                    limit: 100_000,
                    ..Default::default()
                };
                if revoked {
                    filter.statuses = vec!["revoked".into()];
                }
                if let Some(s) = expiring {
                    let now = time::OffsetDateTime::now_utc();
                    let fmt = &time::format_description::well_known::Rfc3339;
                    filter.expires_after = Some(now.replace_nanosecond(0)?.format(fmt)?);
                    filter.expires_before = Some(
                        (now + Duration::from_secs(s))
                            .replace_nanosecond(0)?
                            .format(fmt)?,
                    );
                    if !revoked {
                        // `reserved`: answered, its completion not yet written.
                        filter.statuses = vec!["issued".into(), "reserved".into()];
                    }
                }
                let rows = ca.list(&filter).await?;
                if json {
                    for r in &rows {
                        println!(
                            "{}",
                            serde_json::json!({
                                "serial": r.serial, "spiffe_id": r.spiffe_id, "sans": r.sans,
                                "status": r.status, "not_before": r.not_before,
                                "not_after": r.not_after, "requester": r.requester,
                                "public_key_sha256": r.public_key_hash,
                                "revoked_at": r.revoked_at, "revocation_reason": r.revocation_reason,
                            })
                        );
                    }
                } else {
                    println!("SERIAL\tSTATUS\tNOT_AFTER\tSPIFFE_ID\tREQUESTER");
                    for r in &rows {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            r.serial, r.status, r.not_after, r.spiffe_id, r.requester
                        );
                    }
                }
            }
            CaCommand::Crl { der_out } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                let crl = ca.crl().await?;
                match der_out {
                    Some(p) => write_public(&p, "")
                        .and_then(|_| Ok(std::fs::write(&p, &crl.der)?))?,
                    None => print!("{}", crl.pem),
                }
            }
            CaCommand::Bundle { jwks } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                if jwks {
                    println!("{}", serde_json::to_string_pretty(&ca.bundle_jwks()?)?);
                } else {
                    print!("{}", ca.bundle_pem());
                }
            }
            CaCommand::Rotate { root, root_key } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                let id = if root {
                    ca.rotate_root().await?
                } else {
                    let key = match &root_key {
                        Some(p) => Some(zeroize::Zeroizing::new(
                            std::fs::read_to_string(p)
                                .with_context(|| format!("cannot read {}", p.display()))?,
                        )),
                        None => None,
                    };
                    ca.rotate_intermediate(key.as_deref().map(|s| s.as_str()))
                        .await?
                };
                println!("new {} {id}", if root { "root" } else { "intermediate" });
            }
            CaCommand::Retire { issuer_id, force } => {
                let ca = config.ca.open(&config, NoIssuance).await?;
                ca.retire(&issuer_id, force).await?;
                println!("retired {issuer_id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `palisade ca renew`: a client, no CA access needed.
async fn renew(
    server: &str,
    bundle: &Path,
    files: PairFiles,
    ttl: Option<u64>,
    watch: bool,
) -> anyhow::Result<ExitCode> {
    let bundle = std::fs::read_to_string(bundle)
        .with_context(|| format!("cannot read {}", bundle.display()))?;
    let client = RenewalClient::new(server, &bundle)?;
    let report = |r: &Renewed| {
        println!(
            "renewed {} serial {} until {}",
            r.leaf.spiffe_id,
            r.leaf.serial,
            r.leaf
                .not_after
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        )
    };
    let ttl = ttl.map(Duration::from_secs);
    if !watch {
        report(&client.renew(&files, ttl).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let options = WatchOptions {
        ttl,
        ..Default::default()
    };
    let e = tokio::select! {
        e = client.watch(&files, &options, report) => e,
        _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
    };
    eprintln!("error: {e}");
    Ok(ExitCode::from(1))
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}
