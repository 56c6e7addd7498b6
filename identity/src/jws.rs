//! JWS signatures: the asymmetric algorithms Palisade accepts, an issuer's
//! published keys parsed once per key-set fetch, and signature checks with
//! `ring`.
//!
//! `openidconnect` still discovers the issuer and fetches its key set; the
//! per-token work is done here because its verifier parses the typed claims
//! and rebuilds the key on every token and checks signatures with pure-Rust
//! RSA and ECDSA, which cost ~200 µs per token. `ring`'s assembly, with the
//! key material decoded once, brings that to the cost of the signature
//! itself.

use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

/// An asymmetric JWS algorithm (RFC 7518, RFC 8037). HMAC and `none` are
/// not algorithms Palisade accepts, so they have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum JwsAlg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl JwsAlg {
    /// The algorithm named `s` (case-sensitive, as RFC 7515 says).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// Public key material, decoded from its JWK.
enum Material {
    /// Big-endian modulus and exponent.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point (`04 || x || y`).
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// One signing key an issuer publishes.
pub(crate) struct JwsKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it pins one.
    alg: Option<JwsAlg>,
    material: Material,
}

impl JwsKey {
    /// The key in `jwk`, or why it cannot verify signatures. Keys for
    /// encryption (`use: enc`) and of unknown types are not signing keys.
    pub(crate) fn from_jwk(jwk: &Value) -> Result<Self, String> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let s = text(name).ok_or_else(|| format!("no {name}"))?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| format!("{name} is not base64url"))
        };
        if let Some(u) = text("use") {
            if u != "sig" {
                return Err(format!("use {u:?}"));
            }
        }
        if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array) {
            if !ops.iter().any(|o| o.as_str() == Some("verify")) {
                return Err("key_ops without verify".into());
            }
        }
        let alg = match text("alg") {
            None => None,
            Some(a) => Some(JwsAlg::parse(a).ok_or_else(|| format!("alg {a:?}"))?),
        };
        let point = |len: usize| -> Result<Vec<u8>, String> {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != len || y.len() != len {
                return Err("coordinates of the wrong length".into());
            }
            Ok([&[4u8][..], &x, &y].concat())
        };
        let material = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => {
                let strip = |v: Vec<u8>| {
                    let skip = v.iter().take_while(|b| **b == 0).count();
                    v[skip..].to_vec()
                };
                Material::Rsa {
                    n: strip(bytes("n")?),
                    e: strip(bytes("e")?),
                }
            }
            (Some("EC"), Some("P-256")) => Material::P256(point(32)?),
            (Some("EC"), Some("P-384")) => Material::P384(point(48)?),
            (Some("OKP"), Some("Ed25519")) => {
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err("x of the wrong length".into());
                }
                Material::Ed25519(x)
            }
            (kty, crv) => return Err(format!("kty {kty:?} crv {crv:?}")),
        };
        Ok(Self {
            kid: text("kid").map(str::to_owned),
            alg,
            material,
        })
    }

    /// The key's id.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key can have made an `alg` signature.
    pub(crate) fn fits(&self, alg: JwsAlg) -> bool {
        use JwsAlg as A;
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        matches!(
            (&self.material, alg),
            (
                Material::Rsa { .. },
                A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512
            ) | (Material::P256(_), A::Es256)
                | (Material::P384(_), A::Es384)
                | (Material::Ed25519(_), A::EdDsa)
        )
    }

    /// Checks `sig` over `input` (the token's `header.payload`). The caller
    /// has checked that the key [`fits`](Self::fits) `alg`.
    pub(crate) fn verify(&self, alg: JwsAlg, input: &[u8], sig: &[u8]) -> Result<(), String> {
        use JwsAlg as A;
        let ok = match (&self.material, alg) {
            (Material::Rsa { n, e }, _) => {
                let params: &signature::RsaParameters = match alg {
                    A::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    A::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    A::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    A::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    A::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    A::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(format!("{} with an RSA key", alg.name())),
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, input, sig)
                    .is_ok()
            }
            (Material::P256(p), A::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p)
                    .verify(input, sig)
                    .is_ok()
            }
            (Material::P384(p), A::Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, p)
                    .verify(input, sig)
                    .is_ok()
            }
            (Material::Ed25519(x), A::EdDsa) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(input, sig)
                .is_ok(),
            _ => return Err(format!("{} does not fit the key", alg.name())),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{} signature does not verify", alg.name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    #[test]
    fn algorithm_names_are_exact() {
        for a in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            assert_eq!(JwsAlg::parse(a).unwrap().name(), a);
        }
        for a in ["HS256", "none", "rs256", "ES256K", ""] {
            assert!(JwsAlg::parse(a).is_none(), "{a}");
        }
    }

    #[test]
    fn ecdsa_and_eddsa_keys_verify_their_own_signatures_only() {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": b64(&point[1..33]), "y": b64(&point[33..])});
        let key = JwsKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.kid(), Some("k1"));
        assert!(key.fits(JwsAlg::Es256));
        assert!(!key.fits(JwsAlg::Rs256) && !key.fits(JwsAlg::Es384));
        let sig = pair.sign(&rng, b"h.p").unwrap();
        key.verify(JwsAlg::Es256, b"h.p", sig.as_ref()).unwrap();
        assert!(key.verify(JwsAlg::Es256, b"h.q", sig.as_ref()).is_err());
        assert!(key.verify(JwsAlg::Rs256, b"h.p", sig.as_ref()).is_err());

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "x": b64(ed.public_key().as_ref())});
        let key = JwsKey::from_jwk(&jwk).unwrap();
        assert!(key.fits(JwsAlg::EdDsa) && key.kid().is_none());
        key.verify(JwsAlg::EdDsa, b"h.p", ed.sign(b"h.p").as_ref())
            .unwrap();
        assert!(key
            .verify(JwsAlg::EdDsa, b"h.p", ed.sign(b"other").as_ref())
            .is_err());
    }

    #[test]
    fn keys_that_cannot_sign_are_refused() {
        let x = b64(&[1; 32]);
        for (jwk, why) in [
            (
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": x, "use": "enc"}),
                "use",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": x, "key_ops": ["encrypt"]}),
                "key_ops",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": b64(&[1; 31])}),
                "wrong length",
            ),
            (
                json!({"kty": "EC", "crv": "secp256k1", "x": x, "y": x}),
                "crv",
            ),
            (json!({"kty": "oct", "k": x}), "kty"),
            (json!({"kty": "RSA", "e": "AQAB"}), "no n"),
            (json!({"kty": "RSA", "n": "!!", "e": "AQAB"}), "base64url"),
            (
                json!({"kty": "RSA", "n": x, "e": "AQAB", "alg": "HS256"}),
                "alg",
            ),
        ] {
            let e = JwsKey::from_jwk(&jwk).err().unwrap();
            assert!(e.contains(why), "{jwk}: {e}");
        }
        let pinned = json!({"kty": "RSA", "n": x, "e": "AQAB", "alg": "PS256"});
        let key = JwsKey::from_jwk(&pinned).unwrap();
        assert!(key.fits(JwsAlg::Ps256) && !key.fits(JwsAlg::Rs256));
    }
}
