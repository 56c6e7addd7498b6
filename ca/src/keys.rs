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

/// An ECDSA CA key in RustCrypto form: signs with RFC 6979 nonces.
enum EcdsaKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A CA private key whose signatures are deterministic: ECDSA with RFC 6979
/// nonces (RustCrypto `p256`/`p384`), Ed25519 by construction. A certificate
/// is then a function of its to-be-signed bytes and the key, so one whose
/// completion a crash lost is re-derived, byte for byte, from the ledger.
///
/// The secret scalar is zeroed on drop (RustCrypto's `SigningKey` and rcgen's
/// `KeyPair` with the `zeroize` feature); it is never printed.
pub(crate) struct CaKey {
    /// Public key and algorithm; signs Ed25519 (deterministic in ring).
    pair: KeyPair,
    /// The same ECDSA key, for deterministic signatures.
    ecdsa: Option<EcdsaKey>,
}

impl CaKey {
    /// Loads a CA key from its PKCS#8 DER, checking that both
    /// representations hold the same key.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, CaError> {
        use p256::pkcs8::DecodePrivateKey as _;
        let pair = key_from_pkcs8(der)?;
        let bad = |e: &dyn std::fmt::Display| CaError::Crypto(format!("cannot load CA key: {e}"));
        let (ecdsa, public) = match KeyAlgorithm::of(pair.algorithm()) {
            Some(KeyAlgorithm::P256) => {
                let k = p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                let public = k.verifying_key().to_sec1_bytes();
                (Some(EcdsaKey::P256(k)), Some(public))
            }
            Some(KeyAlgorithm::P384) => {
                let k = p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                let public = k.verifying_key().to_sec1_bytes();
                (Some(EcdsaKey::P384(k)), Some(public))
            }
            Some(KeyAlgorithm::Ed25519) => (None, None),
            None => return Err(CaError::Crypto("unsupported CA key algorithm".into())),
        };
        if public.is_some_and(|p| *p != *pair.public_key_raw()) {
            return Err(bad(&"the ECDSA key does not match its public key"));
        }
        Ok(Self { pair, ecdsa })
    }

    /// The key pair (public key, algorithm).
    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.pair.algorithm()
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer as _;
        Ok(match &self.ecdsa {
            Some(EcdsaKey::P256(k)) => {
                let sig: p256::ecdsa::DerSignature = k.sign(msg);
                sig.as_bytes().to_vec()
            }
            Some(EcdsaKey::P384(k)) => {
                let sig: p384::ecdsa::DerSignature = k.sign(msg);
                sig.as_bytes().to_vec()
            }
            None => self.pair.sign(msg)?,
        })
    }
}
