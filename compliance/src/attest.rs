//! Attestations (a person's signed-off statement for a manual control) and
//! waivers (a time-limited, approved exception), loaded from TOML files.
//!
//! ```toml
//! [[attestation]]
//! control = "soc2:CC1.1"          # framework:control
//! owner = "ciso@example.org"
//! date = 2026-06-01
//! statement = "Code of conduct signed by all staff."
//! renewal_days = 365              # current until date + renewal_days
//! file = "evidence/conduct.pdf"   # optional, relative to this file
//! sha256 = "…"                    # required with `file`; checked at load
//!
//! [[waiver]]
//! control = "hipaa:164.310(a)(1)"
//! justification = "Hosted in a SOC 2 Type II data centre."
//! approver = "ciso@example.org"
//! expires = 2027-01-31            # mandatory
//! ```
//! An expired attestation no longer counts; an expired waiver stops
//! suppressing and is reported as expired.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Date;
use toml::Spanned;

use crate::catalog::diags::FileDiags;
use crate::catalog::{Catalog, Diagnostic};
use crate::error::ComplianceError;

/// A statement by a named owner that a control is in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// Framework id.
    pub framework: String,
    /// Control id.
    pub control: String,
    /// Who attests.
    pub owner: String,
    /// When (ISO date).
    pub date: String,
    /// What is attested.
    pub statement: String,
    /// How many days it stays current.
    pub renewal_days: u32,
    /// The attached document, as named in the file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// SHA-256 of the attached document, hex (verified at load).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Where it was loaded from (`file:line`).
    pub origin: String,
}

impl Attestation {
    /// The last day it is current.
    pub fn valid_until(&self) -> String {
        parse_date(&self.date)
            .map(|d| (d + time::Duration::days(i64::from(self.renewal_days))).to_string())
            .unwrap_or_default()
    }

    /// Whether it is current on `today`.
    pub fn is_current(&self, today: Date) -> bool {
        parse_date(&self.date).is_some_and(|d| {
            d <= today && today <= d + time::Duration::days(i64::from(self.renewal_days))
        })
    }
}

/// An approved, expiring exception for one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// Framework id.
    pub framework: String,
    /// Control id.
    pub control: String,
    /// Why the control is waived.
    pub justification: String,
    /// Who approved it.
    pub approver: String,
    /// Last day it applies (ISO date).
    pub expires: String,
    /// Where it was loaded from (`file:line`).
    pub origin: String,
}

impl Waiver {
    /// Whether it still applies on `today`.
    pub fn is_current(&self, today: Date) -> bool {
        parse_date(&self.expires).is_some_and(|d| today <= d)
    }
}

/// Attestations and waivers of one or more files.
#[derive(Debug, Clone, Default)]
pub struct Attestations {
    /// Every attestation.
    pub attestations: Vec<Attestation>,
    /// Every waiver.
    pub waivers: Vec<Waiver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    attestation: Vec<Spanned<RawAttestation>>,
    #[serde(default)]
    waiver: Vec<Spanned<RawWaiver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttestation {
    control: Spanned<String>,
    owner: String,
    date: Spanned<toml::value::Datetime>,
    statement: String,
    renewal_days: u32,
    #[serde(default)]
    file: Option<Spanned<String>>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    control: Spanned<String>,
    justification: String,
    approver: String,
    #[serde(default)]
    expires: Option<Spanned<toml::value::Datetime>>,
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

fn toml_date(d: &toml::value::Datetime) -> Option<String> {
    match (d.date, d.time, d.offset) {
        (Some(date), None, None) => Some(date.to_string()),
        _ => None,
    }
}

impl Attestations {
    /// Loads `files` (`(path, text)`), checking every control reference
    /// against `catalog` and every attached file's hash (relative paths are
    /// resolved against the attestation file's directory).
    pub fn load(catalog: &Catalog, files: &[(&Path, &str)]) -> Result<Self, ComplianceError> {
        let mut diags: Vec<Diagnostic> = Vec::new();
        let mut out = Attestations::default();
        for (path, text) in files {
            let name = path.display().to_string();
            let mut d = FileDiags::new(&name, text, &mut diags);
            let raw: RawFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    d.toml(&e);
                    continue;
                }
            };
            let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
            for a in raw.attestation {
                let at = a.span().start;
                let a = a.into_inner();
                let Some((fw, ctl)) = control_ref(&mut d, catalog, &a.control) else {
                    continue;
                };
                let Some(date) = toml_date(a.date.get_ref()) else {
                    d.at(
                        a.date.span().start,
                        "date must be a plain date (YYYY-MM-DD)",
                    );
                    continue;
                };
                if let Some(f) = &a.file {
                    let Some(expected) = &a.sha256 else {
                        d.at(f.span().start, "an attached file needs its `sha256`");
                        continue;
                    };
                    let full = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
                    match std::fs::read(&full) {
                        Ok(bytes) => {
                            let got = hex::encode(Sha256::digest(&bytes));
                            if !got.eq_ignore_ascii_case(expected.trim()) {
                                d.at(
                                    f.span().start,
                                    format!(
                                        "{} has SHA-256 {got}, not the attested {expected}: the document changed",
                                        full.display()
                                    ),
                                );
                                continue;
                            }
                        }
                        Err(e) => {
                            d.at(
                                f.span().start,
                                format!("cannot read {}: {e}", full.display()),
                            );
                            continue;
                        }
                    }
                }
                out.attestations.push(Attestation {
                    framework: fw,
                    control: ctl,
                    owner: a.owner,
                    date,
                    statement: a.statement,
                    renewal_days: a.renewal_days,
                    file: a.file.map(Spanned::into_inner),
                    sha256: a.sha256,
                    origin: format!("{name}:{}", line_of(at)),
                });
            }
            for w in raw.waiver {
                let at = w.span().start;
                let w = w.into_inner();
                let Some((fw, ctl)) = control_ref(&mut d, catalog, &w.control) else {
                    continue;
                };
                let Some(expires) = &w.expires else {
                    d.at(
                        at,
                        format!(
                            "waiver for `{}` has no `expires`: every waiver must expire",
                            w.control.get_ref()
                        ),
                    );
                    continue;
                };
                let Some(exp) = toml_date(expires.get_ref()) else {
                    d.at(
                        expires.span().start,
                        "expires must be a plain date (YYYY-MM-DD)",
                    );
                    continue;
                };
                if w.justification.trim().is_empty() || w.approver.trim().is_empty() {
                    d.at(at, "a waiver needs a justification and an approver");
                    continue;
                }
                out.waivers.push(Waiver {
                    framework: fw,
                    control: ctl,
                    justification: w.justification,
                    approver: w.approver,
                    expires: exp,
                    origin: format!("{name}:{}", line_of(at)),
                });
            }
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(ComplianceError::Load(diags))
        }
    }
}

fn control_ref(
    d: &mut FileDiags<'_>,
    catalog: &Catalog,
    r: &Spanned<String>,
) -> Option<(String, String)> {
    let Some((fw, ctl)) = r.get_ref().split_once(':') else {
        d.at(
            r.span().start,
            format!("control `{}`: write it as FRAMEWORK:CONTROL", r.get_ref()),
        );
        return None;
    };
    if !catalog.has_control(fw, ctl) {
        d.at(
            r.span().start,
            format!("no control `{ctl}` in framework `{fw}`"),
        );
        return None;
    }
    Some((fw.to_owned(), ctl.to_owned()))
}
