//! Prometheus metrics of the decision API.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::version::PolicyVersion;

/// Which API produced a decision (a metric label and a decision log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /access/v1/evaluation` and each item of `/access/v1/evaluations`.
    Authzen,
    /// AuthZEN search endpoints (one decision per candidate is not logged).
    AuthzenSearch,
    /// `POST /v1/is_authorized` and its batch form.
    Cedar,
    /// The command line (`palisade authorize`, `palisade policy test`).
    Cli,
    /// An embedding service deciding for itself (the CA's `ca:issue`).
    Embedded,
    /// Palisade's own admin routes (`admin:*` actions, the caller's identity).
    Admin,
    /// Envoy / Istio external authorization (`palisade-extauthz`).
    ExtAuthz,
}

impl Api {
    const ALL: [Api; 7] = [
        Api::Authzen,
        Api::AuthzenSearch,
        Api::Cedar,
        Api::Cli,
        Api::Embedded,
        Api::Admin,
        Api::ExtAuthz,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Authzen => "authzen",
            Api::AuthzenSearch => "authzen_search",
            Api::Cedar => "cedar",
            Api::Cli => "cli",
            Api::Embedded => "embedded",
            Api::Admin => "admin",
            Api::ExtAuthz => "ext_authz",
        }
    }
}

/// The metrics registry and the handles the request path updates.
#[derive(Clone)]
pub struct PolicyMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    decisions: Vec<[IntCounter; 2]>,
    latency: Vec<Histogram>,
    reload_ok: IntCounter,
    reload_failed: IntCounter,
    policies: IntGauge,
    entities: IntGauge,
    log_queue_depth: IntGauge,
    log_dropped: IntCounter,
    log_denied: IntCounter,
    log_written: IntCounter,
    log_write_errors: IntCounter,
}

impl std::fmt::Debug for PolicyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyMetrics")
    }
}

impl Default for PolicyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl PolicyMetrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let decisions = IntCounterVec::new(
            Opts::new(
                "palisade_decisions_total",
                "Authorization decisions by API and result.",
            ),
            &["api", "decision"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(decisions.clone()))
            .expect("unique metric");
        let latency = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "palisade_decision_duration_seconds",
                "Time to decide one request, from decoded request to encoded answer.",
            )
            .buckets(vec![
                0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
                0.002_5, 0.005, 0.01, 0.025, 0.1,
            ]),
            &["api"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        let reloads = IntCounterVec::new(
            Opts::new("palisade_policy_reloads_total", "Policy updates by result."),
            &["result"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(reloads.clone()))
            .expect("unique metric");
        Self(Arc::new(Inner {
            decisions: Api::ALL
                .iter()
                .map(|a| {
                    [
                        decisions.with_label_values(&[a.as_str(), "allow"]),
                        decisions.with_label_values(&[a.as_str(), "deny"]),
                    ]
                })
                .collect(),
            latency: Api::ALL
                .iter()
                .map(|a| latency.with_label_values(&[a.as_str()]))
                .collect(),
            reload_ok: reloads.with_label_values(&["success"]),
            reload_failed: reloads.with_label_values(&["failure"]),
            policies: gauge(
                &registry,
                "palisade_policies",
                "Policies in the served version.",
            ),
            entities: gauge(
                &registry,
                "palisade_entities",
                "Entities in the served version.",
            ),
            log_queue_depth: gauge(
                &registry,
                "palisade_decision_log_queue_depth",
                "Decisions waiting to be written to the decision log.",
            ),
            log_dropped: counter(
                &registry,
                "palisade_decision_log_dropped_total",
                "Decisions not logged because the log queue was full.",
            ),
            log_denied: counter(
                &registry,
                "palisade_decision_log_denied_total",
                "Requests denied because the log queue was full (fail-closed logging).",
            ),
            log_written: counter(
                &registry,
                "palisade_decision_log_written_total",
                "Decisions written to the decision log.",
            ),
            log_write_errors: counter(
                &registry,
                "palisade_decision_log_write_errors_total",
                "Failed decision log writes (retried).",
            ),
            registry,
        }))
    }

    /// Counts one decision and its latency.
    pub fn decision(&self, api: Api, allowed: bool, seconds: f64) {
        let i = api as usize;
        self.0.decisions[i][usize::from(!allowed)].inc();
        self.0.latency[i].observe(seconds);
    }

    /// Counts a policy update.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.0.reload_ok.inc()
        } else {
            self.0.reload_failed.inc()
        }
    }

    pub(crate) fn observe_version(&self, v: &PolicyVersion) {
        self.0.policies.set(v.policy_count() as i64);
        self.0.entities.set(v.entity_count() as i64);
    }

    pub(crate) fn log_queue_depth(&self, depth: usize) {
        self.0.log_queue_depth.set(depth as i64);
    }
    pub(crate) fn log_dropped(&self) {
        self.0.log_dropped.inc();
    }
    pub(crate) fn log_denied(&self) {
        self.0.log_denied.inc();
    }
    pub(crate) fn log_written(&self, n: usize) {
        self.0.log_written.inc_by(n as u64);
    }
    pub(crate) fn log_write_error(&self) {
        self.0.log_write_errors.inc();
    }

    /// Decisions dropped from the log so far.
    pub fn dropped(&self) -> u64 {
        self.0.log_dropped.get()
    }

    /// The registry, for adding other components' metrics.
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.0.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
