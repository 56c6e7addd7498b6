//! Palisade's secrets layer.
//!
//! One interface, [`SecretStore`] (versioned get/put/list/delete of named
//! values), with three backends chosen by URL ([`open`]):
//!
//! | URL | Backend |
//! |---|---|
//! | `local:PATH` | [`LocalFileStore`]: an AES-256-GCM encrypted file (the embedded default) |
//! | `openbao://HOST:PORT/MOUNT`, `vault+http://…`, `vault+https://…` | [`VaultKv`]: OpenBao / Vault KV v2 via `vaultrs` |
//! | `aws-sm://REGION[?endpoint=URL&prefix=P]` | `AwsSecretsManager` (cargo feature `aws`, on by default) |
//!
//! and envelope encryption ([`seal`]/[`open_sealed`]) under a key-encryption
//! key ([`KeyWrapper`]): [`LocalKek`] (derived from the local master key) or
//! [`TransitKek`] (OpenBao/Vault Transit: the KEK never leaves the server).
//! The CA seals its private keys this way.
//!
//! # Design
//! - Values are [`SecretValue`]s: zeroed on drop, redacted in `Debug`. Errors
//!   never carry values.
//! - Names are portable across backends (see [`validate_name`]).
//! - Writes are all-or-nothing: the local store writes a temporary file,
//!   fsyncs, renames and fsyncs the directory; remote stores write one
//!   version per request. A wrong key or an unreachable backend is an error
//!   that says which, never a silent empty answer.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), palisade_secrets::SecretsError> {
//! use palisade_secrets::{LocalFileStore, MasterKey, SecretStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = LocalFileStore::open(dir.path().join("secrets.json"), MasterKey::generate())?;
//! let v1 = store.put("db/password", "s3cret".into()).await?;
//! assert_eq!(v1, "1");
//! let secret = store.get("db/password", None).await?;
//! assert_eq!(secret.value.expose(), b"s3cret");
//! assert_eq!(store.list("db/").await?, ["db/password"]);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

#[cfg(feature = "aws")]
mod aws;
mod crypto;
mod envelope;
mod error;
mod local;
mod url;
mod value;
mod vault;

#[cfg(feature = "aws")]
pub use aws::{AwsOptions, AwsSecretsManager};
pub use envelope::{open as open_sealed, seal, KeyWrapper, LocalKek, SealedBlob};
pub use error::SecretsError;
pub use local::{write_atomic, LocalFileStore, MasterKey, KEPT_VERSIONS, MASTER_KEY_ENV};
pub use url::{open, open_key_wrapper, OpenOptions};
pub use value::{validate_name, Secret, SecretValue, MAX_NAME_LEN, MAX_VALUE_LEN};
pub use vault::{TransitKek, VaultKv, VaultOptions};

/// A store of named, versioned secrets.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// Where the secrets live (URL-like, never with credentials).
    fn describe(&self) -> String;

    /// Writes a new version of `name` and returns its version identifier.
    async fn put(&self, name: &str, value: SecretValue) -> Result<String, SecretsError>;

    /// Reads the latest version, or the given one.
    async fn get(&self, name: &str, version: Option<&str>) -> Result<Secret, SecretsError>;

    /// Names of the secrets whose name starts with `prefix` (`""` for all),
    /// sorted. Values are not read.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, SecretsError>;

    /// Deletes every version of `name`; `NotFound` if there is none.
    async fn delete(&self, name: &str) -> Result<(), SecretsError>;
}
