//! [`TokenVerifier`]: routes a token to its issuer, verifies it, maps it.

use std::collections::HashMap;
use std::sync::Arc;

use palisade_policy::{Authentication, TokenAuthenticator, Unauthenticated, VerifiedPrincipal};
use serde_json::{Map, Value};

use crate::issuer::Issuer;
use crate::{IdentityConfig, IdentityError, Rejection, TokenKind};

/// A token whose signature and claims have been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The issuer that signed it.
    pub issuer: String,
    /// Access token or ID token.
    pub kind: TokenKind,
    /// All its claims.
    pub claims: Map<String, Value>,
}

/// Verifies OIDC ID tokens and JWT access tokens from the configured
/// issuers and maps them to Cedar principals.
pub struct TokenVerifier {
    issuers: HashMap<String, Arc<Issuer>>,
    max_token_bytes: usize,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for the configured issuers. Nothing is fetched yet: each
    /// issuer's discovery document and keys are fetched on first use (so a
    /// server starts while an issuer is down, and refuses its tokens until
    /// it is back).
    pub fn new(config: &IdentityConfig) -> Result<Self, IdentityError> {
        config.validate()?;
        let issuers = config
            .issuers
            .iter()
            .map(|c| {
                let issuer = Issuer::new(c.clone(), config.verified_token_cache)?;
                Ok((c.issuer.clone(), Arc::new(issuer)))
            })
            .collect::<Result<_, IdentityError>>()?;
        Ok(Self {
            issuers,
            max_token_bytes: config.max_token_bytes,
        })
    }

    /// Verifies `token`: size, structure, issuer, algorithm, key, signature,
    /// `iss`, `aud`, `exp`, `nbf`, `iat`.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Rejection> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Rejection::Missing);
        }
        if token.len() > self.max_token_bytes {
            return Err(Rejection::Oversized {
                len: token.len(),
                max: self.max_token_bytes,
            });
        }
        let u = crate::jwt::peek(token)?;
        let iss = match u.claims.get("iss") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(Rejection::UnknownIssuer(String::new())),
        };
        let issuer = self
            .issuers
            .get(iss)
            .ok_or_else(|| Rejection::UnknownIssuer(iss.chars().take(256).collect()))?;
        match issuer.verify(token, &u).await {
            Ok(()) => {}
            // Signed with another configured issuer's key: say so.
            Err(Rejection::UnknownKey { kid, .. }) if !kid.is_empty() => {
                let other = self
                    .issuers
                    .values()
                    .find(|o| o.config.issuer != iss && o.knows_kid(&kid));
                return Err(match other {
                    Some(o) => Rejection::WrongIssuer(format!(
                        "claims issuer {iss} but is signed with key {kid} of issuer {}",
                        o.config.issuer
                    )),
                    None => Rejection::UnknownKey {
                        kid,
                        issuer: iss.to_owned(),
                    },
                });
            }
            Err(e) => return Err(e),
        }
        Ok(VerifiedToken {
            issuer: issuer.config.issuer.clone(),
            kind: u.kind,
            claims: u.claims,
        })
    }

    /// The principal a verified token stands for.
    pub fn principal(&self, token: &VerifiedToken) -> Result<VerifiedPrincipal, Rejection> {
        let issuer = self
            .issuers
            .get(&token.issuer)
            .ok_or_else(|| Rejection::UnknownIssuer(token.issuer.clone()))?;
        crate::principal::from_token(&issuer.config, token)
    }

    /// Verifies and maps `token`; a refusal is logged with its precise reason.
    pub async fn authenticate(&self, token: &str) -> Result<VerifiedPrincipal, Rejection> {
        let result = match self.verify(token).await {
            Ok(t) => self.principal(&t),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::info!(reason = e.code(), detail = %e, "token refused");
        }
        result
    }

    /// How many times an issuer's discovery document or key set was fetched
    /// (0 for an unknown issuer).
    pub fn key_fetches(&self, issuer: &str) -> u64 {
        self.issuers.get(issuer).map_or(0, |i| i.fetches())
    }
}

impl TokenAuthenticator for TokenVerifier {
    fn authenticate<'a>(&'a self, token: &'a str) -> Authentication<'a> {
        Box::pin(async move {
            TokenVerifier::authenticate(self, token)
                .await
                .map_err(|_| Unauthenticated)
        })
    }
}
