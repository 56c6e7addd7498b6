//! The platform's signing key, as the compliance crate uses it: scan records
//! and evidence bundles are signed with the data directory's Ed25519 key
//! (the decision log's key, [`palisade_policy::decision_log::AuditKeys`]).

use ring::signature::{UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

/// Something that signs with an Ed25519 key.
pub trait Signer {
    /// The public key (32 bytes).
    fn public_key(&self) -> Vec<u8>;
    /// An Ed25519 signature over `message`.
    fn sign(&self, message: &[u8]) -> Vec<u8>;
    /// A short key id: the first 8 bytes of the public key's SHA-256, hex.
    fn key_id(&self) -> String {
        key_id(&self.public_key())
    }
}

impl Signer for palisade_policy::decision_log::AuditKeys {
    fn public_key(&self) -> Vec<u8> {
        palisade_policy::decision_log::AuditKeys::public_key(self).to_vec()
    }
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        palisade_policy::decision_log::AuditKeys::sign(self, message)
    }
}

/// The key id of a public key.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// Whether `signature` is `public_key`'s Ed25519 signature over `message`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}
