//! Configuration: issuers, their algorithms and how their tokens map to
//! Cedar principals; how mTLS identities map to workloads.

use serde::{Deserialize, Serialize};

use crate::IdentityError;

/// The whole identity configuration (`[identity]` in Palisade's TOML).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Tokens longer than this are refused before any parsing.
    pub max_token_bytes: usize,
    /// Tokens whose signature verified, remembered per issuer (by SHA-256
    /// of the whole token, until they expire or the issuer's key set
    /// changes) so that a token presented again skips the signature check;
    /// its claims are checked every time. 0 turns this off.
    pub verified_token_cache: usize,
    /// Trusted OIDC issuers.
    pub issuers: Vec<IssuerConfig>,
    /// How an mTLS caller's SPIFFE ID becomes a principal.
    pub workload: WorkloadMapping,
    /// Tokens for first certificates (`POST /ca/v1/exchange`); `None`: off.
    pub exchange: Option<ExchangeConfig>,
}

/// The token → X.509-SVID exchange (Fulcio-style): a verified token's
/// claims name the SPIFFE ID, and Cedar (`ca:issue`, principal the token's)
/// decides whether it is issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// The SPIFFE ID of a token, e.g.
    /// `spiffe://{trust_domain}/ns/{claim:namespace}/sa/{claim:sub}`:
    /// `{trust_domain}` is the CA's, `{claim:NAME}` a top-level string claim
    /// that must be a safe path segment (letters, digits, `.`, `_`, `-`;
    /// not `.` or `..`), else the exchange is refused.
    pub spiffe_id_template: String,
    /// Issuers whose tokens may be exchanged (empty: every configured issuer).
    #[serde(default)]
    pub issuers: Vec<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            max_token_bytes: 8 * 1024,
            verified_token_cache: 10_000,
            issuers: Vec::new(),
            workload: WorkloadMapping::default(),
            exchange: None,
        }
    }
}

/// Which kinds of JWT an issuer may present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// JWT access tokens (RFC 9068, `typ: at+jwt`).
    Access,
    /// OpenID Connect ID tokens (`typ` absent or `JWT`).
    Id,
}

/// One trusted OIDC issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer URL exactly as in its tokens' `iss` and its discovery document.
    pub issuer: String,
    /// Accepted audiences: an access token's `aud` must contain one of them
    /// (RFC 9068); an ID token's must contain one (the client id) and no
    /// audience outside this list (OIDC Core 3.1.3.7).
    pub audiences: Vec<String>,
    /// Allowed signature algorithms (asymmetric only: `RS256`, `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `EdDSA`).
    pub algorithms: Vec<String>,
    /// Accepted token kinds.
    pub token_types: Vec<TokenKind>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: u64,
    /// The key set is fetched again on an unknown `kid` at most this often.
    pub jwks_min_refresh_seconds: u64,
    /// HTTP timeout for discovery and key-set fetches, in milliseconds.
    pub fetch_timeout_ms: u64,
    /// How this issuer's tokens become Cedar principals.
    pub principal: PrincipalMapping,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audiences: Vec::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            token_types: vec![TokenKind::Access, TokenKind::Id],
            leeway_seconds: 30,
            jwks_min_refresh_seconds: 10,
            fetch_timeout_ms: 5_000,
            principal: PrincipalMapping::default(),
        }
    }
}

/// How a verified token becomes a Cedar principal, in the manner of AWS
/// Verified Permissions' `IsAuthorizedWithToken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrincipalMapping {
    /// Entity type of the principal.
    pub entity_type: String,
    /// Claim holding the principal's id.
    pub id_claim: String,
    /// Prefix of the id, so that two issuers cannot name the same principal.
    /// Default: the issuer URL followed by `|`.
    pub id_prefix: Option<String>,
    /// Claim holding the groups (an array of strings, or one string); empty: none.
    pub groups_claim: String,
    /// Entity type of the groups, which become the principal's parents
    /// (ids prefixed like the principal's).
    pub group_entity_type: String,
    /// Claims copied into the principal's attributes (missing ones are left out).
    pub attributes: Vec<String>,
    /// Claims copied into the request context under `token` (missing ones
    /// are left out).
    pub context: Vec<String>,
    /// Groups of this issuer (as named in the groups claim) that also make
    /// the principal a member of an issuer-independent group: group name →
    /// id of a `shared_group_entity_type` entity (`{ admins =
    /// "palisade-admins" }` makes this issuer's `admins` members of
    /// `Group::"palisade-admins"`, the admin group of the shipped admin
    /// policy). List only groups this issuer alone controls.
    pub shared_groups: std::collections::BTreeMap<String, String>,
    /// Entity type of the shared groups.
    pub shared_group_entity_type: String,
}

impl Default for PrincipalMapping {
    fn default() -> Self {
        Self {
            entity_type: "User".into(),
            id_claim: "sub".into(),
            id_prefix: None,
            groups_claim: "groups".into(),
            group_entity_type: "UserGroup".into(),
            attributes: Vec::new(),
            context: Vec::new(),
            shared_groups: Default::default(),
            shared_group_entity_type: "Group".into(),
        }
    }
}

/// How an mTLS caller's SPIFFE ID becomes a principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadMapping {
    /// Entity type of workloads.
    pub entity_type: String,
    /// Trust domains accepted (empty: any the TLS layer verified).
    pub trust_domains: Vec<String>,
}

impl Default for WorkloadMapping {
    fn default() -> Self {
        Self {
            entity_type: "Workload".into(),
            trust_domains: Vec::new(),
        }
    }
}

fn entity_type(what: &str, s: &str) -> Result<cedar_policy::EntityTypeName, IdentityError> {
    s.parse().map_err(|e| {
        IdentityError::Config(format!("{what}: {s:?} is not a Cedar entity type: {e}"))
    })
}

impl IdentityConfig {
    /// Checks everything that can be checked without the network.
    pub fn validate(&self) -> Result<(), IdentityError> {
        if self.max_token_bytes < 256 {
            return Err(IdentityError::Config(
                "max_token_bytes below 256 refuses every real token".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for i in &self.issuers {
            i.validate()?;
            if !seen.insert(i.issuer.as_str()) {
                return Err(IdentityError::Config(format!(
                    "issuer {} is configured twice",
                    i.issuer
                )));
            }
        }
        entity_type("workload.entity_type", &self.workload.entity_type)?;
        if let Some(x) = &self.exchange {
            crate::exchange::SpiffeTemplate::parse(&x.spiffe_id_template)?;
            if let Some(i) = x.issuers.iter().find(|i| !seen.contains(i.as_str())) {
                return Err(IdentityError::Config(format!(
                    "exchange.issuers: {i} is not a configured issuer"
                )));
            }
        }
        Ok(())
    }
}

impl IssuerConfig {
    /// Checks one issuer's settings.
    pub fn validate(&self) -> Result<(), IdentityError> {
        let bad = |m: String| {
            Err(IdentityError::Config(format!(
                "issuer {:?}: {m}",
                self.issuer
            )))
        };
        match url::Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => return bad("issuer must be an http(s) URL".into()),
        }
        if self.audiences.is_empty() {
            return bad("audiences is empty: every token would be refused".into());
        }
        if self.algorithms.is_empty() {
            return bad("algorithms is empty".into());
        }
        for a in &self.algorithms {
            if crate::jws::JwsAlg::parse(a).is_none() {
                return bad(format!(
                    "algorithm {a:?} is not an asymmetric JWS algorithm (HMAC and none are never allowed)"
                ));
            }
        }
        if self.token_types.is_empty() {
            return bad("token_types is empty".into());
        }
        if self.leeway_seconds > 300 {
            return bad("leeway_seconds above 300 is not a small leeway".into());
        }
        let p = &self.principal;
        entity_type("principal.entity_type", &p.entity_type)?;
        if !p.groups_claim.is_empty() {
            entity_type("principal.group_entity_type", &p.group_entity_type)?;
        }
        if !p.shared_groups.is_empty() {
            if p.groups_claim.is_empty() {
                return bad("principal.shared_groups needs a groups_claim".into());
            }
            entity_type(
                "principal.shared_group_entity_type",
                &p.shared_group_entity_type,
            )?;
        }
        if p.id_claim.is_empty() {
            return bad("principal.id_claim is empty".into());
        }
        Ok(())
    }

    /// The prefix of principal and group ids.
    pub fn id_prefix(&self) -> String {
        self.principal
            .id_prefix
            .clone()
            .unwrap_or_else(|| format!("{}|", self.issuer))
    }
}
