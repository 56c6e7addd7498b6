//! Key algorithms and private-key handling.

use rcgen::{KeyPair, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::CaError;

/// The key algorithm of a CA or a generated leaf key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    #[default]
    P256,
    /// ECDSA P-384 with SHA-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    pub(crate) fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Self::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    pub(crate) fn of(alg: &SignatureAlgorithm) -> Option<Self> {
        [Self::P256, Self::P384, Self::Ed25519]
            .into_iter()
            .find(|k| k.rcgen() == alg)
    }

    /// Generates a key pair.
    pub fn generate(self) -> Result<KeyPair, CaError> {
        Ok(KeyPair::generate_for(self.rcgen())?)
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "p256" | "ecdsap256" => Ok(Self::P256),
            "p384" | "ecdsap384" => Ok(Self::P384),
            "ed25519" => Ok(Self::Ed25519),
            _ => Err(CaError::BadRequest(format!(
                "unknown key algorithm `{s}`: expected p256, p384 or ed25519"
            ))),
        }
    }
}

/// A private key in PKCS#8 PEM, zeroed on drop and never printed.
pub struct PrivateKeyPem(pub(crate) Zeroizing<String>);

impl PrivateKeyPem {
    /// The PEM text. Write it only to a private file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem([REDACTED])")
    }
}

pub(crate) fn key_pem(key: &KeyPair) -> PrivateKeyPem {
    PrivateKeyPem(Zeroizing::new(key.serialize_pem()))
}

pub(crate) fn key_from_pkcs8(der: &[u8]) -> Result<KeyPair, CaError> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec());
    KeyPair::try_from(&der).map_err(|e| CaError::Crypto(format!("cannot load CA key: {e}")))
}

pub(crate) fn key_from_pem(pem: &str) -> Result<KeyPair, CaError> {
    KeyPair::from_pem(pem).map_err(|e| CaError::Crypto(format!("cannot load key: {e}")))
}
