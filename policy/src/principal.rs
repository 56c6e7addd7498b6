//! Decisions about a principal the server established itself, from a
//! verified credential (an OIDC token, an mTLS certificate), rather than one
//! the request body names. The verification lives elsewhere
//! (`palisade-identity`); this crate only defines what it must hand over.

use cedar_policy::EntityUid;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::authzen::{AuthzenAction, AuthzenEntity};
use crate::json_shape::object;

/// A principal established from a verified credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPrincipal {
    /// Its Cedar uid.
    pub uid: EntityUid,
    /// Its request-scoped entity (Cedar entity JSON: `uid`, `attrs`,
    /// `parents`): attributes and groups from the credential. It takes the
    /// place of any stored entity with the same uid.
    pub entity: Value,
    /// What policies see as `context.token` (chosen claims); empty for none.
    pub context: Map<String, Value>,
    /// Who vouched for it (the token issuer, the SPIFFE trust domain), for the log.
    pub authority: String,
}

/// Why a credential was not accepted. Deliberately empty: the implementation
/// logs the precise reason; callers only learn that it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated;

/// What [`TokenAuthenticator::authenticate`] returns.
pub type Authentication<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<VerifiedPrincipal, Unauthenticated>> + Send + 'a>,
>;

/// Turns a bearer token into a [`VerifiedPrincipal`] (implemented by
/// `palisade-identity`).
pub trait TokenAuthenticator: Send + Sync + std::fmt::Debug {
    /// Verifies `token` and maps it to a principal.
    fn authenticate<'a>(&'a self, token: &'a str) -> Authentication<'a>;
}

/// `POST /access/v1/token/evaluation`: an AuthZEN evaluation whose subject is
/// a bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEvaluationRequest {
    /// The subject's token (a JWT access token or ID token).
    pub subject_token: String,
    /// Does what.
    #[serde(deserialize_with = "object")]
    pub action: AuthzenAction,
    /// To what.
    #[serde(deserialize_with = "object")]
    pub resource: AuthzenEntity,
    /// Under which circumstances (`token` is set by the server).
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// `POST /v1/is_authorized_with_token`: a Cedar-native decision whose
/// principal comes from a token, like AWS Verified Permissions'
/// `IsAuthorizedWithToken` (exactly one of the two tokens).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCedarRequest {
    /// A JWT access token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// An OpenID Connect ID token.
    #[serde(default)]
    pub identity_token: Option<String>,
    /// Action uid.
    pub action: Value,
    /// Resource uid.
    pub resource: Value,
    /// Context (Cedar JSON value format; `token` is set by the server).
    #[serde(default)]
    pub context: Option<Value>,
    /// Request-scoped entities; none may be the principal itself.
    #[serde(default)]
    pub entities: Option<Value>,
}

impl TokenCedarRequest {
    /// The one token given, or why the request is malformed.
    pub fn token(&self) -> Result<&str, &'static str> {
        match (&self.access_token, &self.identity_token) {
            (Some(t), None) | (None, Some(t)) => Ok(t),
            (None, None) => Err("give access_token or identity_token"),
            (Some(_), Some(_)) => Err("give access_token or identity_token, not both"),
        }
    }
}

/// The request context with the principal's `token` record laid over it.
pub(crate) fn context_with(
    principal: &VerifiedPrincipal,
    given: Option<&Value>,
) -> Result<Option<Value>, String> {
    let mut ctx = match given {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("context: expected a JSON object".into()),
    };
    if !principal.context.is_empty() {
        ctx.insert("token".into(), Value::Object(principal.context.clone()));
    } else {
        // A caller cannot pretend to carry claims it was not verified for.
        ctx.remove("token");
    }
    Ok((!ctx.is_empty()).then_some(Value::Object(ctx)))
}
