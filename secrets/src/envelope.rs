//! Envelope encryption: data sealed under a fresh data key, the data key
//! wrapped by a key-encryption key (KEK) that may never leave its backend.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto;
use crate::{MasterKey, SecretsError};

/// A key-encryption key: wraps and unwraps 256-bit data keys.
#[async_trait::async_trait]
pub trait KeyWrapper: Send + Sync + std::fmt::Debug {
    /// Where the KEK lives (`local`, `transit:http://.../transit/keys/NAME`), for
    /// error messages and the sealed blob's header. Never secret.
    fn describe(&self) -> String;

    /// Wraps a data key.
    async fn wrap(&self, data_key: &[u8; 32]) -> Result<Vec<u8>, SecretsError>;

    /// Unwraps a data key wrapped by this KEK; `WrongKey` if it was not.
    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, SecretsError>;
}

/// A KEK derived from the local master key (for the embedded setup).
#[derive(Debug, Clone)]
pub struct LocalKek {
    key: MasterKey,
}

impl LocalKek {
    /// Derives the KEK from `master` (domain-separated from the secrets file key).
    pub fn new(master: &MasterKey) -> Self {
        let mut h = Sha256::new();
        h.update(b"palisade-local-kek/1\0");
        h.update(master.bytes());
        let derived: [u8; 32] = h.finalize().into();
        Self {
            key: MasterKey::parse(&hex::encode(derived)).expect("32 bytes"),
        }
    }
}

#[async_trait::async_trait]
impl KeyWrapper for LocalKek {
    fn describe(&self) -> String {
        "local".into()
    }

    async fn wrap(&self, data_key: &[u8; 32]) -> Result<Vec<u8>, SecretsError> {
        Ok(crypto::seal(self.key.bytes(), data_key, b"palisade-dek/1"))
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
        let pt = crypto::open(self.key.bytes(), wrapped, b"palisade-dek/1", "data key").map_err(
            |_| SecretsError::WrongKey("the local master key does not unwrap this data key".into()),
        )?;
        to_key(&pt)
    }
}

pub(crate) fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| {
        SecretsError::WrongKey(format!("unwrapped data key has {} bytes", bytes.len()))
    })?;
    Ok(Zeroizing::new(arr))
}

/// Data sealed with [`seal`]: JSON-serializable, safe to store anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBlob {
    /// `palisade-envelope/1`.
    pub format: String,
    /// The KEK that wrapped the data key ([`KeyWrapper::describe`]).
    pub kek: String,
    /// The wrapped data key, base64.
    pub wrapped_key: String,
    /// `nonce || AES-256-GCM(ciphertext || tag)` under the data key, base64.
    pub ciphertext: String,
}

const ENVELOPE_FORMAT: &str = "palisade-envelope/1";

/// Seals `plaintext` under a fresh data key wrapped by `kek`. `context`
/// (for example `ca/intermediate-2`) is bound as associated data: the blob
/// only opens under the same context.
pub async fn seal(
    kek: &dyn KeyWrapper,
    plaintext: &[u8],
    context: &str,
) -> Result<SealedBlob, SecretsError> {
    let dek = crypto::random_key();
    let wrapped = kek.wrap(&dek).await?;
    let ct = crypto::seal(&dek, plaintext, &envelope_aad(context));
    Ok(SealedBlob {
        format: ENVELOPE_FORMAT.into(),
        kek: kek.describe(),
        wrapped_key: B64.encode(wrapped),
        ciphertext: B64.encode(ct),
    })
}

/// Opens a blob sealed with [`seal`] under the same `context`.
pub async fn open(
    kek: &dyn KeyWrapper,
    blob: &SealedBlob,
    context: &str,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let corrupt = |reason: &str| SecretsError::Corrupt {
        path: format!("sealed blob `{context}`"),
        reason: reason.into(),
    };
    if blob.format != ENVELOPE_FORMAT {
        return Err(corrupt("unknown envelope format"));
    }
    let wrapped = B64
        .decode(&blob.wrapped_key)
        .map_err(|_| corrupt("wrapped key is not base64"))?;
    let ct = B64
        .decode(&blob.ciphertext)
        .map_err(|_| corrupt("ciphertext is not base64"))?;
    let dek = kek.unwrap(&wrapped).await.map_err(|e| match e {
        SecretsError::WrongKey(m) => SecretsError::WrongKey(format!(
            "{m} (sealed under KEK `{}`, opened with `{}`)",
            blob.kek,
            kek.describe()
        )),
        other => other,
    })?;
    crypto::open(&dek, &ct, &envelope_aad(context), context)
}

fn envelope_aad(context: &str) -> Vec<u8> {
    format!("{ENVELOPE_FORMAT}\0{context}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_round_trip_and_failures() {
        let kek = LocalKek::new(&MasterKey::generate());
        let blob = seal(&kek, b"private key", "ca/root").await.unwrap();
        assert_eq!(
            &open(&kek, &blob, "ca/root").await.unwrap()[..],
            b"private key"
        );
        assert!(!blob.ciphertext.contains("private"));
        // Wrong context, wrong KEK, tampering: all refused.
        assert!(matches!(
            open(&kek, &blob, "ca/other").await,
            Err(SecretsError::WrongKey(_))
        ));
        let other = LocalKek::new(&MasterKey::generate());
        let err = open(&other, &blob, "ca/root").await.unwrap_err();
        assert!(matches!(err, SecretsError::WrongKey(_)), "{err}");
        let mut t = blob.clone();
        let mut ct = B64.decode(&t.ciphertext).unwrap();
        ct[20] ^= 1;
        t.ciphertext = B64.encode(ct);
        assert!(open(&kek, &t, "ca/root").await.is_err());
    }
}
