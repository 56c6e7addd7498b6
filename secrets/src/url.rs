//! Backend selection by URL.

use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::{
    KeyWrapper, LocalFileStore, LocalKek, MasterKey, SecretStore, SecretsError, TransitKek,
    VaultKv, VaultOptions,
};

/// What a URL does not say: where the local master key is, the Vault token.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// Key file for `local:` (created when missing) — used when
    /// `PALISADE_SECRETS_KEY` is not set. Default: `secrets.key` beside the
    /// store file.
    pub master_key_file: Option<PathBuf>,
    /// Token for OpenBao/Vault; default from `PALISADE_VAULT_TOKEN`,
    /// `BAO_TOKEN` or `VAULT_TOKEN`.
    pub vault_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("master_key_file", &self.master_key_file)
            .field(
                "vault_token",
                &self.vault_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl OpenOptions {
    fn token(&self) -> Zeroizing<String> {
        if let Some(t) = &self.vault_token {
            return t.clone();
        }
        for var in ["PALISADE_VAULT_TOKEN", "BAO_TOKEN", "VAULT_TOKEN"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return Zeroizing::new(v);
                }
            }
        }
        Zeroizing::new(String::new())
    }

    fn master_key(&self, store_path: &std::path::Path) -> Result<MasterKey, SecretsError> {
        let key_file = self.master_key_file.clone().unwrap_or_else(|| {
            store_path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("secrets.key")
        });
        MasterKey::from_env_or_file(&key_file)
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> SecretsError {
    SecretsError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// `scheme+http://host:port/a/b` → (`http://host:port`, [`a`, `b`]).
fn split_http(url: &str, rest: &str, tls: bool) -> Result<(String, Vec<String>), SecretsError> {
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(invalid(url, "no host:port"));
    }
    let scheme = if tls { "https" } else { "http" };
    let segs = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((format!("{scheme}://{host}"), segs))
}

fn vault_target(url: &str) -> Option<(&str, bool)> {
    for (prefix, tls) in [
        ("openbao+http://", false),
        ("vault+http://", false),
        ("openbao+https://", true),
        ("vault+https://", true),
        ("openbao://", true),
        ("vault://", true),
    ] {
        if let Some(rest) = url.strip_prefix(prefix) {
            return Some((rest, tls));
        }
    }
    None
}

/// Opens the secret store named by `url`:
///
/// - `local:PATH` — the encrypted file at PATH (master key from
///   `PALISADE_SECRETS_KEY`, else the key file);
/// - `openbao+http://HOST:PORT[/MOUNT]`, `vault+http://…`, `openbao://…` and
///   `vault://…` (HTTPS), `…+https://…` — KV v2 at MOUNT (default `secret`);
/// - `aws-sm://REGION[?endpoint=URL&prefix=PREFIX]` — AWS Secrets Manager
///   (credentials from the standard AWS chain).
pub async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn SecretStore>, SecretsError> {
    if let Some(path) = url.strip_prefix("local:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid(url, "no file path (local:PATH)"));
        }
        let path = PathBuf::from(path);
        let key = options.master_key(&path)?;
        return Ok(Arc::new(LocalFileStore::open(path, key)?));
    }
    if let Some((rest, tls)) = vault_target(url) {
        let (address, segs) = split_http(url, rest, tls)?;
        let mount = if segs.is_empty() {
            "secret".to_owned()
        } else {
            segs.join("/")
        };
        let opts = VaultOptions {
            token: options.token(),
            ..VaultOptions::new(address, "")
        };
        return Ok(Arc::new(VaultKv::new(&opts, &mount)?));
    }
    if let Some(rest) = url.strip_prefix("aws-sm://") {
        #[cfg(feature = "aws")]
        {
            let (region, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut opts = crate::AwsOptions {
                region: region.trim_end_matches('/').to_owned(),
                ..Default::default()
            };
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("endpoint", v)) => opts.endpoint = Some(v.to_owned()),
                    Some(("prefix", v)) => opts.prefix = v.to_owned(),
                    _ => return Err(invalid(url, format!("unknown parameter `{pair}`"))),
                }
            }
            return Ok(Arc::new(crate::AwsSecretsManager::connect(&opts).await?));
        }
        #[cfg(not(feature = "aws"))]
        {
            let _ = rest;
            return Err(invalid(
                url,
                "this build has no AWS support (cargo feature `aws`)",
            ));
        }
    }
    Err(invalid(
        url,
        "expected local:PATH, openbao+http://HOST:PORT[/MOUNT], vault+https://… or aws-sm://REGION",
    ))
}

/// Opens the key-encryption key named by `url`:
///
/// - `local` — derived from the local master key (`PALISADE_SECRETS_KEY` or
///   the key file `options.master_key_file`, default `secrets.key` in
///   `default_dir`);
/// - `transit+http://HOST:PORT/MOUNT/KEY`, `transit+https://…` — an
///   OpenBao/Vault Transit key (created if missing).
pub async fn open_key_wrapper(
    url: &str,
    options: &OpenOptions,
    default_dir: &std::path::Path,
) -> Result<Arc<dyn KeyWrapper>, SecretsError> {
    if url == "local" || url == "local:" {
        let key = options.master_key(&default_dir.join("secrets.json"))?;
        return Ok(Arc::new(LocalKek::new(&key)));
    }
    for (prefix, tls) in [("transit+http://", false), ("transit+https://", true)] {
        if let Some(rest) = url.strip_prefix(prefix) {
            let (address, mut segs) = split_http(url, rest, tls)?;
            let key = segs
                .pop()
                .ok_or_else(|| invalid(url, "no key name (transit+http://HOST:PORT/MOUNT/KEY)"))?;
            let mount = if segs.is_empty() {
                "transit".to_owned()
            } else {
                segs.join("/")
            };
            let opts = VaultOptions {
                token: options.token(),
                ..VaultOptions::new(address, "")
            };
            return Ok(Arc::new(TransitKek::connect(&opts, &mount, &key).await?));
        }
    }
    Err(invalid(
        url,
        "expected `local` or transit+http://HOST:PORT/MOUNT/KEY",
    ))
}
