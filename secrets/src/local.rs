//! The embedded default backend: one encrypted file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto;
use crate::value::{check_value, validate_name};
use crate::{Secret, SecretStore, SecretValue, SecretsError};

const FORMAT: &str = "palisade-secrets/1";
const KEY_CHECK_AAD: &[u8] = b"palisade-secrets/1\0key-check";
/// Largest store file read back (the store is for keys and credentials).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Versions kept per secret; older ones are dropped on write.
pub const KEPT_VERSIONS: usize = 16;

/// The environment variable holding the local master key (base64 or hex of 32 bytes).
pub const MASTER_KEY_ENV: &str = "PALISADE_SECRETS_KEY";

/// A 256-bit master key, zeroed on drop and never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(crypto::random_key())
    }

    /// Parses base64 (standard, padded) or hex text of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            hex::decode(text)
                .ok()
                .or_else(|| B64.decode(text).ok())
                .ok_or_else(|| SecretsError::MasterKey("not base64 or hex".into()))?,
        );
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            SecretsError::MasterKey(format!("must be 32 bytes, got {}", bytes.len()))
        })?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// From [`MASTER_KEY_ENV`], if set.
    pub fn from_env() -> Result<Option<Self>, SecretsError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(v) if !v.is_empty() => Self::parse(&v)
                .map(Some)
                .map_err(|e| SecretsError::MasterKey(format!("{MASTER_KEY_ENV}: {e}"))),
            _ => Ok(None),
        }
    }

    /// Reads a key file (base64 or hex text).
    pub fn from_file(path: &Path) -> Result<Self, SecretsError> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| SecretsError::io(path, e))?);
        Self::parse(&text).map_err(|e| SecretsError::MasterKey(format!("{}: {e}", path.display())))
    }

    /// The key from [`MASTER_KEY_ENV`] if set, else the key file, which is
    /// created (mode 0600, random key) when missing.
    pub fn from_env_or_file(path: &Path) -> Result<Self, SecretsError> {
        if let Some(k) = Self::from_env()? {
            return Ok(k);
        }
        if path.exists() {
            return Self::from_file(path);
        }
        let key = Self::generate();
        let text = Zeroizing::new(format!("{}\n", B64.encode(key.0.as_ref())));
        write_atomic(path, text.as_bytes())?;
        Ok(key)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// An encrypted file store: every value sealed with AES-256-GCM under the
/// master key (random nonce, bound to name and version), versioned, written
/// atomically (temporary file, fsync, rename, directory fsync), mode 0600.
/// Concurrent writers, in this process or another, are serialized with a
/// lock file.
#[derive(Debug, Clone)]
pub struct LocalFileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    key: MasterKey,
}

#[derive(Serialize, Deserialize)]
struct FileBody {
    format: String,
    key_check: String,
    secrets: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, Default)]
struct Entry {
    /// Highest version ever written: never reused, even after deletes.
    latest: u64,
    versions: Vec<StoredVersion>,
}

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    version: u64,
    ciphertext: String,
}

fn aad(name: &str, version: u64) -> Vec<u8> {
    format!("{FORMAT}\0{name}\0{version}").into_bytes()
}

impl LocalFileStore {
    /// Opens (or, on first write, creates) the store at `path` with `key`.
    /// An existing file is checked against the key at once.
    pub fn open(path: impl Into<PathBuf>, key: MasterKey) -> Result<Self, SecretsError> {
        let store = Self {
            inner: Arc::new(Inner {
                path: path.into(),
                key,
            }),
        };
        store.inner.read()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, SecretsError> + Send + 'static,
    ) -> Result<T, SecretsError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| SecretsError::Io {
                path: String::new(),
                source: std::io::Error::other(e.to_string()),
            })?
    }
}

impl Inner {
    fn lock(&self) -> Result<File, SecretsError> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SecretsError::io(dir, e))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| SecretsError::io(&lock_path, e))?;
        f.lock().map_err(|e| SecretsError::io(&lock_path, e))?;
        Ok(f)
    }

    fn corrupt(&self, reason: impl Into<String>) -> SecretsError {
        SecretsError::Corrupt {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    /// The file's contents, checked against the key; an empty body when the
    /// file does not exist yet.
    fn read(&self) -> Result<FileBody, SecretsError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileBody {
                    format: FORMAT.into(),
                    key_check: B64.encode(crypto::seal(
                        self.key.bytes(),
                        FORMAT.as_bytes(),
                        KEY_CHECK_AAD,
                    )),
                    secrets: BTreeMap::new(),
                })
            }
            Err(e) => return Err(SecretsError::io(&self.path, e)),
        };
        let len = file
            .metadata()
            .map_err(|e| SecretsError::io(&self.path, e))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(self.corrupt(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let body: FileBody = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| self.corrupt(format!("not a secrets file: {e}")))?;
        if body.format != FORMAT {
            return Err(self.corrupt(format!("unknown format `{}`", body.format)));
        }
        let check = B64
            .decode(&body.key_check)
            .map_err(|_| self.corrupt("key check is not base64"))?;
        crypto::open(self.key.bytes(), &check, KEY_CHECK_AAD, "key check").map_err(|_| {
            SecretsError::WrongKey(format!(
                "the master key does not open {} (check {MASTER_KEY_ENV} or the key file)",
                self.path.display()
            ))
        })?;
        Ok(body)
    }

    fn write(&self, body: &FileBody) -> Result<(), SecretsError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.corrupt(e.to_string()))?;
        write_atomic(&self.path, &bytes)
    }

    fn decrypt(&self, name: &str, v: &StoredVersion) -> Result<SecretValue, SecretsError> {
        let ct = B64
            .decode(&v.ciphertext)
            .map_err(|_| self.corrupt(format!("`{name}` version {}: not base64", v.version)))?;
        let pt = crypto::open(
            self.key.bytes(),
            &ct,
            &aad(name, v.version),
            &format!("`{name}` version {}", v.version),
        )?;
        Ok(SecretValue::new(pt.to_vec()))
    }
}

/// Writes `bytes` to `path` atomically: a 0600 temporary file beside it,
/// fsync, rename over `path`, fsync of the directory. A crash leaves the old
/// file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| SecretsError::io(&dir, e))?;
    let mut tmp_name = path
        .file_name()
        .ok_or_else(|| SecretsError::io(path, std::io::Error::other("not a file path")))?
        .to_os_string();
    tmp_name.push(format!(".tmp-{}", hex::encode(&crypto::random_key()[..6])));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(SecretsError::io(path, e));
    }
    Ok(())
}

#[async_trait::async_trait]
impl SecretStore for LocalFileStore {
    fn describe(&self) -> String {
        format!("local:{}", self.inner.path.display())
    }

    async fn put(&self, name: &str, value: SecretValue) -> Result<String, SecretsError> {
        validate_name(name)?;
        check_value(&value)?;
        let name = name.to_owned();
        self.blocking(move |inner| {
            let _lock = inner.lock()?;
            let mut body = inner.read()?;
            let entry = body.secrets.entry(name.clone()).or_default();
            let version = entry.latest + 1;
            let ct = crypto::seal(inner.key.bytes(), value.expose(), &aad(&name, version));
            entry.latest = version;
            entry.versions.push(StoredVersion {
                version,
                ciphertext: B64.encode(ct),
            });
            if entry.versions.len() > KEPT_VERSIONS {
                let excess = entry.versions.len() - KEPT_VERSIONS;
                entry.versions.drain(..excess);
            }
            inner.write(&body)?;
            Ok(version.to_string())
        })
        .await
    }

    async fn get(&self, name: &str, version: Option<&str>) -> Result<Secret, SecretsError> {
        validate_name(name)?;
        let name = name.to_owned();
        let version = version.map(str::to_owned);
        self.blocking(move |inner| {
            let body = inner.read()?;
            let not_found = || SecretsError::NotFound {
                name: name.clone(),
                version: version.clone(),
            };
            let entry = body.secrets.get(&name).ok_or_else(not_found)?;
            let stored = match &version {
                None => entry.versions.last(),
                Some(v) => {
                    let v: u64 = v.parse().map_err(|_| not_found())?;
                    entry.versions.iter().find(|s| s.version == v)
                }
            }
            .ok_or_else(not_found)?;
            Ok(Secret {
                value: inner.decrypt(&name, stored)?,
                version: stored.version.to_string(),
                name,
            })
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SecretsError> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| {
            Ok(inner
                .read()?
                .secrets
                .into_iter()
                .filter(|(n, e)| n.starts_with(&prefix) && !e.versions.is_empty())
                .map(|(n, _)| n)
                .collect())
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), SecretsError> {
        validate_name(name)?;
        let name = name.to_owned();
        self.blocking(move |inner| {
            let _lock = inner.lock()?;
            let mut body = inner.read()?;
            match body.secrets.get_mut(&name) {
                Some(e) if !e.versions.is_empty() => {
                    // Keep the counter so a later put never reuses a version.
                    e.versions.clear();
                }
                _ => {
                    return Err(SecretsError::NotFound {
                        name,
                        version: None,
                    })
                }
            }
            inner.write(&body)
        })
        .await
    }
}
