//! From evidence to control statuses: the report.
//!
//! Rules, in order (each control's `reason` says which one applied):
//! 1. A current waiver makes the control `waived` (its checks still run and
//!    are shown). An expired waiver does not suppress and is listed.
//! 2. A control mapped `not_applicable` is `not_applicable`.
//! 3. Any mapped check that is not `pass` (fail, stale, no evidence) makes
//!    the control `fail`.
//! 4. `automated`: all checks pass, so `pass`.
//! 5. `partial`: all checks pass; `pass` with a current attestation,
//!    otherwise `manual`.
//! 6. `manual`: `pass` with a current attestation, otherwise `manual`.
//!
//! So a control with no automated check and no current attestation is never
//! `pass`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::attest::{Attestation, Attestations, Waiver};
use crate::catalog::{Automation, Catalog, Framework, Requirement};
use crate::checks::{evaluate, CheckResult, CheckStatus};
use crate::evidence::{rfc3339, Evidence};

/// The rules, as the report states them.
pub const RULES: [&str; 6] = [
    "A current waiver makes the control `waived`; its checks are still shown. An expired waiver does not suppress and is listed.",
    "A control mapped `not_applicable` is `not_applicable`.",
    "Any mapped check that does not pass (fail, stale evidence, no evidence) makes the control `fail`.",
    "An `automated` control whose checks all pass is `pass`.",
    "A `partial` control whose checks all pass is `pass` with a current attestation, otherwise `manual`.",
    "A `manual` control is `pass` only with a current attestation, otherwise `manual`: without automated evidence or a current attestation a control is never `pass`.",
];

/// A control's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Passing on evidence (and, where required, a current attestation).
    Pass,
    /// A mapped check does not pass.
    Fail,
    /// Needs a person: no current attestation.
    Manual,
    /// Covered by a current waiver.
    Waived,
    /// Out of scope.
    NotApplicable,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Fail,
        Status::Manual,
        Status::Waived,
        Status::NotApplicable,
    ];

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Manual => "manual",
            Status::Waived => "waived",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// One control's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResult {
    /// Control id.
    pub id: String,
    /// Family id.
    pub family: String,
    /// Title.
    pub title: String,
    /// Required / addressable (HIPAA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<Requirement>,
    /// The standard of an implementation specification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Automation level of the mapping.
    pub automation: Automation,
    /// Why this mapping.
    pub rationale: String,
    /// The status.
    pub status: Status,
    /// Which rule decided it, in words.
    pub reason: String,
    /// Mapped check ids (results in [`Report::checks`]).
    pub checks: Vec<String>,
    /// Evidence ids the checks read.
    pub evidence: Vec<String>,
    /// The current attestation, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
    /// The waiver that applies (current or expired), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Waiver>,
    /// Whether that waiver has expired.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub waiver_expired: bool,
}

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Controls.
    pub total: u64,
    /// Pass.
    pub pass: u64,
    /// Fail.
    pub fail: u64,
    /// Manual.
    pub manual: u64,
    /// Waived.
    pub waived: u64,
    /// Not applicable.
    pub not_applicable: u64,
}

impl Summary {
    fn add(&mut self, s: Status) {
        self.total += 1;
        *match s {
            Status::Pass => &mut self.pass,
            Status::Fail => &mut self.fail,
            Status::Manual => &mut self.manual,
            Status::Waived => &mut self.waived,
            Status::NotApplicable => &mut self.not_applicable,
        } += 1;
    }

    /// The count of one status.
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Pass => self.pass,
            Status::Fail => self.fail,
            Status::Manual => self.manual,
            Status::Waived => self.waived,
            Status::NotApplicable => self.not_applicable,
        }
    }
}

/// A family and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilySummary {
    /// Family id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Counts.
    pub summary: Summary,
}

/// The framework a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkRef {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Source document version.
    pub version: String,
    /// The catalogue file.
    pub file: String,
}

/// A compliance report: every control's status, the check results and the
/// evidence they cite. Its JSON form is the native, complete export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `palisade-compliance-report/1`.
    pub schema: String,
    /// The framework.
    pub framework: FrameworkRef,
    /// When it was generated (RFC 3339).
    pub generated_at: String,
    /// How statuses are derived.
    pub rules: Vec<String>,
    /// Counts over all controls.
    pub summary: Summary,
    /// Counts per family, in catalogue order.
    pub families: Vec<FamilySummary>,
    /// Controls, in catalogue order.
    pub controls: Vec<ControlResult>,
    /// Results of every check a control maps, by check id.
    pub checks: Vec<CheckResult>,
    /// The evidence the checks cite, by id.
    pub evidence: Vec<Evidence>,
}

/// The report's schema name.
pub const REPORT_SCHEMA: &str = "palisade-compliance-report/1";

/// Builds the report of `framework` from `evidence` at `now`.
pub fn assess(
    catalog: &Catalog,
    framework: &Framework,
    evidence: &[Evidence],
    attestations: &Attestations,
    now: OffsetDateTime,
) -> Report {
    let today = now.date();
    let mut results: BTreeMap<&str, CheckResult> = BTreeMap::new();
    for c in &framework.controls {
        for id in &c.checks {
            if !results.contains_key(id.as_str()) {
                let r = match catalog.check(id) {
                    Some(def) => evaluate(def, evidence, now),
                    None => CheckResult {
                        check: id.clone(),
                        status: CheckStatus::NoEvidence,
                        detail: "not in the check registry".into(),
                        evidence: Vec::new(),
                    },
                };
                results.insert(id.as_str(), r);
            }
        }
    }
    let mut summary = Summary::default();
    let mut per_family: BTreeMap<&str, Summary> = BTreeMap::new();
    let mut cited = BTreeSet::new();
    let mut controls = Vec::with_capacity(framework.controls.len());
    for c in &framework.controls {
        let rs: Vec<&CheckResult> = c
            .checks
            .iter()
            .filter_map(|id| results.get(id.as_str()))
            .collect();
        let ev: BTreeSet<String> = rs.iter().flat_map(|r| r.evidence.iter().cloned()).collect();
        cited.extend(ev.iter().cloned());
        let att = attestations
            .attestations
            .iter()
            .filter(|a| a.framework == framework.id && a.control == c.id && a.is_current(today))
            .max_by(|a, b| a.date.cmp(&b.date))
            .cloned();
        let waivers: Vec<&Waiver> = attestations
            .waivers
            .iter()
            .filter(|w| w.framework == framework.id && w.control == c.id)
            .collect();
        let current_waiver = waivers.iter().find(|w| w.is_current(today)).copied();
        let expired_waiver = waivers.iter().find(|w| !w.is_current(today)).copied();
        let failing: Vec<&&CheckResult> = rs
            .iter()
            .filter(|r| r.status != CheckStatus::Pass)
            .collect();
        let (status, reason) = if let Some(w) = current_waiver {
            (
                Status::Waived,
                format!(
                    "rule 1: waived until {} by {}: {}",
                    w.expires, w.approver, w.justification
                ),
            )
        } else if c.automation == Automation::NotApplicable {
            (
                Status::NotApplicable,
                format!("rule 2: not applicable: {}", c.rationale),
            )
        } else if !failing.is_empty() {
            let what: Vec<String> = failing
                .iter()
                .map(|r| format!("{} is {}", r.check, r.status.as_str()))
                .collect();
            (Status::Fail, format!("rule 3: {}", what.join(", ")))
        } else {
            match (c.automation, &att) {
                (Automation::Automated, _) => (
                    Status::Pass,
                    format!("rule 4: all {} check(s) pass", rs.len()),
                ),
                (Automation::Partial, Some(a)) => (
                    Status::Pass,
                    format!(
                        "rule 5: all {} check(s) pass and {} attested on {}",
                        rs.len(),
                        a.owner,
                        a.date
                    ),
                ),
                (Automation::Partial, None) => (
                    Status::Manual,
                    format!(
                        "rule 5: all {} check(s) pass; the rest needs a current attestation",
                        rs.len()
                    ),
                ),
                (_, Some(a)) => (
                    Status::Pass,
                    format!(
                        "rule 6: attested by {} on {}, current until {}",
                        a.owner,
                        a.date,
                        a.valid_until()
                    ),
                ),
                (_, None) => (
                    Status::Manual,
                    "rule 6: no automated evidence and no current attestation".into(),
                ),
            }
        };
        let mut reason = reason;
        if let (Some(w), None) = (expired_waiver, current_waiver) {
            reason.push_str(&format!(
                " (waiver expired on {}, no longer applies)",
                w.expires
            ));
        }
        summary.add(status);
        per_family.entry(c.family.as_str()).or_default().add(status);
        let waiver = current_waiver.or(expired_waiver).cloned();
        controls.push(ControlResult {
            id: c.id.clone(),
            family: c.family.clone(),
            title: c.title.clone(),
            requirement: c.requirement,
            parent: c.parent.clone(),
            automation: c.automation,
            rationale: c.rationale.clone(),
            status,
            reason,
            checks: c.checks.clone(),
            evidence: ev.into_iter().collect(),
            attestation: att,
            waiver_expired: current_waiver.is_none() && waiver.is_some(),
            waiver,
        });
    }
    Report {
        schema: REPORT_SCHEMA.into(),
        framework: FrameworkRef {
            id: framework.id.clone(),
            title: framework.title.clone(),
            version: framework.version.clone(),
            file: framework.file.clone(),
        },
        generated_at: rfc3339(now),
        rules: RULES.iter().map(|s| (*s).to_owned()).collect(),
        summary,
        families: framework
            .families
            .iter()
            .map(|f| FamilySummary {
                id: f.id.clone(),
                title: f.title.clone(),
                summary: per_family.remove(f.id.as_str()).unwrap_or_default(),
            })
            .collect(),
        controls,
        checks: results.into_values().collect(),
        evidence: {
            let mut ev: Vec<Evidence> = evidence
                .iter()
                .filter(|e| cited.contains(&e.id))
                .cloned()
                .collect();
            ev.sort_by(|a, b| a.id.cmp(&b.id));
            ev
        },
    }
}
