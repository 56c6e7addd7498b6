//! The declarative check format, shared by the built-in catalogues and by users' own checks (TOML).
//!
//! ```toml
//! [[check]]
//! id = "ACME-001"                      # stable, unique
//! title = "Containers must come from our registry"
//! severity = "high"                    # low, medium, high, critical
//! target = "container"                 # object, pod, container | resource, data | instruction
//! kinds = ["Deployment", "StatefulSet"] # optional: object kinds, resource types or instruction names
//! each = "ports[*]"                    # optional: one finding per element of this path (`a|b`: of both)
//! message = "image {value} is not from registry.acme.example"
//! risk = "Images from elsewhere are not scanned nor signed."
//! remediation = "Push the image to registry.acme.example and deploy it from there."
//! checkov = []                         # optional cross-references
//! trivy = []
//! controls = ["SOC2 CC7.1"]
//! [[check.when]]                       # every condition must hold
//! path = "image"                       # dotted path; `[*]` (or `.*`) any element or mapping value, `[0]` one;
//!                                      # `a|b`: the first that is present wins;
//!                                      # `$pod.` / `$object.` start at the pod spec / the whole object
//! not_matches = "^registry\\.acme\\.example/"
//! ```
//!
//! Operators (exactly one per condition): `equals`, `not_equals` (true when absent), `in`, `not_in`,
//! `not_in_or_absent`, `matches`,
//! `not_matches` (regular expressions on the value's text), `present`, `absent`, `gt`, `lt`, `contains`,
//! `not_contains` (a sequence holding the value; `not_contains` is true when absent), `keys_not_in` (a mapping with
//! a key outside the list), `empty` (an empty mapping or sequence).

use serde::Deserialize;

use crate::vulndb::schema::Severity;

/// What a check's paths start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckTarget {
    /// A whole Kubernetes object (`kinds` filters on `kind`).
    Object,
    /// The pod spec of a workload (at its real path: `spec`, `spec.template.spec`, ...).
    Pod,
    /// Each container, init container and ephemeral container of a workload.
    Container,
    /// A Terraform `resource` block (`kinds` filters on its type).
    Resource,
    /// A Terraform `data` block.
    Data,
    /// A Dockerfile instruction (`kinds` filters on its name).
    Instruction,
}

impl CheckTarget {
    /// The file kind this target belongs to.
    pub fn family(self) -> super::super::Family {
        use super::super::Family;
        match self {
            CheckTarget::Object | CheckTarget::Pod | CheckTarget::Container => Family::Kubernetes,
            CheckTarget::Resource | CheckTarget::Data => Family::Terraform,
            CheckTarget::Instruction => Family::Dockerfile,
        }
    }
}

/// One check as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    /// Stable id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity name.
    pub severity: String,
    /// What the paths start from; absent for built-in checks implemented in code.
    #[serde(default)]
    pub target: Option<CheckTarget>,
    /// Kinds / resource types / instruction names the check applies to (empty: all).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// One finding per element of this path.
    #[serde(default)]
    pub each: Option<String>,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub when: Vec<ConditionDef>,
    /// Message template (`{value}`, `{name}`, `{object}`).
    #[serde(default)]
    pub message: String,
    /// The risk, for the developer reading the finding.
    pub risk: String,
    /// How to fix it.
    pub remediation: String,
    /// Checkov ids.
    #[serde(default)]
    pub checkov: Vec<String>,
    /// Trivy ids.
    #[serde(default)]
    pub trivy: Vec<String>,
    /// Compliance controls it supports.
    #[serde(default)]
    pub controls: Vec<String>,
    /// Pod Security Standards profile (`baseline`, `restricted`) for Kubernetes checks.
    #[serde(default)]
    pub profile: Option<String>,
}

/// One condition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is one operator, documented in the module
pub struct ConditionDef {
    pub path: String,
    pub equals: Option<toml::Value>,
    pub not_equals: Option<toml::Value>,
    #[serde(rename = "in")]
    pub in_: Option<Vec<toml::Value>>,
    pub not_in: Option<Vec<toml::Value>>,
    pub not_in_or_absent: Option<Vec<toml::Value>>,
    pub matches: Option<String>,
    pub not_matches: Option<String>,
    pub present: Option<bool>,
    pub absent: Option<bool>,
    pub gt: Option<f64>,
    pub lt: Option<f64>,
    pub contains: Option<toml::Value>,
    pub not_contains: Option<toml::Value>,
    pub keys_not_in: Option<Vec<String>>,
    pub empty: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(default)]
    check: Vec<CheckDef>,
}

/// Parses a check file; `origin` names it in errors.
pub fn parse_check_file(text: &str, origin: &str) -> Result<Vec<CheckDef>, String> {
    let f: CheckFile = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    Ok(f.check)
}

/// The severity of a definition.
pub(crate) fn severity(d: &CheckDef) -> Result<Severity, String> {
    Severity::parse(&d.severity)
        .filter(|s| *s != Severity::Unknown)
        .ok_or_else(|| {
            format!(
                "check {}: severity {:?} is not low, medium, high or critical",
                d.id, d.severity
            )
        })
}
