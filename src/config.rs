//! Palisade's configuration: one TOML file, overridden by `PALISADE_*`
//! environment variables, overridden by command-line flags. Every key is
//! documented in `docs/configuration.md`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use palisade_policy::decision_log::DecisionLogConfig;
use palisade_policy::{AuthzenMapping, DecisionLimits, OnEvaluationError};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory of the embedded store and the keys.
    pub data_dir: PathBuf,
    /// Store URL; empty means `sqlite://<data_dir>/palisade.db`.
    pub store_url: String,
    pub server: ServerConfig,
    pub policy: PolicyConfig,
    pub authzen: AuthzenMapping,
    pub limits: DecisionLimits,
    pub decision_log: DecisionLogConfig,
    /// Internal CA (`palisade ca`, CA routes of `palisade serve`).
    pub ca: crate::cli::ca::CaSettings,
    /// Secrets backend (`palisade secrets`, the CA's key-encryption key).
    pub secrets: crate::cli::secrets::SecretsSettings,
    /// Vulnerability scanner (`palisade scan`, `palisade gate`, `palisade db`).
    pub scanner: palisade_scanner::ScannerSettings,
    /// Trusted OIDC issuers and how callers map to principals (`palisade serve`).
    pub identity: palisade_identity::IdentityConfig,
    /// Log format.
    pub observability: crate::telemetry::ObservabilityConfig,
    /// Envoy / Istio external authorization (`palisade serve`).
    pub ext_authz: palisade_extauthz::ExtAuthzConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub admin_api: bool,
    /// Accept the static token of `admin_token_file` on the admin routes as
    /// break-glass (bypasses identity and policy; logged).
    pub admin_break_glass: bool,
    pub admin_token_file: Option<PathBuf>,
    /// Who may ask the decision endpoints: open, token or mtls.
    pub decisions: palisade_policy::DecisionAccess,
    pub worker_threads: Option<usize>,
    /// Compliance reports generated at once over HTTP; more get 429.
    pub report_generations: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub dir: Option<PathBuf>,
    pub watch: bool,
    pub watch_debounce_ms: u64,
    /// With a shared store (PostgreSQL): how often a replica checks for a
    /// policy version another replica recorded, besides being told at once
    /// (LISTEN/NOTIFY).
    pub sync_interval_ms: u64,
    pub on_evaluation_error: OnEvaluationError,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            store_url: String::new(),
            server: ServerConfig::default(),
            policy: PolicyConfig::default(),
            authzen: AuthzenMapping::default(),
            limits: DecisionLimits::default(),
            decision_log: DecisionLogConfig::default(),
            ca: Default::default(),
            secrets: Default::default(),
            scanner: palisade_scanner::ScannerSettings::default(),
            identity: Default::default(),
            observability: Default::default(),
            ext_authz: Default::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8420".into(),
            public_url: String::new(),
            max_body_bytes: 1024 * 1024,
            admin_api: true,
            admin_break_glass: false,
            admin_token_file: None,
            decisions: palisade_policy::DecisionAccess::Open,
            worker_threads: None,
            report_generations: 2,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            dir: None,
            watch: true,
            watch_debounce_ms: 250,
            sync_interval_ms: 5_000,
            on_evaluation_error: OnEvaluationError::Deny,
        }
    }
}

impl Config {
    /// Loads the file (if any), then applies `PALISADE_*` variables.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PALISADE_CONFIG").map(PathBuf::from));
        let mut config: Config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => Config::default(),
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = env("PALISADE_DATA_DIR") {
            config.data_dir = v.into();
        }
        if let Some(v) = env("PALISADE_STORE_URL") {
            config.store_url = v;
        }
        if let Some(v) = env("PALISADE_LISTEN") {
            config.server.listen = v;
        }
        if let Some(v) = env("PALISADE_POLICY_DIR") {
            config.policy.dir = Some(v.into());
        }
        if let Some(v) = env("PALISADE_ADMIN_TOKEN_FILE") {
            config.server.admin_token_file = Some(v.into());
        }
        if let Some(v) = env("PALISADE_ADMIN_BREAK_GLASS") {
            config.server.admin_break_glass = matches!(v.as_str(), "1" | "true" | "yes" | "on");
        }
        if let Some(v) = env("PALISADE_DECISION_LOG_ON_OVERFLOW") {
            config.decision_log.on_overflow =
                toml::Value::String(v.clone()).try_into().with_context(|| {
                    format!("PALISADE_DECISION_LOG_ON_OVERFLOW: `{v}` is not drop or deny")
                })?;
        }
        if let Some(v) = env("PALISADE_LOG_FORMAT") {
            config.observability.log_format = toml::Value::String(v.clone())
                .try_into()
                .with_context(|| format!("PALISADE_LOG_FORMAT: `{v}` is not text or json"))?;
        }
        // The OpenTelemetry standard variable, then Palisade's own.
        for k in ["OTEL_EXPORTER_OTLP_ENDPOINT", "PALISADE_OTLP_ENDPOINT"] {
            if let Some(v) = env(k) {
                config.observability.otlp_endpoint = v;
            }
        }
        if let Some(v) = env("PALISADE_SCANNER_DB_DIR") {
            config.scanner.db_dir = Some(v.into());
        }
        if let Some(v) = env("PALISADE_SCANNER_DB_REPOSITORY") {
            config.scanner.db_repository = v;
        }
        config.scanner.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            config.server.report_generations >= 1,
            "server.report_generations must be at least 1"
        );
        Ok(config)
    }

    /// The store URL, defaulting to SQLite in the data directory.
    pub fn store_url(&self) -> String {
        if self.store_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("palisade.db").display())
        } else {
            self.store_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_unknown_keys_are_refused() {
        let text = include_str!("../docs/palisade.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8420");
        assert_eq!(c.decision_log.mask_fields, ["context.email"]);
        let err = toml::from_str::<Config>("[server]\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }
}
