//! `palisade serve`: the decision API server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use palisade_policy::decision_log::{self, AuditKeys, DecisionLog};
use palisade_policy::{
    AdminGuard, DecisionAccess, DecisionPoint, HttpOptions, PolicyMetrics, PolicyStore,
    PolicyUpdate,
};

use crate::config::Config;

/// The example bundle, seeded into an empty data directory.
const EXAMPLE_BUNDLE: &[(&str, &str)] = &[
    (
        "app.cedarschema",
        include_str!("../../examples/policies/app.cedarschema"),
    ),
    (
        "documents.cedar",
        include_str!("../../examples/policies/documents.cedar"),
    ),
    ("ca.cedar", include_str!("../../examples/policies/ca.cedar")),
    (
        "admin.cedar",
        include_str!("../../examples/policies/admin.cedar"),
    ),
    (
        "sharing.cedar",
        include_str!("../../examples/policies/sharing.cedar"),
    ),
    (
        "ext_authz.cedar",
        include_str!("../../examples/policies/ext_authz.cedar"),
    ),
    (
        "links.json",
        include_str!("../../examples/policies/links.json"),
    ),
    (
        "entities.json",
        include_str!("../../examples/policies/entities.json"),
    ),
    (
        "documents.tests.json",
        include_str!("../../examples/policies/documents.tests.json"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Also PALISADE_LISTEN.
    #[arg(long)]
    listen: Option<String>,
    /// Policy bundle directory. Also PALISADE_POLICY_DIR.
    #[arg(long)]
    policies: Option<PathBuf>,
}

pub fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(l) = args.listen {
        config.server.listen = l;
    }
    if let Some(p) = args.policies {
        config.policy.dir = Some(p);
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = config.server.worker_threads {
        rt.worker_threads(n);
    }
    rt.build()?.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

fn seed_example(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in EXAMPLE_BUNDLE {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The policy bundle directory: `policy.dir`, else `<data_dir>/policies`,
/// seeded with the example bundle when it does not exist yet.
pub fn policy_dir(config: &Config) -> anyhow::Result<PathBuf> {
    Ok(match &config.policy.dir {
        Some(d) => d.clone(),
        None => {
            let d = config.data_dir.join("policies");
            if !d.exists() {
                seed_example(&d)?;
                tracing::info!(dir = %d.display(), "seeded the example policy bundle");
            }
            d
        }
    })
}

/// Reads the admin token file, creating it (mode 0600) with a random token.
fn admin_token(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Ok(zeroize::Zeroizing::new(t.trim().to_owned())),
        Ok(_) => anyhow::bail!("admin token file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
            let token = zeroize::Zeroizing::new(hex::encode(bytes.as_ref()));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(token.as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let policy_dir = policy_dir(&config)?;
    let store = palisade_store::open(&config.store_url()).await?;
    let metrics = PolicyMetrics::new();
    let policies = Arc::new(
        PolicyStore::open(
            &policy_dir,
            store.clone(),
            metrics.clone(),
            config.policy.on_evaluation_error,
        )
        .await
        .with_context(|| format!("cannot load policies from {}", policy_dir.display()))?,
    );
    let keys = Arc::new(AuditKeys::load_or_create(&config.data_dir)?);
    let log = Arc::new(
        DecisionLog::start(
            store.clone(),
            keys.clone(),
            &config.decision_log,
            metrics.clone(),
        )
        .await?,
    );
    let pdp = Arc::new(DecisionPoint::new(
        policies.clone(),
        log.clone(),
        metrics.clone(),
        config.authzen.clone(),
        config.limits.clone(),
    ));
    let tokens = if config.identity.issuers.is_empty() {
        None
    } else {
        tracing::info!(
            issuers = config.identity.issuers.len(),
            "OIDC issuers configured: token-based decisions, token admins"
        );
        Some(Arc::new(palisade_identity::TokenVerifier::new(
            &config.identity,
        )?))
    };
    let authenticator = tokens
        .clone()
        .map(|t| t as Arc<dyn palisade_policy::TokenAuthenticator>);
    let admin = if config.server.admin_api {
        let break_glass = if config.server.admin_break_glass {
            let path = config
                .server
                .admin_token_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("admin.token"));
            tracing::warn!(token_file = %path.display(), "break-glass admin token enabled");
            Some(admin_token(&path)?)
        } else {
            None
        };
        Some(Arc::new(AdminGuard::new(
            Some(pdp.clone()),
            authenticator.clone(),
            break_glass.as_ref().map(|t| t.as_str()),
        )))
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let tls_on = crate::cli::ca::tls_enabled(&config);
    match config.server.decisions {
        DecisionAccess::Mtls if !tls_on => {
            anyhow::bail!("server.decisions = \"mtls\" needs TLS (ca.tls = true)")
        }
        DecisionAccess::Token if !tls_on && tokens.is_none() => anyhow::bail!(
            "server.decisions = \"token\" needs [[identity.issuers]] (or TLS for mTLS callers)"
        ),
        _ => {}
    }
    let public_url = if config.server.public_url.is_empty() {
        format!("{}://{addr}", if tls_on { "https" } else { "http" })
    } else {
        config.server.public_url.clone()
    };
    // Compliance reports and scan records sit behind the same admin authentication.
    let compliance = crate::cli::compliance::ComplianceRoutes::new(
        &config,
        store.clone(),
        keys.clone(),
        admin.clone(),
    )
    .await?;
    let app = palisade_policy::router(
        pdp.clone(),
        HttpOptions {
            max_body_bytes: config.server.max_body_bytes,
            admin: admin.clone(),
            public_url: public_url.clone(),
            decisions: config.server.decisions,
            tokens: authenticator.clone(),
        },
    );
    let app = match &authenticator {
        None => app,
        Some(tokens) => app.merge(palisade_policy::token_router(
            pdp.clone(),
            tokens.clone(),
            config.server.max_body_bytes,
        )),
    };
    let app = app.merge(compliance.router());
    let (app, ca) = crate::cli::ca::mount(&config, app, pdp.clone(), admin, tokens).await?;
    // Every route sees the mTLS caller (when there is one) as its principal.
    let app = app.layer(axum::middleware::from_fn_with_state(
        Arc::new(config.identity.workload.clone()),
        palisade_identity::attach_peer_principal,
    ));
    // One span per request, child of the caller's traceparent; only when spans are exported.
    let app = if crate::telemetry::tracing_enabled(&config.observability) {
        app.layer(axum::middleware::from_fn(crate::telemetry::http_span))
    } else {
        app
    };
    let tls = crate::cli::ca::tls_listener(&config, ca.as_ref()).await?;
    let ca_metrics = match &ca {
        Some(ca) => Some(crate::cli::ca_metrics::spawn(
            ca.clone(),
            metrics.registry(),
        )?),
        None => None,
    };
    // Several replicas on one database: serve what the others record.
    let _follow = store
        .is_shared()
        .then(|| policies.follow(Duration::from_millis(config.policy.sync_interval_ms)));
    let _revocations = ca.as_ref().and_then(|ca| follow_revocations(ca.clone()));
    let _watch = if config.policy.watch {
        Some(policies.watch(Duration::from_millis(config.policy.watch_debounce_ms))?)
    } else {
        None
    };
    let sighup = {
        let policies = policies.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = policies
                    .update(PolicyUpdate::Directory, None, "sighup")
                    .await;
            }
        })
    };
    let retention = config.decision_log.retention_seconds.map(|s| {
        let (store, keys) = (store.clone(), keys.clone());
        let keep = Duration::from_secs(s);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(
                keep.min(Duration::from_secs(3600)) / 4 + Duration::from_secs(1),
            );
            loop {
                tick.tick().await;
                // One replica at a time; the others skip this round.
                let guard = match store.try_singleton("decision-log-retention").await {
                    Ok(Some(guard)) => guard,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "decision log retention cannot take its lock");
                        continue;
                    }
                };
                let pruned = decision_log::prune(store.as_ref(), &keys, keep).await;
                guard.release().await;
                match pruned {
                    Ok(Some((cp, n))) => tracing::info!(
                        deleted = n,
                        checkpoint_seq = cp.seq,
                        "decision log retention pruned records"
                    ),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "decision log retention failed"),
                }
            }
        })
    });
    let _ext_authz = ext_authz(&config, &pdp).await?;
    // Over TLS, the trust bundle goes next to the data (before the banner,
    // so whoever reads the banner finds it) and the curl line uses it.
    let cacert = match &ca {
        Some(ca) if tls.is_some() => {
            let path = config.data_dir.join("ca-bundle.pem");
            crate::cli::ca::write_public(&path, &ca.bundle_pem())?;
            format!(" --cacert {}", path.display())
        }
        _ => String::new(),
    };
    let version = policies.current();
    println!(
        "palisade listening on {public_url} (policy version {}, {} policies, {} entities, from {})",
        version.etag(),
        version.policy_count(),
        version.entity_count(),
        policy_dir.display()
    );
    println!(
        "try: curl -s{cacert} {public_url}/access/v1/evaluation -H 'content-type: application/json' \
         -d '{{\"subject\":{{\"type\":\"User\",\"id\":\"alice\"}},\"action\":{{\"name\":\"read\"}},\"resource\":{{\"type\":\"Document\",\"id\":\"roadmap\"}}}}'"
    );
    if let Some(tls) = tls {
        tracing::info!("TLS 1.3 with client certificates from the internal CA");
        tokio::select! {
            _ = tls.serve(listener, app, Duration::from_secs(5)) => {}
            _ = shutdown_signal() => {}
        }
    } else {
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
    }
    sighup.abort();
    if let Some(m) = ca_metrics {
        m.abort();
    }
    if let Some(r) = retention {
        r.abort();
    }
    if let Some(ca) = &ca {
        // Issued certificates are durable already (their reservations); this
        // records the last ones in full so that the next start has nothing
        // to re-derive.
        if let Err(e) = ca.flush().await {
            tracing::error!(error = %e, "cannot record the last issued certificates in full");
        }
    }
    log.shutdown().await;
    tracing::info!("decision log flushed; bye");
    Ok(())
}

/// Applies revocations made through other replicas as soon as the shared
/// ledger announces them (the TLS listener also polls every few seconds).
fn follow_revocations(ca: Arc<palisade_ca::CertificateAuthority>) -> Option<AbortOnDrop> {
    let mut events = ca.ledger().events()?;
    Some(AbortOnDrop(tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(palisade_store::StoreEvent::PolicyVersion) => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            if let Err(e) = ca.refresh_revocations().await {
                tracing::warn!(error = %e, "cannot refresh revocations");
            }
        }
    })))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the Envoy / Istio ext_authz servers when `[ext_authz]` enables
/// them (stopped when the returned value is dropped).
async fn ext_authz(
    config: &Config,
    pdp: &Arc<DecisionPoint>,
) -> anyhow::Result<Option<palisade_extauthz::ExtAuthzServer>> {
    if !config.ext_authz.enabled {
        return Ok(None);
    }
    let tokens = Arc::new(palisade_identity::TokenVerifier::new(&config.identity)?);
    let authz = palisade_extauthz::ExtAuthz::new(
        config.ext_authz.clone(),
        pdp.clone(),
        tokens,
        config.identity.workload.clone(),
    )?;
    let server = palisade_extauthz::ExtAuthzServer::start(Arc::new(authz)).await?;
    println!("ext_authz gRPC listening on {}", server.grpc_addr());
    if let Some(addr) = server.http_addr() {
        println!("ext_authz HTTP listening on http://{addr}");
    }
    Ok(Some(server))
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
