//! Palisade's authorization engine.
mod bundle;
pub mod decision_log;
mod diagnostic;
mod error;
mod metrics;
mod policy_store;
mod version;

pub use bundle::{PolicyBundle, SourceFile};
pub use diagnostic::Diagnostic;
pub use error::PolicyError;
pub use metrics::{Api, PolicyMetrics};
pub use policy_store::{PolicyStore, PolicyUpdate, WatchHandle};
pub use version::{Decision, DecisionRequest, OnEvaluationError, PolicyVersion};
