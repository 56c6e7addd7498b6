//! Why a request was denied, and what can go wrong setting up.

use palisade_identity::Rejection;

/// Why a request was denied. The reason goes to the decision log and the
/// server log; the caller only gets a short body naming the class
/// ([`DenyReason::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// No credential from any configured principal source.
    #[error("no identity: {0}")]
    NoIdentity(String),
    /// A credential was presented and refused.
    #[error("credential refused ({code}): {0}", code = .0.code())]
    BadCredential(Rejection),
    /// The request carries no HTTP attributes, or they do not map to a
    /// Cedar request (unknown method, path not in normal form, no host).
    #[error("request cannot be mapped: {0}")]
    Unmappable(String),
    /// Headers, path and host over the configured bounds.
    #[error("request too large: {0}")]
    TooLarge(String),
    /// The policies were evaluated and did not allow the request (or failed:
    /// an evaluation error is a deny).
    #[error("denied by policy{}", errors_suffix(.0))]
    Policy(Vec<String>),
}

impl DenyReason {
    /// The HTTP status the downstream gets: 401 without a valid identity,
    /// 403 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoIdentity(_) | Self::BadCredential(_) => 401,
            Self::Unmappable(_) | Self::TooLarge(_) | Self::Policy(_) => 403,
        }
    }

    /// A short, stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoIdentity(_) => "no_identity",
            Self::BadCredential(_) => "bad_credential",
            Self::Unmappable(_) => "unmappable",
            Self::TooLarge(_) => "too_large",
            Self::Policy(_) => "policy",
        }
    }

    /// The body the downstream gets: nothing that helps tune an attack.
    pub fn public_body(&self) -> &'static str {
        match self.status() {
            401 => "unauthenticated: invalid or missing credentials\n",
            _ => "forbidden\n",
        }
    }
}

fn errors_suffix(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

/// A configuration or setup error.
#[derive(Debug, thiserror::Error)]
pub enum ExtAuthzError {
    /// The configuration is invalid.
    #[error("ext_authz configuration: {0}")]
    Config(String),
    /// A listener cannot be bound.
    #[error("ext_authz cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}
