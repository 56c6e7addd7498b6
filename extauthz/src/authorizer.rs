//! [`ExtAuthz`]: one HTTP request in, one verdict out, every answer logged.

use std::sync::Arc;

use palisade_ca::SpiffeId;
use palisade_identity::{workload_principal, Rejection, TokenVerifier, WorkloadMapping};
use palisade_policy::{Api, DecisionPoint, DecisionRequest, VerifiedPrincipal};
use serde_json::Value;

use crate::mapping::{map_request, HttpCheck};
use crate::{DenyReason, ExtAuthzConfig, ExtAuthzError, PrincipalSource};

/// Longest request id taken from Envoy (longer ones are cut).
const MAX_REQUEST_ID: usize = 128;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let it through, adding these headers for the upstream.
    Allow(Allowed),
    /// Refuse it (status and body from [`DenyReason`]).
    Deny(DenyReason),
}

/// An allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The principal's Cedar uid (`Workload::"spiffe://..."`).
    pub principal: String,
    /// Headers for the upstream (the principal header, the policy version),
    /// each replacing any value the client sent.
    pub headers: Vec<(String, String)>,
}

/// The external authorizer: maps a request, establishes its principal,
/// decides on the live policy version and records the decision.
pub struct ExtAuthz {
    config: ExtAuthzConfig,
    pdp: Arc<DecisionPoint>,
    tokens: Arc<TokenVerifier>,
    workloads: WorkloadMapping,
}

impl std::fmt::Debug for ExtAuthz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtAuthz")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Whether `v` can travel as an HTTP header value unchanged.
fn header_safe(v: &str) -> bool {
    v.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl ExtAuthz {
    /// An authorizer deciding with `pdp`, verifying bearer tokens with
    /// `tokens` and mapping SPIFFE sources with `workloads`.
    pub fn new(
        config: ExtAuthzConfig,
        pdp: Arc<DecisionPoint>,
        tokens: Arc<TokenVerifier>,
        workloads: WorkloadMapping,
    ) -> Result<Self, ExtAuthzError> {
        config.validate()?;
        Ok(Self {
            config,
            pdp,
            tokens,
            workloads,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ExtAuthzConfig {
        &self.config
    }

    /// Envoy's request id when it is usable, else a fresh one.
    fn request_id(id: &str) -> Arc<str> {
        if id.is_empty() || !header_safe(id) {
            uuid::Uuid::new_v4().to_string().into()
        } else {
            id.chars().take(MAX_REQUEST_ID).collect::<String>().into()
        }
    }

    /// Records a request denied before evaluation and returns the verdict.
    pub(crate) fn refuse(&self, request_id: &Arc<str>, reason: DenyReason) -> Verdict {
        tracing::info!(request_id = %request_id, reason = reason.code(), detail = %reason, "ext_authz denied");
        self.pdp
            .refuse(Api::ExtAuthz, request_id, reason.to_string());
        Verdict::Deny(reason)
    }

    /// Refuses a request that could not even be read (no HTTP attributes,
    /// undecodable headers).
    pub fn refuse_unreadable(&self, request_id: &str, why: String) -> Verdict {
        self.refuse(&Self::request_id(request_id), DenyReason::Unmappable(why))
    }

    async fn principal(&self, check: &HttpCheck) -> Result<VerifiedPrincipal, DenyReason> {
        for source in &self.config.principal_sources {
            match source {
                PrincipalSource::Bearer => {
                    let mut values = check.header_values(&self.config.token_header);
                    let Some(value) = values.next() else { continue };
                    if values.next().is_some() {
                        return Err(DenyReason::BadCredential(Rejection::Malformed(format!(
                            "several {} headers",
                            self.config.token_header
                        ))));
                    }
                    let token = match value.split_once(' ') {
                        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t,
                        _ => {
                            return Err(DenyReason::BadCredential(Rejection::Malformed(
                                "not a bearer credential".into(),
                            )))
                        }
                    };
                    return self
                        .tokens
                        .authenticate(token)
                        .await
                        .map_err(DenyReason::BadCredential);
                }
                PrincipalSource::Spiffe => {
                    if check.source_principal.is_empty() {
                        continue;
                    }
                    let id = SpiffeId::parse(&check.source_principal).map_err(|e| {
                        DenyReason::BadCredential(Rejection::BadCertificate(format!(
                            "source principal is not a SPIFFE ID: {e}"
                        )))
                    })?;
                    return workload_principal(&self.workloads, &id)
                        .map_err(DenyReason::BadCredential);
                }
            }
        }
        Err(DenyReason::NoIdentity(format!(
            "none of {:?} present",
            self.config.principal_sources
        )))
    }

    /// Decides one request. Never fails open: anything that cannot be
    /// mapped, verified or evaluated is a deny, and every answer is in the
    /// decision log.
    pub async fn check(&self, check: &HttpCheck) -> Verdict {
        let request_id = Self::request_id(&check.id);
        let mapped = match map_request(&self.config, check) {
            Ok(m) => m,
            Err(reason) => return self.refuse(&request_id, reason),
        };
        let principal = match self.principal(check).await {
            Ok(p) => p,
            Err(reason) => return self.refuse(&request_id, reason),
        };
        let principal_text = principal.uid.to_string();
        if !header_safe(&principal_text) {
            return self.refuse(
                &request_id,
                DenyReason::Unmappable("the principal cannot travel as a header value".into()),
            );
        }
        let mut context = mapped.context;
        if !principal.context.is_empty() {
            context.insert("token".into(), Value::Object(principal.context.clone()));
        }
        let request = DecisionRequest {
            principal: principal.uid.clone(),
            action: mapped.action,
            resource: mapped.resource,
            context: Some(Value::Object(context)),
            entities: Some(Value::Array(vec![
                principal.entity.clone(),
                mapped.resource_entity,
            ])),
        };
        let (decision, etag) =
            self.pdp
                .decide_verified(Api::ExtAuthz, &request_id, &principal, &request);
        if decision.allowed {
            Verdict::Allow(Allowed {
                headers: vec![
                    (self.config.principal_header.clone(), principal_text.clone()),
                    ("x-palisade-policy-version".into(), etag.to_string()),
                ],
                principal: principal_text,
            })
        } else {
            let reason = DenyReason::Policy(decision.errors);
            tracing::info!(request_id = %request_id, reason = reason.code(), detail = %reason, principal = %principal_text, "ext_authz denied");
            Verdict::Deny(reason)
        }
    }

    /// Whether a 401 should carry `www-authenticate: Bearer`.
    pub(crate) fn offers_bearer(&self) -> bool {
        self.config
            .principal_sources
            .contains(&PrincipalSource::Bearer)
    }
}
