//! OpenBao / HashiCorp Vault: KV v2 secrets and Transit envelope keys.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::{Zeroize as _, Zeroizing};

use crate::envelope::to_key;
use crate::value::{check_value, validate_name};
use crate::{KeyWrapper, Secret, SecretStore, SecretValue, SecretsError};

/// How to reach an OpenBao or Vault server.
#[derive(Clone)]
pub struct VaultOptions {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub address: String,
    /// The token (zeroed on drop, never printed).
    pub token: Zeroizing<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for VaultOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultOptions")
            .field("address", &self.address)
            .field("token", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl VaultOptions {
    /// Options for `address` with `token` and a 10 s timeout.
    pub fn new(address: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: Zeroizing::new(token.into()),
            timeout: Duration::from_secs(10),
        }
    }

    fn client(&self) -> Result<VaultClient, SecretsError> {
        let invalid = |reason: &str| SecretsError::InvalidUrl {
            url: self.address.clone(),
            reason: reason.into(),
        };
        let rest = self
            .address
            .strip_prefix("http://")
            .or_else(|| self.address.strip_prefix("https://"))
            .ok_or_else(|| invalid("the address must start with http:// or https://"))?;
        if rest.is_empty()
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]/_".contains(&b))
        {
            return Err(invalid("not a host[:port] address"));
        }
        if self.token.is_empty() {
            return Err(SecretsError::Backend {
                backend: "openbao",
                address: self.address.clone(),
                message: "no token (set PALISADE_VAULT_TOKEN, BAO_TOKEN or VAULT_TOKEN)".into(),
            });
        }
        let settings = VaultClientSettingsBuilder::default()
            .address(&self.address)
            .token(self.token.as_str())
            .timeout(Some(self.timeout))
            .verify(true)
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        VaultClient::new(settings).map_err(|e| SecretsError::Backend {
            backend: "openbao",
            address: self.address.clone(),
            message: error_chain(&e),
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn backend_error(address: &str, e: ClientError) -> SecretsError {
    let message = match &e {
        ClientError::APIError { code, errors } => {
            format!("the server answered {code}: {}", errors.join("; "))
        }
        other => error_chain(other),
    };
    SecretsError::Backend {
        backend: "openbao",
        address: address.to_owned(),
        message,
    }
}

fn is_not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::APIError { code: 404, .. })
}

/// A KV v2 secrets engine on OpenBao or Vault. Each secret is one KV path
/// whose data is `{"value": BASE64}`; KV versions are the store's versions.
pub struct VaultKv {
    client: VaultClient,
    address: String,
    mount: String,
}

#[derive(Serialize, Deserialize)]
struct KvData {
    value: String,
}

impl Drop for KvData {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl VaultKv {
    /// A client for the KV v2 engine mounted at `mount` (e.g. `secret`).
    /// Nothing is sent until the first call.
    pub fn new(options: &VaultOptions, mount: &str) -> Result<Self, SecretsError> {
        Ok(Self {
            client: options.client()?,
            address: options.address.clone(),
            mount: mount.trim_matches('/').to_owned(),
        })
    }

    fn err(&self, e: ClientError) -> SecretsError {
        backend_error(&self.address, e)
    }

    async fn list_dir(&self, dir: &str, out: &mut Vec<String>) -> Result<(), SecretsError> {
        // Depth-first, iterative so a hostile tree cannot recurse without bound.
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            let keys = match vaultrs::kv2::list(&self.client, &self.mount, &d).await {
                Ok(k) => k,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(self.err(e)),
            };
            for k in keys {
                let full = format!("{d}{k}");
                if full.ends_with('/') {
                    if out.len() + stack.len() > 100_000 {
                        return Err(SecretsError::Backend {
                            backend: "openbao",
                            address: self.address.clone(),
                            message: "more than 100000 entries to list".into(),
                        });
                    }
                    stack.push(full);
                } else {
                    out.push(full);
                }
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SecretStore for VaultKv {
    fn describe(&self) -> String {
        format!("openbao KV v2 `{}` at {}", self.mount, self.address)
    }

    async fn put(&self, name: &str, value: SecretValue) -> Result<String, SecretsError> {
        validate_name(name)?;
        check_value(&value)?;
        let data = KvData {
            value: B64.encode(value.expose()),
        };
        let meta = vaultrs::kv2::set(&self.client, &self.mount, name, &data)
            .await
            .map_err(|e| self.err(e))?;
        Ok(meta.version.to_string())
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<Secret, SecretsError> {
        validate_name(name)?;
        let not_found = || SecretsError::NotFound {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        };
        let v: Option<u64> = match version {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| not_found())?),
        };
        let meta = match vaultrs::kv2::read_metadata(&self.client, &self.mount, name).await {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Err(not_found()),
            Err(e) => return Err(self.err(e)),
        };
        let number = v.unwrap_or(meta.current_version);
        let data: Result<KvData, _> =
            vaultrs::kv2::read_version(&self.client, &self.mount, name, number).await;
        let data = match data {
            Ok(d) => d,
            Err(e) if is_not_found(&e) => return Err(not_found()),
            Err(ClientError::JsonParseError { .. }) | Err(ClientError::ResponseDataEmptyError) => {
                return Err(not_found())
            }
            Err(e) => return Err(self.err(e)),
        };
        let bytes = B64.decode(&data.value).map_err(|_| SecretsError::Corrupt {
            path: format!("{}/{name}", self.mount),
            reason: "value is not base64 (not written by Palisade?)".into(),
        })?;
        Ok(Secret {
            name: name.to_owned(),
            version: number.to_string(),
            value: SecretValue::new(bytes),
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SecretsError> {
        // List from the deepest directory the prefix names, then filter.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let mut out = Vec::new();
        self.list_dir(dir, &mut out).await?;
        out.retain(|n| n.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<(), SecretsError> {
        validate_name(name)?;
        match vaultrs::kv2::read_metadata(&self.client, &self.mount, name).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Err(SecretsError::NotFound {
                    name: name.to_owned(),
                    version: None,
                })
            }
            Err(e) => return Err(self.err(e)),
        }
        vaultrs::kv2::delete_metadata(&self.client, &self.mount, name)
            .await
            .map_err(|e| self.err(e))
    }
}

/// A key-encryption key in an OpenBao/Vault Transit engine: data keys are
/// wrapped and unwrapped by the server, the KEK itself never leaves it.
pub struct TransitKek {
    client: VaultClient,
    address: String,
    mount: String,
    key: String,
}

impl TransitKek {
    /// Uses key `key` of the Transit engine at `mount`, creating it
    /// (`aes256-gcm96`) if it does not exist yet.
    pub async fn connect(
        options: &VaultOptions,
        mount: &str,
        key: &str,
    ) -> Result<Self, SecretsError> {
        let kek = Self {
            client: options.client()?,
            address: options.address.clone(),
            mount: mount.trim_matches('/').to_owned(),
            key: key.to_owned(),
        };
        match vaultrs::transit::key::read(&kek.client, &kek.mount, &kek.key).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                vaultrs::transit::key::create(&kek.client, &kek.mount, &kek.key, None)
                    .await
                    .map_err(|e| backend_error(&kek.address, e))?;
            }
            Err(e) => return Err(backend_error(&kek.address, e)),
        }
        Ok(kek)
    }
}

#[async_trait::async_trait]
impl KeyWrapper for TransitKek {
    fn describe(&self) -> String {
        format!(
            "transit:{}/v1/{}/keys/{}",
            self.address, self.mount, self.key
        )
    }

    async fn wrap(&self, data_key: &[u8; 32]) -> Result<Vec<u8>, SecretsError> {
        let b64 = Zeroizing::new(B64.encode(data_key));
        let res = vaultrs::transit::data::encrypt(&self.client, &self.mount, &self.key, &b64, None)
            .await
            .map_err(|e| backend_error(&self.address, e))?;
        Ok(res.ciphertext.into_bytes())
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
        let ct = std::str::from_utf8(wrapped)
            .map_err(|_| SecretsError::WrongKey("not a Transit ciphertext".into()))?;
        let res = vaultrs::transit::data::decrypt(&self.client, &self.mount, &self.key, ct, None)
            .await
            .map_err(|e| match e {
                ClientError::APIError { code: 400, errors } => SecretsError::WrongKey(format!(
                    "Transit key `{}` refused to decrypt: {}",
                    self.key,
                    errors.join("; ")
                )),
                e => backend_error(&self.address, e),
            })?;
        let mut plaintext = res.plaintext;
        let bytes = Zeroizing::new(B64.decode(&plaintext).unwrap_or_default());
        plaintext.zeroize();
        to_key(&bytes)
    }
}

impl std::fmt::Debug for VaultKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKv")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TransitKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitKek")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
