//! Who may obtain which SPIFFE ID: a Cedar policy, action `ca:issue`,
//! decided by an [`IssueAuthorizer`] (the served decision point in
//! `palisade serve`).

use std::sync::Arc;

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
    pub(crate) principal: String,
    pub(crate) method: &'static str,
    pub(crate) bound: Option<String>,
    pub(crate) caller: Option<String>,
    /// For the ledger: who asked.
    pub(crate) label: String,
    /// Request-scoped entities (a token principal's groups and attributes).
    pub(crate) entities: Option<serde_json::Value>,
}

/// Who decides `ca:issue`. Fail closed: whatever cannot be decided is a deny.
///
/// `palisade serve` passes its [`DecisionPoint`]: issuance is then decided on
/// the served, hot-reloaded policy version and every decision goes to the
/// decision log like any other. [`IssuePolicy`] is a fixed compiled policy
/// without a log (embedding, tests, benchmarks).
pub trait IssueAuthorizer: Send + Sync + 'static {
    /// Decides one `ca:issue` request; returns the decision and the etag of
    /// the policy version that decided.
    fn decide_issue(&self, request: &DecisionRequest) -> (Decision, Arc<str>);
}

impl IssueAuthorizer for DecisionPoint {
    fn decide_issue(&self, request: &DecisionRequest) -> (Decision, Arc<str>) {
        let mut id = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        let request_id: Arc<str> = format!("ca-issue-{}", hex::encode(id)).into();
        self.decide(Api::Embedded, &request_id, request)
    }
}

impl<T: IssueAuthorizer + ?Sized> IssueAuthorizer for Arc<T> {
    fn decide_issue(&self, request: &DecisionRequest) -> (Decision, Arc<str>) {
        (**self).decide_issue(request)
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
    fn decide_issue(&self, request: &DecisionRequest) -> (Decision, Arc<str>) {
        (self.version.decide(request), self.version.etag().into())
    }
}

/// Asks `authorizer` whether `caller` may obtain `requested`.
pub(crate) fn authorize(
    authorizer: &dyn IssueAuthorizer,
    caller: &Caller,
    requested: &SpiffeId,
) -> Result<(), CaError> {
    let uid = |s: &str| {
        s.parse::<cedar_policy::EntityUid>()
            .map_err(|e| CaError::BadRequest(format!("entity {s}: {e}")))
    };
    let req = DecisionRequest {
        principal: uid(&caller.principal)?,
        action: uid(r#"Action::"ca:issue""#)?,
        resource: uid(&entity("Spiffe", requested.as_str()))?,
        context: Some(serde_json::json!({
            "method": caller.method,
            "requested_spiffe_id": requested.as_str(),
            "bound_spiffe_id": caller.bound.clone().unwrap_or_default(),
            "caller_spiffe_id": caller.caller.clone().unwrap_or_default(),
        })),
        entities: caller.entities.clone(),
    };
    let (d, etag) = authorizer.decide_issue(&req);
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

pub(crate) fn entity(t: &str, id: &str) -> String {
    format!("{t}::{}", serde_json::Value::from(id))
}
