//! Why a credential was refused, and what can go wrong in configuration.

/// Why a token or certificate was refused. The reason is logged; callers
/// outside only ever see a generic 401 (see [`Rejection::public_message`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No credential was presented.
    #[error("no credential presented")]
    Missing,
    /// The token is longer than the configured limit.
    #[error("token of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a compact JWS (three base64url parts with JSON header and claims).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg: none`: an unsigned token.
    #[error("unsigned token (alg none)")]
    AlgNone,
    /// An HMAC algorithm (HS256/384/512) where the issuer signs with public keys.
    #[error("HMAC algorithm {0} is never accepted against an issuer's public keys")]
    HmacAlgorithm(String),
    /// A signature algorithm outside the issuer's allowlist.
    #[error("algorithm {alg} is not allowed for issuer {issuer}")]
    DisallowedAlgorithm {
        /// The token's algorithm.
        alg: String,
        /// The issuer.
        issuer: String,
    },
    /// The `iss` claim names no configured issuer (or is missing).
    #[error("unknown issuer {0:?}")]
    UnknownIssuer(String),
    /// The issuer's discovery document or key set cannot be fetched.
    #[error("issuer {issuer} unavailable: {reason}")]
    IssuerUnavailable {
        /// The issuer.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// No key of the issuer matches the token's `kid` (after a refresh, or
    /// while refreshes are rate-limited).
    #[error("no key {kid:?} at issuer {issuer}")]
    UnknownKey {
        /// The token's key id.
        kid: String,
        /// The issuer.
        issuer: String,
    },
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The issuer claim does not match the issuer whose key verified it.
    #[error("wrong issuer: {0}")]
    WrongIssuer(String),
    /// No configured audience in `aud`, or an untrusted extra audience.
    #[error("wrong audience: {0}")]
    WrongAudience(String),
    /// `exp` has passed (beyond the leeway).
    #[error("expired: {0}")]
    Expired(String),
    /// `nbf` is in the future (beyond the leeway).
    #[error("not yet valid: {0}")]
    NotYetValid(String),
    /// `iat` is in the future (beyond the leeway).
    #[error("issued in the future: {0}")]
    IssuedInFuture(String),
    /// An access token where only ID tokens are accepted, or the reverse;
    /// or a `typ`/`cty`/`crit` header this verifier does not support.
    #[error("unsupported token type: {0}")]
    UnsupportedType(String),
    /// The claims do not map to a principal (missing id claim, bad group).
    #[error("cannot map to a principal: {0}")]
    Unmappable(String),
    /// A client certificate without exactly one valid SPIFFE URI SAN, or
    /// outside the accepted trust domains.
    #[error("client certificate refused: {0}")]
    BadCertificate(String),
}

impl Rejection {
    /// A short, stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Oversized { .. } => "oversized",
            Self::Malformed(_) => "malformed",
            Self::AlgNone => "alg_none",
            Self::HmacAlgorithm(_) => "hmac_alg",
            Self::DisallowedAlgorithm { .. } => "disallowed_alg",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::IssuerUnavailable { .. } => "issuer_unavailable",
            Self::UnknownKey { .. } => "unknown_key",
            Self::BadSignature(_) => "bad_signature",
            Self::WrongIssuer(_) => "wrong_issuer",
            Self::WrongAudience(_) => "wrong_audience",
            Self::Expired(_) => "expired",
            Self::NotYetValid(_) => "not_yet_valid",
            Self::IssuedInFuture(_) => "issued_in_future",
            Self::UnsupportedType(_) => "unsupported_type",
            Self::Unmappable(_) => "unmappable",
            Self::BadCertificate(_) => "bad_certificate",
        }
    }

    /// What the caller is told, whatever the reason: nothing an attacker
    /// could use to tune a forgery.
    pub fn public_message(&self) -> &'static str {
        "invalid or missing credentials"
    }
}

/// A configuration or setup error.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The configuration is invalid.
    #[error("identity configuration: {0}")]
    Config(String),
}
