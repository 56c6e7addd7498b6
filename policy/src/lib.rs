//! Palisade's authorization engine: Cedar policies behind a decision API.
//!
//! Services, API gateways and CI ask one question — *may this principal do
//! this action on this resource?* — through the OpenID AuthZEN Authorization
//! API 1.0 or a Cedar-native API. This crate answers it.
//!
//! # Features
//! - **Policy bundles** ([`PolicyBundle`]): Cedar policies, templates and
//!   template links, an optional schema (strict validation), entities; every
//!   problem reported with file, line and column ([`Diagnostic`]).
//! - **Atomic hot reload** ([`PolicyStore`]): directory changes, SIGHUP and the
//!   admin API compile a complete new [`PolicyVersion`] and swap it in one
//!   step; a bad update is refused while the old version keeps serving. Each
//!   version has an etag that every decision reports.
//! - **Decisions** ([`DecisionPoint`]): AuthZEN single, batch (all three
//!   semantics) and search; Cedar-native single and batch. Fail closed: any
//!   error is a deny with a reason ([`OnEvaluationError`]).
//! - **Decision log** ([`decision_log`]): every decision, hash-chained,
//!   masked where it holds personal data, pruned with signed checkpoints, and
//!   written off the request path through a bounded queue.
//! - **HTTP** ([`router`]) and **metrics** ([`PolicyMetrics`]).
//!
//! # Design
//! Decision latency does not depend on the size of the entity store: each
//! version builds its Cedar `Entities` once, and requests share it. Requests
//! that bring their own entities get a slice of the store reachable from the
//! request instead of a copy (see [`PolicyVersion`]).
//!
//! # Getting started
//! ```
//! use palisade_policy::{DecisionRequest, OnEvaluationError, PolicyBundle, PolicyVersion, SourceFile};
//!
//! let bundle = PolicyBundle {
//!     policies: vec![SourceFile {
//!         name: "readers.cedar".into(),
//!         text: r#"permit(principal == User::"alice", action == Action::"read", resource);"#.into(),
//!     }],
//!     ..Default::default()
//! };
//! let version = PolicyVersion::compile(bundle, OnEvaluationError::Deny)?;
//! let decision = version.decide(&DecisionRequest {
//!     principal: r#"User::"alice""#.parse().unwrap(),
//!     action: r#"Action::"read""#.parse().unwrap(),
//!     resource: r#"Doc::"1""#.parse().unwrap(),
//!     context: None,
//!     entities: None,
//! });
//! assert!(decision.allowed);
//! assert_eq!(decision.reasons, ["readers.cedar#0"]);
//! # Ok::<(), palisade_policy::PolicyError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod admin;
mod authzen;
mod bundle;
pub mod decision_log;
mod diagnostic;
mod error;
mod http;
mod json_shape;
mod metrics;
mod nesting;
mod pdp;
mod policy_store;
pub mod policy_tests;
mod principal;
mod version;

pub use admin::{
    AdminAction, AdminCaller, AdminGuard, Caller, DecisionAccess, PeerPrincipal,
    BREAK_GLASS_PRINCIPAL,
};
pub use authzen::{
    AuthzenAction, AuthzenEntity, AuthzenMapping, DecisionContext, DecisionError, EvaluationItem,
    EvaluationRequest, EvaluationResponse, EvaluationsOptions, EvaluationsRequest,
    EvaluationsResponse, EvaluationsSemantic, PageRequest, SearchRequest,
};
pub use bundle::{PolicyBundle, SourceFile, MAX_BUNDLE_BYTES, MAX_FILE_BYTES};
pub use diagnostic::Diagnostic;
pub use error::PolicyError;
pub use http::{router, token_router, HttpOptions, OPENAPI};
pub use metrics::{Api, PolicyMetrics};
pub use pdp::{
    BadRequest, CedarBatchRequest, CedarDiagnostics, CedarRequest, CedarResponse, DecisionLimits,
    DecisionPoint, SearchResponse,
};
pub use policy_store::{FollowHandle, PolicyStore, PolicyUpdate, WatchHandle};
pub use principal::{
    Authentication, TokenAuthenticator, TokenCedarRequest, TokenEvaluationRequest, Unauthenticated,
    VerifiedPrincipal,
};
pub use version::{Decision, DecisionRequest, OnEvaluationError, PolicyVersion};
