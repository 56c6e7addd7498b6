//! The policy decision point: every decision API, independent of transport.
//!
//! Each method takes a decoded request, decides on the policy version being
//! served (one version for the whole request, batch included), logs the
//! decision and counts it. Errors never escape as allows: a request that
//! cannot be evaluated, one past its deadline, or one the decision log cannot
//! take in fail-closed mode is a deny that says why.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::authzen::{
    request_entity, AuthzenEntity, AuthzenMapping, DecisionContext, DecisionError,
    EvaluationRequest, EvaluationResponse, EvaluationsRequest, EvaluationsResponse,
    EvaluationsSemantic, SearchRequest,
};
use crate::decision_log::{Admission, DecisionEntry, DecisionLog};
use crate::metrics::{Api, PolicyMetrics};
use crate::policy_store::PolicyStore;
use crate::principal::{
    context_with, TokenCedarRequest, TokenEvaluationRequest, VerifiedPrincipal,
};
use crate::version::{parse_uid_value, Decision, DecisionRequest, PolicyVersion};

/// Bounds on what one request may ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionLimits {
    /// Most items in one batch.
    pub max_batch: usize,
    /// Time budget of one request, in milliseconds; items not decided by then are denied.
    pub deadline_ms: u64,
    /// Default page size of a search.
    pub search_page_size: u32,
    /// Largest page size of a search.
    pub search_max_page_size: u32,
}

impl Default for DecisionLimits {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            deadline_ms: 2_000,
            search_page_size: 100,
            search_max_page_size: 1_000,
        }
    }
}

/// A request the API refuses to evaluate at all (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// A Cedar-native authorization request.
#[derive(Debug, Clone, Deserialize)]
pub struct CedarRequest {
    /// Principal uid: `"User::\"alice\""` or `{"type": "User", "id": "alice"}`.
    pub principal: Value,
    /// Action uid.
    pub action: Value,
    /// Resource uid.
    pub resource: Value,
    /// Context (Cedar JSON value format).
    #[serde(default)]
    pub context: Option<Value>,
    /// Request-scoped entities (Cedar entity JSON).
    #[serde(default)]
    pub entities: Option<Value>,
}

/// A Cedar-native batch.
#[derive(Debug, Clone, Deserialize)]
pub struct CedarBatchRequest {
    /// The requests, answered in order.
    #[serde(deserialize_with = "crate::json_shape::objects")]
    pub requests: Vec<CedarRequest>,
}

/// The Cedar-native answer (the shape of cedar-agent's, plus the version).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CedarResponse {
    /// `Allow` or `Deny`.
    pub decision: &'static str,
    /// Determining policies and errors.
    pub diagnostics: CedarDiagnostics,
    /// Etag of the policy version that decided.
    pub policy_version: Arc<str>,
}

/// Why a Cedar-native decision came out as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CedarDiagnostics {
    /// Determining policy ids.
    pub reason: Vec<String>,
    /// Errors.
    pub errors: Vec<String>,
}

/// The answer of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResponse {
    /// What the subject may do / who may / on what.
    pub results: Vec<Value>,
    /// Pagination.
    pub page: Value,
}

/// The decision point shared by every API.
pub struct DecisionPoint {
    policies: Arc<PolicyStore>,
    log: Arc<DecisionLog>,
    metrics: PolicyMetrics,
    mapping: AuthzenMapping,
    limits: DecisionLimits,
}

impl std::fmt::Debug for DecisionPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionPoint")
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

struct Deadline(Instant);

impl Deadline {
    fn passed(&self) -> bool {
        Instant::now() > self.0
    }
}

impl DecisionPoint {
    /// Wires a decision point.
    pub fn new(
        policies: Arc<PolicyStore>,
        log: Arc<DecisionLog>,
        metrics: PolicyMetrics,
        mapping: AuthzenMapping,
        limits: DecisionLimits,
    ) -> Self {
        Self {
            policies,
            log,
            metrics,
            mapping,
            limits,
        }
    }

    /// The live policy store.
    pub fn policies(&self) -> &Arc<PolicyStore> {
        &self.policies
    }

    /// The decision log.
    pub fn log(&self) -> &Arc<DecisionLog> {
        &self.log
    }

    /// The metrics.
    pub fn metrics(&self) -> &PolicyMetrics {
        &self.metrics
    }

    /// The request bounds.
    pub fn limits(&self) -> &DecisionLimits {
        &self.limits
    }

    /// Decides one request on the version being served, logs it in the
    /// decision log and counts it, like every API does: for a service that
    /// embeds the decision point (the CA asks `ca:issue` here). Fail closed:
    /// an invalid request, an evaluation error or a refused log record is a
    /// deny. Returns the decision and the etag of the deciding version.
    pub fn decide(
        &self,
        api: Api,
        request_id: &Arc<str>,
        req: &DecisionRequest,
    ) -> (Decision, Arc<str>) {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let decision = self.decide_logged(&version, &etag, api, request_id, req, None);
        (decision, etag)
    }

    /// Like [`DecisionPoint::decide`], for a principal established from a
    /// verified credential: the log records who vouched for it and its
    /// request-scoped entity (the admin routes, the CA's token exchange).
    pub fn decide_verified(
        &self,
        api: Api,
        request_id: &Arc<str>,
        principal: &VerifiedPrincipal,
        req: &DecisionRequest,
    ) -> (Decision, Arc<str>) {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let attrs = Value::Object(verified_attributes(principal));
        let decision = self.decide_logged(&version, &etag, api, request_id, req, Some(attrs));
        (decision, etag)
    }

    /// Logs and counts a request denied before any evaluation (no verified
    /// identity, a request that maps to no Cedar request), so that the
    /// decision log holds every answer a gateway got. Returns the deny and
    /// the etag of the version being served.
    pub fn refuse(&self, api: Api, request_id: &Arc<str>, reason: String) -> (Decision, Arc<str>) {
        let etag: Arc<str> = self.policies.load().etag().into();
        let decision = self.deny_unevaluated(api, request_id, &etag, reason);
        (decision, etag)
    }

    fn deadline(&self) -> Deadline {
        Deadline(Instant::now() + Duration::from_millis(self.limits.deadline_ms))
    }

    /// [`Self::decide`] with a context its caller built directly (see
    /// [`PolicyVersion::decide_in`]); `req.context` is what the decision log
    /// records. A context that could not be built (`Err`, its reason) is a
    /// deny, logged like any other decision: never an evaluation without it.
    pub fn decide_in(
        &self,
        api: Api,
        request_id: &Arc<str>,
        req: &DecisionRequest,
        context: Result<cedar_policy::Context, String>,
    ) -> (Decision, Arc<str>) {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let decision = self.logged(&etag, api, request_id, req, None, || match context {
            Ok(context) => version.decide_in(req, context),
            Err(reason) => Decision::deny_with_error(reason),
        });
        (decision, etag)
    }

    /// Decides, logs and counts one request.
    fn decide_logged(
        &self,
        version: &PolicyVersion,
        etag: &Arc<str>,
        api: Api,
        request_id: &Arc<str>,
        req: &DecisionRequest,
        attributes: Option<Value>,
    ) -> Decision {
        self.logged(etag, api, request_id, req, attributes, || {
            version.decide(req)
        })
    }

    /// Runs `evaluate`, then logs and counts its decision on `req`.
    fn logged(
        &self,
        etag: &Arc<str>,
        api: Api,
        request_id: &Arc<str>,
        req: &DecisionRequest,
        attributes: Option<Value>,
        evaluate: impl FnOnce() -> Decision,
    ) -> Decision {
        let start = Instant::now();
        let mut decision = evaluate();
        let elapsed = start.elapsed();
        let entry = DecisionEntry {
            time: SystemTime::now(),
            request_id: request_id.clone(),
            api,
            principal: req.principal.to_string(),
            action: req.action.to_string(),
            resource: req.resource.to_string(),
            context: req.context.clone(),
            attributes,
            allowed: decision.allowed,
            reasons: decision.reasons.clone(),
            errors: decision.errors.clone(),
            policy_version: etag.clone(),
            latency_us: elapsed.as_micros() as u64,
        };
        if self.log.submit(entry) == Admission::Refused {
            decision = Decision::deny_with_error(
                "decision log cannot keep up and logging is fail-closed: denied",
            );
        }
        self.metrics
            .decision(api, decision.allowed, elapsed.as_secs_f64());
        decision
    }

    /// Logs and counts a request that failed before evaluation.
    fn deny_unevaluated(
        &self,
        api: Api,
        request_id: &Arc<str>,
        etag: &Arc<str>,
        error: String,
    ) -> Decision {
        let decision = Decision::deny_with_error(error);
        let _ = self.log.submit(DecisionEntry {
            time: SystemTime::now(),
            request_id: request_id.clone(),
            api,
            principal: String::new(),
            action: String::new(),
            resource: String::new(),
            context: None,
            attributes: None,
            allowed: false,
            reasons: vec![],
            errors: decision.errors.clone(),
            policy_version: etag.clone(),
            latency_us: 0,
        });
        self.metrics.decision(api, false, 0.0);
        decision
    }

    fn authzen_context(etag: &Arc<str>, d: &Decision) -> DecisionContext {
        DecisionContext {
            policy_version: etag.clone(),
            reasons: d.reasons.clone(),
            error: (!d.errors.is_empty()).then(|| DecisionError {
                status: 400,
                message: d.errors.join("; "),
            }),
            errors: d.errors.clone(),
        }
    }

    fn authzen_one(
        &self,
        version: &PolicyVersion,
        etag: &Arc<str>,
        request_id: &Arc<str>,
        req: &EvaluationRequest,
    ) -> EvaluationResponse {
        let decision = match self.map_authzen(version, req) {
            Ok((dr, attrs)) => {
                self.decide_logged(version, etag, Api::Authzen, request_id, &dr, attrs)
            }
            Err(e) => self.deny_unevaluated(Api::Authzen, request_id, etag, e),
        };
        EvaluationResponse {
            decision: decision.allowed,
            context: Self::authzen_context(etag, &decision),
        }
    }

    fn map_authzen(
        &self,
        version: &PolicyVersion,
        req: &EvaluationRequest,
    ) -> Result<(DecisionRequest, Option<Value>), String> {
        let principal = self.mapping.entity_uid(&req.subject, "subject")?;
        let resource = self.mapping.entity_uid(&req.resource, "resource")?;
        let action = self.mapping.action_uid(&req.action)?;
        let mut entities = Vec::new();
        let mut attributes = Map::new();
        for (uid, props, key) in [
            (&principal, &req.subject.properties, "subject"),
            (&resource, &req.resource.properties, "resource"),
        ] {
            if let Some(props) = props.as_ref().filter(|p| !p.is_empty()) {
                entities.push(request_entity(version, uid, props));
                attributes.insert(key.into(), Value::Object(props.clone()));
            }
        }
        let request = DecisionRequest {
            principal,
            action,
            resource,
            context: req.context.clone().map(Value::Object),
            entities: (!entities.is_empty()).then(|| Value::Array(entities)),
        };
        Ok((
            request,
            (!attributes.is_empty()).then_some(Value::Object(attributes)),
        ))
    }

    /// AuthZEN access evaluation.
    pub fn authzen_evaluation(
        &self,
        request_id: &Arc<str>,
        req: &EvaluationRequest,
    ) -> (EvaluationResponse, Arc<str>) {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        (self.authzen_one(&version, &etag, request_id, req), etag)
    }

    /// AuthZEN access evaluations (batch). Results are in request order; with
    /// a short-circuiting semantic the items after the deciding one are not
    /// evaluated and not returned.
    pub fn authzen_evaluations(
        &self,
        request_id: &Arc<str>,
        req: &EvaluationsRequest,
    ) -> Result<EvaluationsResponse, BadRequest> {
        let items = match &req.evaluations {
            Some(items) if !items.is_empty() => items,
            _ => {
                // No items: AuthZEN 1.0 makes this a single evaluation of the
                // defaults, answered exactly as `/access/v1/evaluation` would.
                let single = EvaluationRequest {
                    subject: req
                        .subject
                        .clone()
                        .ok_or_else(|| BadRequest("subject is required".into()))?,
                    action: req
                        .action
                        .clone()
                        .ok_or_else(|| BadRequest("action is required".into()))?,
                    resource: req
                        .resource
                        .clone()
                        .ok_or_else(|| BadRequest("resource is required".into()))?,
                    context: req.context.clone(),
                };
                let (r, _) = self.authzen_evaluation(request_id, &single);
                return Ok(EvaluationsResponse::Single(r));
            }
        };
        if items.len() > self.limits.max_batch {
            return Err(BadRequest(format!(
                "{} evaluations in one request; at most {} are accepted",
                items.len(),
                self.limits.max_batch
            )));
        }
        let semantic = req
            .options
            .as_ref()
            .map(|o| o.evaluations_semantic)
            .unwrap_or_default();
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let deadline = self.deadline();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let merged = (|| {
                Ok::<_, String>(EvaluationRequest {
                    subject: item
                        .subject
                        .clone()
                        .or_else(|| req.subject.clone())
                        .ok_or("subject is required")?,
                    action: item
                        .action
                        .clone()
                        .or_else(|| req.action.clone())
                        .ok_or("action is required")?,
                    resource: item
                        .resource
                        .clone()
                        .or_else(|| req.resource.clone())
                        .ok_or("resource is required")?,
                    context: item.context.clone().or_else(|| req.context.clone()),
                })
            })();
            let response = match merged {
                _ if deadline.passed() => {
                    let d = self.deny_unevaluated(
                        Api::Authzen,
                        request_id,
                        &etag,
                        "request deadline exceeded before this item was evaluated".into(),
                    );
                    EvaluationResponse {
                        decision: false,
                        context: Self::authzen_context(&etag, &d),
                    }
                }
                Ok(r) => self.authzen_one(&version, &etag, request_id, &r),
                Err(e) => {
                    let d = self.deny_unevaluated(Api::Authzen, request_id, &etag, e);
                    EvaluationResponse {
                        decision: false,
                        context: Self::authzen_context(&etag, &d),
                    }
                }
            };
            let decided = response.decision;
            out.push(response);
            match semantic {
                EvaluationsSemantic::DenyOnFirstDeny if !decided => break,
                EvaluationsSemantic::PermitOnFirstPermit if decided => break,
                _ => {}
            }
        }
        Ok(EvaluationsResponse::Batch { evaluations: out })
    }

    fn map_cedar(&self, req: &CedarRequest) -> Result<DecisionRequest, String> {
        let uid = |v: &Value, what: &str| parse_uid_value(v).map_err(|e| format!("{what}: {e}"));
        if let Some(e) = &req.entities {
            if !e.is_array() {
                return Err("entities: expected an array of Cedar entities".into());
            }
        }
        if let Some(c) = &req.context {
            if !c.is_object() {
                return Err("context: expected a JSON object".into());
            }
        }
        Ok(DecisionRequest {
            principal: uid(&req.principal, "principal")?,
            action: uid(&req.action, "action")?,
            resource: uid(&req.resource, "resource")?,
            context: req.context.clone(),
            entities: req.entities.clone(),
        })
    }

    fn cedar_one(
        &self,
        version: &PolicyVersion,
        etag: &Arc<str>,
        request_id: &Arc<str>,
        req: &CedarRequest,
    ) -> CedarResponse {
        let decision = match self.map_cedar(req) {
            Ok(dr) => {
                let attrs = dr.entities.clone();
                self.decide_logged(version, etag, Api::Cedar, request_id, &dr, attrs)
            }
            Err(e) => self.deny_unevaluated(Api::Cedar, request_id, etag, e),
        };
        Self::cedar_response(etag, decision)
    }

    fn cedar_response(etag: &Arc<str>, decision: Decision) -> CedarResponse {
        CedarResponse {
            decision: if decision.allowed { "Allow" } else { "Deny" },
            diagnostics: CedarDiagnostics {
                reason: decision.reasons,
                errors: decision.errors,
            },
            policy_version: etag.clone(),
        }
    }

    /// Cedar-native single decision.
    pub fn is_authorized(&self, request_id: &Arc<str>, req: &CedarRequest) -> CedarResponse {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        self.cedar_one(&version, &etag, request_id, req)
    }

    /// Cedar-native batch, answered in order, all on one policy version.
    pub fn is_authorized_batch(
        &self,
        request_id: &Arc<str>,
        req: &CedarBatchRequest,
    ) -> Result<Vec<CedarResponse>, BadRequest> {
        if req.requests.len() > self.limits.max_batch {
            return Err(BadRequest(format!(
                "{} requests in one batch; at most {} are accepted",
                req.requests.len(),
                self.limits.max_batch
            )));
        }
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let deadline = self.deadline();
        Ok(req
            .requests
            .iter()
            .map(|r| {
                if deadline.passed() {
                    let d = self.deny_unevaluated(
                        Api::Cedar,
                        request_id,
                        &etag,
                        "request deadline exceeded before this item was evaluated".into(),
                    );
                    CedarResponse {
                        decision: "Deny",
                        diagnostics: CedarDiagnostics {
                            reason: d.reasons,
                            errors: d.errors,
                        },
                        policy_version: etag.clone(),
                    }
                } else {
                    self.cedar_one(&version, &etag, request_id, r)
                }
            })
            .collect())
    }

    /// AuthZEN evaluation for a principal established from a verified
    /// credential: the principal's request-scoped entity (attributes,
    /// groups) replaces any stored one, and its claims are `context.token`.
    pub fn authzen_evaluation_as(
        &self,
        request_id: &Arc<str>,
        principal: &VerifiedPrincipal,
        req: &TokenEvaluationRequest,
    ) -> EvaluationResponse {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let mapped = (|| {
            let resource = self.mapping.entity_uid(&req.resource, "resource")?;
            let action = self.mapping.action_uid(&req.action)?;
            let mut entities = vec![principal.entity.clone()];
            let mut attributes = verified_attributes(principal);
            if let Some(props) = req.resource.properties.as_ref().filter(|p| !p.is_empty()) {
                entities.push(request_entity(&version, &resource, props));
                attributes.insert("resource".into(), Value::Object(props.clone()));
            }
            let context = context_with(principal, req.context.clone().map(Value::Object).as_ref())?;
            Ok::<_, String>((
                DecisionRequest {
                    principal: principal.uid.clone(),
                    action,
                    resource,
                    context,
                    entities: Some(Value::Array(entities)),
                },
                attributes,
            ))
        })();
        let decision = match mapped {
            Ok((dr, attrs)) => self.decide_logged(
                &version,
                &etag,
                Api::Authzen,
                request_id,
                &dr,
                Some(Value::Object(attrs)),
            ),
            Err(e) => self.deny_unevaluated(Api::Authzen, request_id, &etag, e),
        };
        EvaluationResponse {
            decision: decision.allowed,
            context: Self::authzen_context(&etag, &decision),
        }
    }

    /// Cedar-native decision for a principal established from a verified
    /// credential (see [`DecisionPoint::authzen_evaluation_as`]). Request
    /// entities may not redefine the principal.
    pub fn is_authorized_as(
        &self,
        request_id: &Arc<str>,
        principal: &VerifiedPrincipal,
        req: &TokenCedarRequest,
    ) -> CedarResponse {
        let version = self.policies.load();
        let etag: Arc<str> = version.etag().into();
        let mapped = (|| {
            let uid =
                |v: &Value, what: &str| parse_uid_value(v).map_err(|e| format!("{what}: {e}"));
            let mut entities = vec![principal.entity.clone()];
            match &req.entities {
                None | Some(Value::Null) => {}
                Some(Value::Array(given)) => {
                    for e in given {
                        let same = e
                            .get("uid")
                            .and_then(|u| parse_uid_value(u).ok())
                            .is_some_and(|u| u == principal.uid);
                        if same {
                            return Err(
                                "entities: the principal comes from the token and cannot be given"
                                    .to_owned(),
                            );
                        }
                        entities.push(e.clone());
                    }
                }
                Some(_) => return Err("entities: expected an array of Cedar entities".into()),
            }
            Ok(DecisionRequest {
                principal: principal.uid.clone(),
                action: uid(&req.action, "action")?,
                resource: uid(&req.resource, "resource")?,
                context: context_with(principal, req.context.as_ref())?,
                entities: Some(Value::Array(entities)),
            })
        })();
        let decision = match mapped {
            Ok(dr) => {
                let attrs = Value::Object(verified_attributes(principal));
                self.decide_logged(&version, &etag, Api::Cedar, request_id, &dr, Some(attrs))
            }
            Err(e) => self.deny_unevaluated(Api::Cedar, request_id, &etag, e),
        };
        Self::cedar_response(&etag, decision)
    }

    /// AuthZEN subject search: which subjects of `subject.type` may do
    /// `action` on `resource`.
    pub fn search_subjects(
        &self,
        request_id: &Arc<str>,
        req: &SearchRequest,
    ) -> Result<SearchResponse, BadRequest> {
        let subject = req
            .subject
            .as_ref()
            .ok_or_else(|| BadRequest("subject.type is required".into()))?;
        let action = req
            .action
            .as_ref()
            .ok_or_else(|| BadRequest("action is required".into()))?;
        let resource = req
            .resource
            .as_ref()
            .ok_or_else(|| BadRequest("resource is required".into()))?;
        let ty = self
            .mapping
            .entity_type(&subject.kind)
            .map_err(BadRequest)?;
        let action = self.mapping.action_uid(action).map_err(BadRequest)?;
        let resource = self
            .mapping
            .entity_uid(resource, "resource")
            .map_err(BadRequest)?;
        let version = self.policies.load();
        let candidates = version.entities_of_type(&ty.to_string());
        self.search(
            request_id,
            &version,
            req,
            candidates,
            "subject",
            |uid| DecisionRequest {
                principal: uid.clone(),
                action: action.clone(),
                resource: resource.clone(),
                context: req.context.clone().map(Value::Object),
                entities: None,
            },
            |uid| serde_json::to_value(self.mapping.authzen_entity(uid)).unwrap_or_default(),
        )
    }

    /// AuthZEN resource search: which resources of `resource.type` `subject`
    /// may do `action` on.
    pub fn search_resources(
        &self,
        request_id: &Arc<str>,
        req: &SearchRequest,
    ) -> Result<SearchResponse, BadRequest> {
        let subject = req
            .subject
            .as_ref()
            .ok_or_else(|| BadRequest("subject is required".into()))?;
        let action = req
            .action
            .as_ref()
            .ok_or_else(|| BadRequest("action is required".into()))?;
        let resource = req
            .resource
            .as_ref()
            .ok_or_else(|| BadRequest("resource.type is required".into()))?;
        let principal = self
            .mapping
            .entity_uid(subject, "subject")
            .map_err(BadRequest)?;
        let action = self.mapping.action_uid(action).map_err(BadRequest)?;
        let ty = self
            .mapping
            .entity_type(&resource.kind)
            .map_err(BadRequest)?;
        let version = self.policies.load();
        let candidates = version.entities_of_type(&ty.to_string());
        self.search(
            request_id,
            &version,
            req,
            candidates,
            "resource",
            |uid| DecisionRequest {
                principal: principal.clone(),
                action: action.clone(),
                resource: uid.clone(),
                context: req.context.clone().map(Value::Object),
                entities: None,
            },
            |uid| serde_json::to_value(self.mapping.authzen_entity(uid)).unwrap_or_default(),
        )
    }

    /// AuthZEN action search: which actions `subject` may do on `resource`.
    pub fn search_actions(
        &self,
        request_id: &Arc<str>,
        req: &SearchRequest,
    ) -> Result<SearchResponse, BadRequest> {
        let subject = req
            .subject
            .as_ref()
            .ok_or_else(|| BadRequest("subject is required".into()))?;
        let resource = req
            .resource
            .as_ref()
            .ok_or_else(|| BadRequest("resource is required".into()))?;
        let principal = self
            .mapping
            .entity_uid(subject, "subject")
            .map_err(BadRequest)?;
        let resource = self
            .mapping
            .entity_uid(resource, "resource")
            .map_err(BadRequest)?;
        let version = self.policies.load();
        let actions = version.actions();
        self.search(
            request_id,
            &version,
            req,
            &actions,
            "action",
            |uid| DecisionRequest {
                principal: principal.clone(),
                action: uid.clone(),
                resource: resource.clone(),
                context: req.context.clone().map(Value::Object),
                entities: None,
            },
            |uid| json!({ "name": uid.id().unescaped() }),
        )
    }

    #[allow(clippy::too_many_arguments)] // one private helper shared by the three searches
    fn search(
        &self,
        request_id: &Arc<str>,
        version: &PolicyVersion,
        req: &SearchRequest,
        candidates: &[EntityUid],
        searched: &str,
        request_for: impl Fn(&EntityUid) -> DecisionRequest,
        result_for: impl Fn(&EntityUid) -> Value,
    ) -> Result<SearchResponse, BadRequest> {
        let page = req.page.clone().unwrap_or_default();
        let limit = page
            .limit
            .unwrap_or(self.limits.search_page_size)
            .clamp(1, self.limits.search_max_page_size) as usize;
        let start = match page.token.as_deref().filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => decode_token(t)
                .ok_or_else(|| BadRequest("page.token is not a token this server issued".into()))?,
        };
        let deadline = self.deadline();
        let begin = Instant::now();
        let mut results = Vec::new();
        let mut next = None;
        let mut i = start;
        while i < candidates.len() {
            if results.len() == limit || deadline.passed() {
                next = Some(i);
                break;
            }
            if version.decide(&request_for(&candidates[i])).allowed {
                results.push(result_for(&candidates[i]));
            }
            i += 1;
        }
        let etag: Arc<str> = version.etag().into();
        let template = request_for(candidates.first().unwrap_or(&placeholder()));
        let mut entry = DecisionEntry {
            time: SystemTime::now(),
            request_id: request_id.clone(),
            api: Api::AuthzenSearch,
            principal: template.principal.to_string(),
            action: template.action.to_string(),
            resource: template.resource.to_string(),
            context: req.context.clone().map(Value::Object),
            attributes: Some(json!({ "search": searched, "results": results.len() })),
            allowed: !results.is_empty(),
            reasons: vec![],
            errors: vec![],
            policy_version: etag,
            latency_us: begin.elapsed().as_micros() as u64,
        };
        match searched {
            "subject" => entry.principal = "*".into(),
            "resource" => entry.resource = "*".into(),
            _ => entry.action = "*".into(),
        }
        if self.log.submit(entry) == Admission::Refused {
            return Ok(SearchResponse {
                results: vec![],
                page: json!({ "next_token": "", "count": 0 }),
            });
        }
        self.metrics.decision(
            Api::AuthzenSearch,
            !results.is_empty(),
            begin.elapsed().as_secs_f64(),
        );
        let page = json!({
            "next_token": next.map(encode_token).unwrap_or_default(),
            "count": results.len(),
        });
        Ok(SearchResponse { results, page })
    }

    /// The AuthZEN form of an entity uid.
    pub fn authzen_entity(&self, uid: &EntityUid) -> AuthzenEntity {
        self.mapping.authzen_entity(uid)
    }
}

/// What the decision log records about a verified principal.
fn verified_attributes(principal: &VerifiedPrincipal) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "authority".into(),
        Value::String(principal.authority.clone()),
    );
    m.insert("principal".into(), principal.entity.clone());
    m
}

fn placeholder() -> EntityUid {
    EntityUid::from_type_name_and_id(
        "Unknown".parse().expect("valid type name"),
        cedar_policy::EntityId::new(""),
    )
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}
