//! Who may obtain which SPIFFE ID: a Cedar policy, action `ca:issue`.

use std::sync::Arc;

use palisade_policy::{
    DecisionRequest, OnEvaluationError, PolicyBundle, PolicyVersion, SourceFile,
};

use crate::{CaError, SpiffeId};

/// The built-in issuance policy, used when no policy directory is configured.
pub const DEFAULT_ISSUE_POLICY: &str = r#"// Palisade CA: who may obtain which SPIFFE ID (action ca:issue).
// Principals: Admin::"<name>", JoinToken::"<token id>", Spiffe::"<caller's SPIFFE ID>".
// Resource: Spiffe::"<requested SPIFFE ID>". Context: method, requested_spiffe_id,
// bound_spiffe_id (join tokens), caller_spiffe_id (mTLS).

// Administrators may issue any SPIFFE ID of the trust domain.
@id("ca-admin")
permit(principal is Admin, action == Action::"ca:issue", resource);

// A join token obtains exactly the SPIFFE ID it was created for.
@id("ca-join-token")
permit(principal is JoinToken, action == Action::"ca:issue", resource)
when { context.bound_spiffe_id == context.requested_spiffe_id };

// A workload holding a valid certificate renews its own identity.
@id("ca-renew-self")
permit(principal is Spiffe, action == Action::"ca:issue", resource)
when { context.caller_spiffe_id == context.requested_spiffe_id };
"#;

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// An administrator (the local CLI or the admin API), by name.
    Admin(String),
    /// A one-time join token (the token itself; it is hashed, then burnt).
    JoinToken(String),
    /// A workload authenticated by its current certificate over mTLS.
    Workload(SpiffeId),
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
}

/// The `ca:issue` decision point.
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
        Self::from_version(
            PolicyVersion::compile(bundle, OnEvaluationError::Deny)
                .map_err(|e| CaError::BadRequest(format!("CA policy {}: {e}", dir.display())))?,
        )
    }

    /// Wraps a compiled policy version.
    pub fn from_version(version: PolicyVersion) -> Result<Self, CaError> {
        Ok(Self {
            version: Arc::new(version),
        })
    }

    pub(crate) fn check(&self, caller: &Caller, requested: &SpiffeId) -> Result<(), CaError> {
        let uid = |s: &str| {
            s.parse::<cedar_policy::EntityUid>()
                .map_err(|e| CaError::BadRequest(format!("entity {s}: {e}")))
        };
        let quoted = |t: &str, id: &str| format!("{t}::{}", serde_json::Value::from(id));
        let req = DecisionRequest {
            principal: uid(&caller.principal)?,
            action: uid(r#"Action::"ca:issue""#)?,
            resource: uid(&quoted("Spiffe", requested.as_str()))?,
            context: Some(serde_json::json!({
                "method": caller.method,
                "requested_spiffe_id": requested.as_str(),
                "bound_spiffe_id": caller.bound.clone().unwrap_or_default(),
                "caller_spiffe_id": caller.caller.clone().unwrap_or_default(),
            })),
            entities: None,
        };
        let d = self.version.decide(&req);
        if d.allowed {
            Ok(())
        } else {
            Err(CaError::Forbidden(format!(
                "policy {} does not allow {} ({}) to obtain {}{}",
                self.version.etag().chars().take(12).collect::<String>(),
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
}

pub(crate) fn entity(t: &str, id: &str) -> String {
    format!("{t}::{}", serde_json::Value::from(id))
}
