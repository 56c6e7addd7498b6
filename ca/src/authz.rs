//! Who may obtain which SPIFFE ID: a Cedar policy, action `ca:issue`,
//! decided by an [`IssueAuthorizer`] (the served decision point in
//! `palisade serve`).

use std::sync::{Arc, LazyLock};

use cedar_policy::{Context, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use palisade_policy::{
    Api, Decision, DecisionPoint, DecisionRequest, OnEvaluationError, PolicyBundle, PolicyVersion,
    SourceFile, VerifiedPrincipal,
};

use crate::{CaError, SpiffeId};

/// The built-in issuance policy (`examples/policies/ca.cedar`, also part of
/// the bundle `palisade serve` seeds): admins issue any identity of the trust
/// domain, a join token obtains the identity it is bound to, a workload
/// renews its own, a verified OIDC token obtains the identity its claims name.
pub const DEFAULT_ISSUE_POLICY: &str = include_str!("../../examples/policies/ca.cedar");

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// An administrator (the local CLI or the admin API), by name.
    Admin(String),
    /// A one-time join token (the token itself; it is hashed, then burnt).
    JoinToken(String),
    /// A workload authenticated by its current certificate over mTLS.
    Workload(SpiffeId),
    /// A verified OIDC token (`palisade-identity`'s exchange): its principal,
    /// and the SPIFFE ID its claims name (the only one it may obtain).
    Token {
        /// The token's principal (uid, groups, attributes).
        principal: Box<VerifiedPrincipal>,
        /// The SPIFFE ID derived from its claims.
        spiffe_id: SpiffeId,
    },
}

/// The authenticated caller, as the policy sees it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: EntityUid,
    pub(crate) method: &'static str,
    pub(crate) bound: Option<String>,
    pub(crate) caller: Option<String>,
    /// For the ledger: who asked.
    pub(crate) label: String,
    /// Request-scoped entities (a token principal's groups and attributes).
    pub(crate) entities: Option<serde_json::Value>,
}

/// A `ca:issue` question, as an [`IssueAuthorizer`] gets it: who asks, for
/// which SPIFFE ID, and the context the policy sees (`method`,
/// `requested_spiffe_id`, `bound_spiffe_id`, `caller_spiffe_id`; empty
/// strings when not applicable).
#[derive(Debug, Clone)]
pub struct IssueQuestion {
    principal: EntityUid,
    resource: EntityUid,
    method: &'static str,
    requested: String,
    bound: String,
    caller: String,
    /// Request-scoped entities (a token principal's groups and attributes).
    entities: Option<serde_json::Value>,
}

impl IssueQuestion {
    /// Principal, action (`Action::"ca:issue"`) and resource; with
    /// `json_context`, the context as JSON too (what a decision log
    /// records; evaluation uses [`Self::context`]).
    pub fn request(&self, json_context: bool) -> DecisionRequest {
        DecisionRequest {
            principal: self.principal.clone(),
            action: ACTION.clone(),
            resource: self.resource.clone(),
            context: json_context.then(|| {
                serde_json::json!({
                    "method": self.method,
                    "requested_spiffe_id": self.requested,
                    "bound_spiffe_id": self.bound,
                    "caller_spiffe_id": self.caller,
                })
            }),
            entities: self.entities.clone(),
        }
    }

    /// The Cedar context, built directly (no JSON to parse).
    pub fn context(&self) -> Result<Context, CaError> {
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        Context::from_pairs([
            ("method".to_owned(), s(self.method)),
            ("requested_spiffe_id".to_owned(), s(&self.requested)),
            ("bound_spiffe_id".to_owned(), s(&self.bound)),
            ("caller_spiffe_id".to_owned(), s(&self.caller)),
        ])
        .map_err(|e| CaError::BadRequest(format!("ca:issue context: {e}")))
    }
}

/// Who decides `ca:issue`. Fail closed: whatever cannot be decided is a deny.
///
/// `palisade serve` passes its [`DecisionPoint`]: issuance is then decided on
/// the served, hot-reloaded policy version and every decision goes to the
/// decision log like any other. [`IssuePolicy`] is a fixed compiled policy
/// without a log (embedding, tests, benchmarks).
pub trait IssueAuthorizer: Send + Sync + 'static {
    /// Decides one `ca:issue` question; returns the decision and the etag
    /// of the policy version that decided.
    fn decide_issue(&self, question: &IssueQuestion) -> (Decision, Arc<str>);
}

impl IssueAuthorizer for DecisionPoint {
    fn decide_issue(&self, question: &IssueQuestion) -> (Decision, Arc<str>) {
        let mut id = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let request_id: Arc<str> = format!("ca-issue-{}", hex::encode(id)).into();
        let context = question.context().map_err(|e| e.to_string());
        self.decide_in(Api::Embedded, &request_id, &question.request(true), context)
    }
}

impl<T: IssueAuthorizer + ?Sized> IssueAuthorizer for Arc<T> {
    fn decide_issue(&self, question: &IssueQuestion) -> (Decision, Arc<str>) {
        (**self).decide_issue(question)
    }
}

/// A fixed, compiled `ca:issue` policy (no hot reload, no decision log).
#[derive(Clone)]
pub struct IssuePolicy {
    version: Arc<PolicyVersion>,
}

impl std::fmt::Debug for IssuePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuePolicy")
            .field("etag", &self.version.etag())
            .finish()
    }
}

impl IssuePolicy {
    /// The built-in policy ([`DEFAULT_ISSUE_POLICY`]).
    pub fn builtin() -> Self {
        let bundle = PolicyBundle {
            policies: vec![SourceFile {
                name: "ca-issue.cedar".into(),
                text: DEFAULT_ISSUE_POLICY.into(),
            }],
            ..Default::default()
        };
        Self {
            version: Arc::new(
                PolicyVersion::compile(bundle, OnEvaluationError::Deny)
                    .expect("the built-in CA policy compiles"),
            ),
        }
    }

    /// A policy from a bundle directory (Cedar files, optional schema).
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, CaError> {
        let bundle = PolicyBundle::from_dir(dir)
            .map_err(|e| CaError::BadRequest(format!("CA policy {}: {e}", dir.display())))?;
        Ok(Self::from_version(
            PolicyVersion::compile(bundle, OnEvaluationError::Deny)
                .map_err(|e| CaError::BadRequest(format!("CA policy {}: {e}", dir.display())))?,
        ))
    }

    /// Wraps a compiled policy version.
    pub fn from_version(version: PolicyVersion) -> Self {
        Self {
            version: Arc::new(version),
        }
    }
}

impl IssueAuthorizer for IssuePolicy {
    fn decide_issue(&self, question: &IssueQuestion) -> (Decision, Arc<str>) {
        let decision = match question.context() {
            Ok(context) => self.version.decide_in(&question.request(false), context),
            Err(e) => Decision::deny_with_error(e.to_string()),
        };
        (decision, self.version.etag().into())
    }
}

/// Entity types of the `ca:issue` policy, parsed once.
pub(crate) static ADMIN: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Admin"));
/// A join token principal.
pub(crate) static JOIN_TOKEN: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("JoinToken"));
/// A SPIFFE ID: workload principal, and the resource asked for.
pub(crate) static SPIFFE: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Spiffe"));
static ACTION: LazyLock<EntityUid> = LazyLock::new(|| {
    EntityUid::from_type_name_and_id(type_name("Action"), EntityId::new("ca:issue"))
});

fn type_name(name: &str) -> EntityTypeName {
    name.parse().expect("a valid Cedar entity type name")
}

/// The entity `ty::"id"`, built directly (no Cedar parsing).
pub(crate) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// Asks `authorizer` whether `caller` may obtain `requested`.
pub(crate) fn authorize(
    authorizer: &dyn IssueAuthorizer,
    caller: &Caller,
    requested: &SpiffeId,
) -> Result<(), CaError> {
    let question = IssueQuestion {
        principal: caller.principal.clone(),
        resource: uid(&SPIFFE, requested.as_str()),
        method: caller.method,
        requested: requested.as_str().to_owned(),
        bound: caller.bound.clone().unwrap_or_default(),
        caller: caller.caller.clone().unwrap_or_default(),
        entities: caller.entities.clone(),
    };
    let (d, etag) = authorizer.decide_issue(&question);
    if d.allowed {
        Ok(())
    } else {
        Err(CaError::Forbidden(format!(
            "policy {} does not allow {} ({}) to obtain {}{}",
            etag.chars().take(12).collect::<String>(),
            caller.label,
            caller.method,
            requested,
            if d.errors.is_empty() {
                String::new()
            } else {
                format!(": {}", d.errors.join("; "))
            }
        )))
    }
}
