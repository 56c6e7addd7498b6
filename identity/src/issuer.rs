//! One trusted issuer: discovery, its key set (cached, refreshed on an
//! unknown `kid` at most once per `jwks_min_refresh_seconds`, one fetch at a
//! time), and the `openidconnect` verifiers built from it.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    reqwest, Audience, ClaimsVerificationError, ClientId, IssuerUrl, JsonWebKey as _,
    JsonWebKeySetUrl, JsonWebTokenType, Nonce, SignatureVerificationError,
};
use serde_json::Value;

use crate::jwt::{asymmetric_alg, Unverified};
use crate::{IdentityError, IssuerConfig, Rejection, TokenKind};

/// Keys of one fetch and the verifiers built on them.
struct KeySet {
    kids: HashSet<String>,
    /// One verifier per (kind, audience).
    verifiers: HashMap<(TokenKind, String), CoreIdTokenVerifier<'static>>,
}

struct Refresh {
    last_attempt: Option<Instant>,
    jwks_uri: Option<JsonWebKeySetUrl>,
    last_error: Option<String>,
}

pub(crate) struct Issuer {
    pub(crate) config: IssuerConfig,
    url: IssuerUrl,
    algs: HashSet<CoreJwsSigningAlgorithm>,
    http: reqwest::Client,
    keys: ArcSwapOption<KeySet>,
    refresh: tokio::sync::Mutex<Refresh>,
    fetches: AtomicU64,
}

const IAT_MARK: &str = "iat in the future";

impl Issuer {
    pub(crate) fn new(config: IssuerConfig) -> Result<Self, IdentityError> {
        config.validate()?;
        let url = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| IdentityError::Config(format!("issuer {:?}: {e}", config.issuer)))?;
        let http = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.fetch_timeout_ms))
            .build()
            .map_err(|e| IdentityError::Config(format!("HTTP client: {e}")))?;
        let algs = config
            .algorithms
            .iter()
            .filter_map(|a| asymmetric_alg(a))
            .collect();
        Ok(Self {
            config,
            url,
            algs,
            http,
            keys: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::new(Refresh {
                last_attempt: None,
                jwks_uri: None,
                last_error: None,
            }),
            fetches: AtomicU64::new(0),
        })
    }

    /// Whether a key with this id is among this issuer's cached keys.
    pub(crate) fn knows_kid(&self, kid: &str) -> bool {
        self.keys
            .load()
            .as_ref()
            .is_some_and(|k| k.kids.contains(kid))
    }

    /// How many times discovery or the key set was fetched.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn build_keys(&self, jwks: CoreJsonWebKeySet) -> KeySet {
        let kids = jwks
            .keys()
            .iter()
            .filter_map(|k| k.key_id().map(|id| id.as_str().to_owned()))
            .collect();
        let leeway = chrono::Duration::seconds(self.config.leeway_seconds as i64);
        let mut verifiers = HashMap::new();
        for kind in &self.config.token_types {
            let jose = match kind {
                TokenKind::Access => "application/at+jwt",
                TokenKind::Id => "application/jwt",
            };
            let jose = JsonWebTokenType::new(jose.into())
                .normalize()
                .expect("static JOSE types normalize");
            for aud in &self.config.audiences {
                let trusted: HashSet<String> = self.config.audiences.iter().cloned().collect();
                let v = CoreIdTokenVerifier::new_public_client(
                    ClientId::new(aud.clone()),
                    self.url.clone(),
                    jwks.clone(),
                )
                .set_allowed_algs(self.algs.iter().cloned())
                .set_allowed_jose_types([jose.clone()])
                .set_other_audience_verifier_fn(move |a: &Audience| trusted.contains(a.as_str()))
                .set_time_fn(move || chrono::Utc::now() - leeway)
                .set_issue_time_verifier_fn(move |iat| {
                    if iat > chrono::Utc::now() + leeway {
                        Err(format!("{IAT_MARK}: {iat}"))
                    } else {
                        Ok(())
                    }
                });
                verifiers.insert((*kind, aud.clone()), v);
            }
        }
        KeySet { kids, verifiers }
    }

    fn has_key(keys: &KeySet, kid: Option<&str>) -> bool {
        match kid {
            Some(k) => keys.kids.contains(k),
            // No kid: openidconnect accepts it when exactly one key fits.
            None => true,
        }
    }

    /// The current keys, fetched (discovery first) if there are none yet or
    /// if `kid` is unknown and the rate limit allows a fetch.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Rejection> {
        if let Some(k) = self.keys.load_full() {
            if Self::has_key(&k, kid) {
                return Ok(k);
            }
        }
        let mut st = self.refresh.lock().await;
        // Someone else may have fetched while this task waited.
        let current = self.keys.load_full();
        if let Some(k) = &current {
            if Self::has_key(k, kid) {
                return Ok(k.clone());
            }
        }
        let min = Duration::from_secs(self.config.jwks_min_refresh_seconds);
        let limited = st.last_attempt.is_some_and(|t| t.elapsed() < min);
        if !limited {
            st.last_attempt = Some(Instant::now());
            self.fetches.fetch_add(1, Ordering::Relaxed);
            match self.fetch(&mut st).await {
                Ok(jwks) => {
                    let keys = Arc::new(self.build_keys(jwks));
                    self.keys.store(Some(keys.clone()));
                    st.last_error = None;
                    tracing::info!(issuer = %self.config.issuer, keys = keys.kids.len(), "fetched the issuer's key set");
                    if Self::has_key(&keys, kid) {
                        return Ok(keys);
                    }
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.config.issuer, error = %e, "cannot fetch the issuer's keys");
                    st.last_error = Some(e);
                }
            }
        }
        match (self.keys.load_full(), &st.last_error) {
            (Some(_), _) => Err(Rejection::UnknownKey {
                kid: kid.unwrap_or_default().chars().take(128).collect(),
                issuer: self.config.issuer.clone(),
            }),
            (None, e) => Err(Rejection::IssuerUnavailable {
                issuer: self.config.issuer.clone(),
                reason: e
                    .clone()
                    .unwrap_or_else(|| "key set not fetched yet (rate-limited)".into()),
            }),
        }
    }

    async fn fetch(&self, st: &mut Refresh) -> Result<CoreJsonWebKeySet, String> {
        match &st.jwks_uri {
            Some(uri) => CoreJsonWebKeySet::fetch_async(uri, &self.http)
                .await
                .map_err(|e| format!("key set: {}", error_chain(&e))),
            None => {
                let meta = CoreProviderMetadata::discover_async(self.url.clone(), &self.http)
                    .await
                    .map_err(|e| format!("discovery: {}", error_chain(&e)))?;
                st.jwks_uri = Some(meta.jwks_uri().clone());
                Ok(meta.jwks().clone())
            }
        }
    }

    /// Verifies `token` (already peeked as `u`) against this issuer.
    pub(crate) async fn verify(&self, token: &str, u: &Unverified) -> Result<(), Rejection> {
        let issuer = || self.config.issuer.clone();
        match asymmetric_alg(&u.alg) {
            Some(a) if self.algs.contains(&a) => {}
            _ => {
                return Err(Rejection::DisallowedAlgorithm {
                    alg: u.alg.chars().take(32).collect(),
                    issuer: issuer(),
                })
            }
        }
        if !self.config.token_types.contains(&u.kind) {
            return Err(Rejection::UnsupportedType(format!(
                "{:?} tokens are not accepted from {}",
                u.kind, self.config.issuer
            )));
        }
        let audience = audiences(&u.claims)
            .into_iter()
            .find(|a| self.config.audiences.iter().any(|c| c == a))
            .ok_or_else(|| {
                Rejection::WrongAudience(format!(
                    "none of {:?} is an accepted audience",
                    audiences(&u.claims).iter().take(8).collect::<Vec<_>>()
                ))
            })?
            .to_owned();
        let keys = self.keys_for(u.kid.as_deref()).await?;
        let verifier = keys
            .verifiers
            .get(&(u.kind, audience))
            .ok_or_else(|| Rejection::UnsupportedType(format!("{:?}", u.kind)))?;
        let parsed = CoreIdToken::from_str(token)
            .map_err(|e| Rejection::Malformed(format!("claims: {e}")))?;
        parsed
            .claims(verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(|e| rejection(e, &self.config.issuer, u.kid.as_deref()))?;
        // openidconnect does not look at nbf.
        if let Some(nbf) = u.claims.get("nbf") {
            let nbf = nbf
                .as_i64()
                .ok_or_else(|| Rejection::Malformed("nbf is not an integer".into()))?;
            let now = chrono::Utc::now().timestamp();
            if nbf > now + self.config.leeway_seconds as i64 {
                return Err(Rejection::NotYetValid(format!("nbf {nbf}, now {now}")));
            }
        }
        Ok(())
    }
}

fn audiences(claims: &serde_json::Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn rejection(e: ClaimsVerificationError, issuer: &str, kid: Option<&str>) -> Rejection {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match e {
        C::Expired(m) if m.starts_with(IAT_MARK) => Rejection::IssuedInFuture(m),
        C::Expired(m) => Rejection::Expired(m),
        C::InvalidAudience(m) => Rejection::WrongAudience(m),
        C::InvalidIssuer(m) => Rejection::WrongIssuer(m),
        C::Unsupported(m) => Rejection::UnsupportedType(m),
        C::SignatureVerification(S::NoSignature) => Rejection::AlgNone,
        C::SignatureVerification(S::NoMatchingKey) => Rejection::UnknownKey {
            kid: kid.unwrap_or_default().chars().take(128).collect(),
            issuer: issuer.to_owned(),
        },
        C::SignatureVerification(S::DisallowedAlg(m) | S::UnsupportedAlg(m)) => {
            Rejection::DisallowedAlgorithm {
                alg: m,
                issuer: issuer.to_owned(),
            }
        }
        C::SignatureVerification(s) => Rejection::BadSignature(s.to_string()),
        other => Rejection::Malformed(other.to_string()),
    }
}
