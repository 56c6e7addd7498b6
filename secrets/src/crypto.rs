//! AES-256-GCM with random 96-bit nonces: `nonce || ciphertext || tag`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::SecretsError;

pub(crate) const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` under `key` with a fresh random nonce, binding `aad`.
pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of a bounded message cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts what [`seal`] produced; a wrong key, wrong `aad` or any
/// tampering is `WrongKey`.
pub(crate) fn open(
    key: &[u8; 32],
    sealed: &[u8],
    aad: &[u8],
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(SecretsError::WrongKey(format!(
            "{what}: ciphertext too short"
        )));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| {
            SecretsError::WrongKey(format!(
                "{what}: authentication failed (wrong key, or the data was altered)"
            ))
        })
}

/// 32 random bytes.
pub(crate) fn random_key() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}
