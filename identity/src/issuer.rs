//! One trusted issuer: discovery and its key set with `openidconnect`
//! (cached, refreshed on an unknown `kid` at most once per
//! `jwks_min_refresh_seconds`, one fetch at a time), and the per-token
//! checks: algorithm, key, signature ([`crate::jws`]) and claims.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{reqwest, HttpRequest, HttpResponse, IssuerUrl, JsonWebKeySetUrl};
use serde_json::Value;

use crate::jws::{JwsAlg, JwsKey};
use crate::jwt::Unverified;
use crate::{IdentityError, IssuerConfig, Rejection, TokenKind};

/// The signing keys of one fetch, parsed once, and the tokens they verified.
struct KeySet {
    kids: HashSet<String>,
    keys: Vec<JwsKey>,
    verified: VerifiedTokens,
}

/// Tokens whose signature verified under one key set: SHA-256 of the whole
/// token (header, claims and signature) → its `exp`. Only successes enter,
/// so nothing a caller sends can make a bad token pass; the set goes with
/// its key set, so a rotation that retires a key forgets its tokens.
struct VerifiedTokens {
    capacity: usize,
    seen: std::sync::Mutex<HashMap<[u8; 32], f64>>,
}

impl VerifiedTokens {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn digest(token: &str) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    fn contains(&self, digest: &[u8; 32]) -> bool {
        self.capacity > 0 && self.seen.lock().is_ok_and(|s| s.contains_key(digest))
    }

    /// Remembers a verified token; when full, expired entries go first,
    /// then everything (bounded memory whatever the traffic).
    fn insert(&self, digest: [u8; 32], exp: f64, now: f64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        if seen.len() >= self.capacity {
            seen.retain(|_, e| *e > now);
            if seen.len() >= self.capacity {
                seen.clear();
            }
        }
        seen.insert(digest, exp);
    }
}

impl KeySet {
    /// Whether the key with `kid` is among these keys (any key without one).
    fn has_key(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(k) => self.kids.contains(k),
            // No kid: the key is chosen by algorithm (see `key_for`).
            None => true,
        }
    }

    /// The key that can have signed an `alg` token with this `kid`: the key
    /// with that id, or without an id the one key that fits `alg`.
    fn key_for(&self, kid: Option<&str>, alg: JwsAlg) -> Result<&JwsKey, Rejection> {
        let mut fitting = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid() == kid)
            .filter(|k| k.fits(alg));
        match (fitting.next(), kid, fitting.next()) {
            (Some(k), Some(_), _) | (Some(k), None, None) => Ok(k),
            (Some(_), None, Some(_)) => Err(Rejection::BadSignature(format!(
                "the token names no kid and several of the issuer's keys fit {alg:?}"
            ))),
            (None, Some(kid), _) => Err(Rejection::BadSignature(format!(
                "key {} is not a key for {alg:?}",
                kid.chars().take(128).collect::<String>()
            ))),
            (None, None, _) => Err(Rejection::BadSignature(format!(
                "the token names no kid and none of the issuer's keys fits {alg:?}"
            ))),
        }
    }
}

struct Refresh {
    last_attempt: Option<Instant>,
    jwks_uri: Option<JsonWebKeySetUrl>,
    last_error: Option<String>,
}

pub(crate) struct Issuer {
    pub(crate) config: IssuerConfig,
    url: IssuerUrl,
    algs: HashSet<JwsAlg>,
    http: reqwest::Client,
    keys: ArcSwapOption<KeySet>,
    /// Capacity of each key set's [`VerifiedTokens`].
    verified_capacity: usize,
    refresh: tokio::sync::Mutex<Refresh>,
    fetches: AtomicU64,
}

impl Issuer {
    pub(crate) fn new(
        config: IssuerConfig,
        verified_capacity: usize,
    ) -> Result<Self, IdentityError> {
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
            .filter_map(|a| JwsAlg::parse(a))
            .collect();
        Ok(Self {
            config,
            url,
            algs,
            http,
            keys: ArcSwapOption::empty(),
            verified_capacity,
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

    fn build_keys(&self, jwks: &CoreJsonWebKeySet) -> KeySet {
        let listed = serde_json::to_value(jwks).unwrap_or(Value::Null);
        let mut keys = Vec::new();
        for jwk in listed["keys"].as_array().into_iter().flatten() {
            match JwsKey::from_jwk(jwk) {
                Ok(k) => keys.push(k),
                Err(why) => tracing::debug!(
                    issuer = %self.config.issuer,
                    kid = jwk["kid"].as_str().unwrap_or_default(),
                    why,
                    "not a signing key"
                ),
            }
        }
        let kids = keys
            .iter()
            .filter_map(|k| k.kid().map(str::to_owned))
            .collect();
        KeySet {
            kids,
            keys,
            verified: VerifiedTokens::new(self.verified_capacity),
        }
    }

    /// The current keys, fetched (discovery first) if there are none yet or
    /// if `kid` is unknown and the rate limit allows a fetch.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Rejection> {
        if let Some(k) = self.keys.load_full() {
            if k.has_key(kid) {
                return Ok(k);
            }
        }
        let mut st = self.refresh.lock().await;
        // Someone else may have fetched while this task waited.
        let current = self.keys.load_full();
        if let Some(k) = &current {
            if k.has_key(kid) {
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
                    let keys = Arc::new(self.build_keys(&jwks));
                    self.keys.store(Some(keys.clone()));
                    st.last_error = None;
                    tracing::info!(issuer = %self.config.issuer, keys = keys.kids.len(), "fetched the issuer's key set");
                    if keys.has_key(kid) {
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
        let http = BoundedHttp(&self.http);
        match &st.jwks_uri {
            Some(uri) => CoreJsonWebKeySet::fetch_async(uri, &http)
                .await
                .map_err(|e| format!("key set: {}", error_chain(&e))),
            None => {
                let meta = CoreProviderMetadata::discover_async(self.url.clone(), &http)
                    .await
                    .map_err(|e| format!("discovery: {}", error_chain(&e)))?;
                st.jwks_uri = Some(meta.jwks_uri().clone());
                Ok(meta.jwks().clone())
            }
        }
    }

    /// Verifies `token` (already peeked as `u`) against this issuer:
    /// algorithm, token kind, audience, key, signature, then `iss`, `sub`,
    /// `exp`, `iat` and `nbf`.
    pub(crate) async fn verify(&self, token: &str, u: &Unverified) -> Result<(), Rejection> {
        let issuer = || self.config.issuer.clone();
        let alg = JwsAlg::parse(&u.alg)
            .filter(|a| self.algs.contains(a))
            .ok_or_else(|| Rejection::DisallowedAlgorithm {
                alg: u.alg.chars().take(32).collect(),
                issuer: issuer(),
            })?;
        if !self.config.token_types.contains(&u.kind) {
            return Err(Rejection::UnsupportedType(format!(
                "{:?} tokens are not accepted from {}",
                u.kind, self.config.issuer
            )));
        }
        self.check_audience(u)?;
        let keys = self.keys_for(u.kid.as_deref()).await?;
        // No digest when the cache is off (`verified_token_cache = 0`).
        let digest = (keys.verified.capacity > 0).then(|| VerifiedTokens::digest(token));
        let seen = digest.as_ref().is_some_and(|d| keys.verified.contains(d));
        if !seen {
            let key = keys.key_for(u.kid.as_deref(), alg)?;
            let input = token.as_bytes().get(..u.signed_len).unwrap_or_default();
            key.verify(alg, input, &u.signature)
                .map_err(Rejection::BadSignature)?;
        }
        let (exp, now) = self.check_claims(&u.claims)?;
        if let (false, Some(digest)) = (seen, digest) {
            keys.verified.insert(digest, exp, now);
        }
        Ok(())
    }

    /// RFC 9068: an access token's `aud` contains one of ours. OpenID
    /// Connect Core 3.1.3.7: an ID token names us and no audience we do not
    /// trust.
    fn check_audience(&self, u: &Unverified) -> Result<(), Rejection> {
        let auds = audiences(&u.claims);
        let accepted = |a: &&str| self.config.audiences.iter().any(|c| c == a);
        let ok = match u.kind {
            TokenKind::Access => auds.iter().any(accepted),
            TokenKind::Id => !auds.is_empty() && auds.iter().all(accepted),
        };
        if ok {
            Ok(())
        } else {
            Err(Rejection::WrongAudience(format!(
                "{:?} is not an accepted audience",
                auds.iter().take(8).collect::<Vec<_>>()
            )))
        }
    }

    /// The registered claims of a token whose signature verified; returns
    /// its `exp` and the time it was checked at.
    fn check_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<(f64, f64), Rejection> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(Rejection::WrongIssuer(format!(
                "iss is not {}",
                self.config.issuer
            )));
        }
        if !claims.get("sub").is_some_and(Value::is_string) {
            return Err(Rejection::Malformed(
                "sub is missing or not a string".into(),
            ));
        }
        let time = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite())
                .map(Some)
                .ok_or_else(|| Rejection::Malformed(format!("{name} is not a number"))),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let leeway = self.config.leeway_seconds as f64;
        let exp = time("exp")?.ok_or_else(|| Rejection::Malformed("exp is missing".into()))?;
        if now >= exp + leeway {
            return Err(Rejection::Expired(format!("exp {exp}, now {now:.0}")));
        }
        let iat = time("iat")?.ok_or_else(|| Rejection::Malformed("iat is missing".into()))?;
        if iat > now + leeway {
            return Err(Rejection::IssuedInFuture(format!(
                "iat {iat}, now {now:.0}"
            )));
        }
        if let Some(nbf) = time("nbf")? {
            if nbf > now + leeway {
                return Err(Rejection::NotYetValid(format!("nbf {nbf}, now {now:.0}")));
            }
        }
        Ok((exp, now))
    }
}

fn audiences(claims: &serde_json::Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Largest discovery document or key set read from an issuer, in bytes.
const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Why a discovery document or key set was not read.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("the response is larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
}

/// The HTTP client of discovery and key-set fetches: answers are read up to
/// [`MAX_METADATA_BYTES`].
struct BoundedHttp<'a>(&'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for BoundedHttp<'_> {
    type Error = FetchError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(bounded_call(self.0, request))
    }
}

/// Sends `request` and reads at most [`MAX_METADATA_BYTES`] of the answer:
/// an issuer's documents are read into memory before they are parsed, and a
/// hostile or broken issuer must not grow that without bound (the fetch
/// timeout bounds the time, this bounds the memory).
async fn bounded_call(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, FetchError> {
    let mut response = http.execute(reqwest::Request::try_from(request)?).await?;
    if response
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = HttpResponse::new(body);
    *answer.status_mut() = response.status();
    *answer.headers_mut() = std::mem::take(response.headers_mut());
    Ok(answer)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(v: Value) -> JwsKey {
        JwsKey::from_jwk(&v).unwrap()
    }

    #[test]
    fn keys_are_chosen_by_kid_or_else_by_a_single_fit() {
        let c = "AQAB";
        let xy = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
        let set = |keys: Vec<JwsKey>| KeySet {
            kids: keys
                .iter()
                .filter_map(|k| k.kid().map(str::to_owned))
                .collect(),
            keys,
            verified: VerifiedTokens::new(4),
        };
        let rsa = || key(json!({"kty": "RSA", "kid": "r", "n": c, "e": c}));
        let ec = || key(json!({"kty": "EC", "crv": "P-256", "kid": "e", "x": xy, "y": xy}));
        let s = set(vec![rsa(), ec()]);
        assert_eq!(
            s.key_for(Some("r"), JwsAlg::Rs256).unwrap().kid(),
            Some("r")
        );
        assert_eq!(s.key_for(None, JwsAlg::Es256).unwrap().kid(), Some("e"));
        assert!(matches!(
            s.key_for(Some("r"), JwsAlg::Es256),
            Err(Rejection::BadSignature(m)) if m.contains("not a key for")
        ));
        assert!(s.key_for(None, JwsAlg::EdDsa).is_err());
        let two = set(vec![
            rsa(),
            key(json!({"kty": "RSA", "kid": "r2", "n": c, "e": c})),
        ]);
        assert!(matches!(
            two.key_for(None, JwsAlg::Rs256),
            Err(Rejection::BadSignature(m)) if m.contains("several")
        ));
        assert!(two.has_key(Some("r2")) && !two.has_key(Some("x")) && two.has_key(None));
    }

    #[test]
    fn the_verified_set_is_bounded_and_forgets_expired_tokens_first() {
        let v = VerifiedTokens::new(2);
        let (a, b, c) = (
            VerifiedTokens::digest("a"),
            VerifiedTokens::digest("b"),
            VerifiedTokens::digest("c"),
        );
        v.insert(a, 100.0, 50.0);
        v.insert(b, 10.0, 50.0);
        assert!(v.contains(&a) && v.contains(&b) && !v.contains(&c));
        // Full: b (expired at 50) goes, a stays.
        v.insert(c, 100.0, 50.0);
        assert!(v.contains(&a) && !v.contains(&b) && v.contains(&c));
        // Full of live tokens: all of them go, b is the only one.
        v.insert(b, 100.0, 50.0);
        assert!(!v.contains(&a) && v.contains(&b) && !v.contains(&c));
        let off = VerifiedTokens::new(0);
        off.insert(a, 100.0, 50.0);
        assert!(!off.contains(&a));
    }
}
