//! Palisade's authorization engine.
mod authzen;
mod bundle;
pub mod decision_log;
mod diagnostic;
mod error;
mod http;
mod metrics;
mod pdp;
mod policy_store;
pub mod policy_tests;
mod version;

pub use authzen::{
    AuthzenAction, AuthzenEntity, AuthzenMapping, EvaluationItem, EvaluationRequest,
    EvaluationResponse, EvaluationsOptions, EvaluationsRequest, EvaluationsSemantic, PageRequest,
    SearchRequest,
};
pub use bundle::{PolicyBundle, SourceFile};
pub use diagnostic::Diagnostic;
pub use error::PolicyError;
pub use http::{router, AdminAuth, HttpOptions, OPENAPI};
pub use metrics::{Api, PolicyMetrics};
pub use pdp::{
    BadRequest, CedarBatchRequest, CedarDiagnostics, CedarRequest, CedarResponse, DecisionLimits,
    DecisionPoint, SearchResponse,
};
pub use policy_store::{PolicyStore, PolicyUpdate, WatchHandle};
pub use version::{Decision, DecisionRequest, OnEvaluationError, PolicyVersion};
