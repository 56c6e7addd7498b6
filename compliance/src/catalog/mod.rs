//! Control catalogues, the check registry and mappings, loaded from TOML
//! data files and validated as a whole.
//!
//! The built-in files live in the crate (`compliance/checks.toml`,
//! `compliance/frameworks/{soc2,hipaa,gdpr}.toml`) and are embedded in the
//! binary. A user framework file (`--framework-file`) is loaded the same way;
//! one whose `framework.id` equals a built-in one replaces it, which is how a
//! mapping is changed without recompiling. Every reference is checked: an
//! unknown check id, a duplicate id, a control in a family that does not
//! exist or a `parent` that does not exist is an error with file and line.

pub(crate) mod diags;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use diags::Diagnostic;
use diags::FileDiags;

use crate::checks::IMPLEMENTED;
use crate::error::ComplianceError;

/// How a control's status is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Automation {
    /// The mapped checks decide.
    Automated,
    /// The checks must pass and a current attestation covers the rest.
    Partial,
    /// Only a current attestation can make it pass.
    Manual,
    /// Out of scope, with a rationale.
    NotApplicable,
}

impl Automation {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Automation::Automated => "automated",
            Automation::Partial => "partial",
            Automation::Manual => "manual",
            Automation::NotApplicable => "not_applicable",
        }
    }
}

/// HIPAA's marking of an implementation specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Must be implemented.
    Required,
    /// Implemented if reasonable and appropriate, or an equivalent documented.
    Addressable,
}

/// One automated check of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckDef {
    /// Stable id (`ca.short-lived-certs`).
    pub id: String,
    /// The evidence source it reads (`ca.ledger`).
    pub source: String,
    /// Short title.
    pub title: String,
    /// What passing means, for the report's reader.
    pub passes_when: String,
    /// Evidence older than this many hours is stale (not passing).
    pub freshness_hours: u64,
}

/// A family (group) of controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Family {
    /// Id (`CC6`).
    pub id: String,
    /// Title.
    pub title: String,
}

/// One control and its mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    /// Id within its framework (`CC6.1`, `164.312(b)`, `Art.32(1)(a)`).
    pub id: String,
    /// Family id.
    pub family: String,
    /// Short title.
    pub title: String,
    /// `standard` or `implementation` (HIPAA), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Required or addressable (HIPAA), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<Requirement>,
    /// The standard an implementation specification belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// How its status is decided.
    pub automation: Automation,
    /// Check ids from the registry.
    pub checks: Vec<String>,
    /// Why these checks (or why manual / not applicable).
    pub rationale: String,
}

/// A control framework: families and controls with their mappings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Framework {
    /// Id (`soc2`, `hipaa`, `gdpr`, or a custom one).
    pub id: String,
    /// Title.
    pub title: String,
    /// Version of the source document.
    pub version: String,
    /// The file it was loaded from.
    pub file: String,
    /// Families, in file order.
    pub families: Vec<Family>,
    /// Controls, in file order.
    pub controls: Vec<Control>,
}

/// The check registry and every loaded framework.
#[derive(Debug, Clone)]
pub struct Catalog {
    checks: BTreeMap<String, CheckDef>,
    frameworks: Vec<Framework>,
}

/// The built-in check registry.
pub const BUILTIN_CHECKS: (&str, &str) =
    ("compliance/checks.toml", include_str!("../../checks.toml"));

/// The built-in frameworks.
pub const BUILTIN_FRAMEWORKS: [(&str, &str); 3] = [
    (
        "compliance/frameworks/soc2.toml",
        include_str!("../../frameworks/soc2.toml"),
    ),
    (
        "compliance/frameworks/hipaa.toml",
        include_str!("../../frameworks/hipaa.toml"),
    ),
    (
        "compliance/frameworks/gdpr.toml",
        include_str!("../../frameworks/gdpr.toml"),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    check: Vec<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: Spanned<String>,
    source: Spanned<String>,
    title: String,
    passes_when: String,
    freshness_hours: Spanned<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    framework: RawHeader,
    #[serde(default)]
    family: Vec<RawFamily>,
    #[serde(default)]
    control: Vec<RawControl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFamily {
    id: Spanned<String>,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: Spanned<String>,
    family: Spanned<String>,
    title: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    requirement: Option<Requirement>,
    #[serde(default)]
    parent: Option<Spanned<String>>,
    automation: Spanned<Automation>,
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    rationale: Spanned<String>,
}

/// Largest data file accepted (catalogues are a few hundred KiB at most).
pub(crate) const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

fn parse<T: serde::de::DeserializeOwned>(d: &mut FileDiags<'_>, text: &str) -> Option<T> {
    if text.len() > MAX_FILE_BYTES {
        d.at(0, format!("file is over {MAX_FILE_BYTES} bytes"));
        return None;
    }
    match toml::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            d.toml(&e);
            None
        }
    }
}

impl Catalog {
    /// The built-in registry and the SOC 2, HIPAA and GDPR frameworks.
    pub fn builtin() -> Result<Self, ComplianceError> {
        Self::load(&[], &[])
    }

    /// The built-in registry and frameworks, with `checks_files` overriding
    /// registry entries (same id) and `framework_files` added or replacing a
    /// built-in framework of the same id. Files are `(name, text)`.
    pub fn load(
        checks_files: &[(&str, &str)],
        framework_files: &[(&str, &str)],
    ) -> Result<Self, ComplianceError> {
        let mut diags = Vec::new();
        let mut checks = BTreeMap::new();
        load_registry(BUILTIN_CHECKS, &mut checks, &mut diags, true);
        for f in checks_files {
            load_registry(*f, &mut checks, &mut diags, false);
        }
        let mut frameworks: Vec<Framework> = Vec::new();
        let mut user_ids = BTreeSet::new();
        for (i, (name, text)) in BUILTIN_FRAMEWORKS
            .iter()
            .chain(framework_files.iter())
            .enumerate()
        {
            let user = i >= BUILTIN_FRAMEWORKS.len();
            let mut d = FileDiags::new(name, text, &mut diags);
            let Some(fw) = load_framework(&mut d, text, &checks) else {
                continue;
            };
            if user && !user_ids.insert(fw.id.clone()) {
                let at = text.find("[framework]").unwrap_or(0);
                d.at(at, format!("framework `{}` is given by two files", fw.id));
                continue;
            }
            match frameworks.iter_mut().find(|f| f.id == fw.id) {
                Some(existing) if user => *existing = fw,
                Some(_) => d.at(0, format!("duplicate built-in framework `{}`", fw.id)),
                None => frameworks.push(fw),
            }
        }
        if diags.is_empty() {
            Ok(Catalog { checks, frameworks })
        } else {
            Err(ComplianceError::Load(diags))
        }
    }

    /// Every registered check, by id.
    pub fn checks(&self) -> impl Iterator<Item = &CheckDef> {
        self.checks.values()
    }

    /// One registered check.
    pub fn check(&self, id: &str) -> Option<&CheckDef> {
        self.checks.get(id)
    }

    /// Every framework, built-ins first.
    pub fn frameworks(&self) -> &[Framework] {
        &self.frameworks
    }

    /// The framework with this id.
    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.iter().find(|f| f.id == id)
    }

    /// Whether `framework:control` names a loaded control.
    pub fn has_control(&self, framework: &str, control: &str) -> bool {
        self.framework(framework)
            .is_some_and(|f| f.controls.iter().any(|c| c.id == control))
    }
}

fn load_registry(
    (name, text): (&str, &str),
    checks: &mut BTreeMap<String, CheckDef>,
    diags: &mut Vec<Diagnostic>,
    builtin: bool,
) {
    let mut d = FileDiags::new(name, text, diags);
    let Some(raw) = parse::<RawRegistry>(&mut d, text) else {
        return;
    };
    let mut seen = BTreeSet::new();
    for c in raw.check {
        let id = c.id.get_ref();
        if !seen.insert(id.clone()) {
            d.at(c.id.span().start, format!("duplicate check id `{id}`"));
            continue;
        }
        match IMPLEMENTED.iter().find(|(i, _)| i == id) {
            None => {
                d.at(
                    c.id.span().start,
                    format!(
                        "unknown check id `{id}`: Palisade implements {}",
                        IMPLEMENTED
                            .iter()
                            .map(|(i, _)| *i)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            }
            Some((_, source)) if source != c.source.get_ref() => {
                d.at(
                    c.source.span().start,
                    format!(
                        "check `{id}` reads `{source}`, not `{}`",
                        c.source.get_ref()
                    ),
                );
                continue;
            }
            Some(_) => {}
        }
        if *c.freshness_hours.get_ref() == 0 {
            d.at(
                c.freshness_hours.span().start,
                "freshness_hours must be at least 1",
            );
            continue;
        }
        if !builtin && !checks.contains_key(id) {
            // Overrides only: the implementation set is fixed, so a new id would
            // already have failed above; this keeps the rule explicit.
            d.at(
                c.id.span().start,
                format!("check `{id}` is not in the built-in registry"),
            );
            continue;
        }
        checks.insert(
            id.clone(),
            CheckDef {
                id: id.clone(),
                source: c.source.into_inner(),
                title: c.title,
                passes_when: c.passes_when,
                freshness_hours: c.freshness_hours.into_inner(),
            },
        );
    }
}

fn load_framework(
    d: &mut FileDiags<'_>,
    text: &str,
    checks: &BTreeMap<String, CheckDef>,
) -> Option<Framework> {
    let raw = parse::<RawFramework>(d, text)?;
    let before = d.out.len();
    let fw_id = raw.framework.id.get_ref().clone();
    if !valid_id(&fw_id) {
        d.at(
            raw.framework.id.span().start,
            format!("framework id `{fw_id}`: use letters, digits, `-`, `_` and `.` only"),
        );
    }
    let mut families = Vec::new();
    let mut family_ids = BTreeSet::new();
    for f in raw.family {
        if !family_ids.insert(f.id.get_ref().clone()) {
            d.at(
                f.id.span().start,
                format!("duplicate family id `{}`", f.id.get_ref()),
            );
        }
        families.push(Family {
            id: f.id.into_inner(),
            title: f.title,
        });
    }
    let control_ids: BTreeSet<String> =
        raw.control.iter().map(|c| c.id.get_ref().clone()).collect();
    let mut seen = BTreeSet::new();
    let mut controls = Vec::new();
    for c in raw.control {
        let id = c.id.get_ref().clone();
        if !seen.insert(id.clone()) {
            d.at(c.id.span().start, format!("duplicate control id `{id}`"));
        }
        if !family_ids.contains(c.family.get_ref()) {
            d.at(
                c.family.span().start,
                format!(
                    "control `{id}`: no family `{}` in this file",
                    c.family.get_ref()
                ),
            );
        }
        if let Some(p) = &c.parent {
            if !control_ids.contains(p.get_ref()) || p.get_ref() == &id {
                d.at(
                    p.span().start,
                    format!(
                        "control `{id}`: parent `{}` is not another control of this file",
                        p.get_ref()
                    ),
                );
            }
        }
        let mut check_ids = BTreeSet::new();
        for ch in &c.checks {
            if !checks.contains_key(ch.get_ref()) {
                d.at(
                    ch.span().start,
                    format!("control `{id}`: unknown check id `{}`", ch.get_ref()),
                );
            } else if !check_ids.insert(ch.get_ref().clone()) {
                d.at(
                    ch.span().start,
                    format!("control `{id}`: check `{}` listed twice", ch.get_ref()),
                );
            }
        }
        let automation = *c.automation.get_ref();
        match automation {
            Automation::Automated | Automation::Partial if c.checks.is_empty() => d.at(
                c.automation.span().start,
                format!("control `{id}` is {} but maps no checks", automation.as_str()),
            ),
            Automation::Manual | Automation::NotApplicable if !c.checks.is_empty() => d.at(
                c.automation.span().start,
                format!(
                    "control `{id}` is {} but maps checks: use `partial` for checks plus an attestation",
                    automation.as_str()
                ),
            ),
            _ => {}
        }
        if c.rationale.get_ref().trim().is_empty() {
            d.at(
                c.rationale.span().start,
                format!("control `{id}`: the rationale is empty"),
            );
        }
        controls.push(Control {
            id,
            family: c.family.into_inner(),
            title: c.title,
            kind: c.kind,
            requirement: c.requirement,
            parent: c.parent.map(Spanned::into_inner),
            automation,
            checks: c.checks.into_iter().map(Spanned::into_inner).collect(),
            rationale: c.rationale.into_inner(),
        });
    }
    if d.out.len() > before {
        return None;
    }
    Some(Framework {
        id: fw_id,
        title: raw.framework.title,
        version: raw.framework.version,
        file: d.name().to_owned(),
        families,
        controls,
    })
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
