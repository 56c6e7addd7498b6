//! Exports of a [`Report`]: JSON (native, complete), CSV (one row per
//! control × check, formula-injection guarded), Markdown, a self-contained
//! HTML page (inline SVG charts, drill-down to evidence, no external
//! requests), and OSCAL 1.2 assessment results. Every export is a pure
//! function of the report: the same report gives the same bytes.

mod csv;
mod html;
mod markdown;
mod oscal;

use crate::assess::Report;
use crate::error::ComplianceError;

pub use oscal::OSCAL_VERSION;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The report as JSON.
    Json,
    /// CSV, one row per control × check.
    Csv,
    /// Markdown.
    Markdown,
    /// Self-contained HTML.
    Html,
    /// OSCAL assessment-results (JSON).
    Oscal,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Csv,
        Format::Markdown,
        Format::Html,
        Format::Oscal,
    ];

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Oscal => "oscal.json",
        }
    }

    /// The media type served over HTTP.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json | Format::Oscal => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = ComplianceError;
    fn from_str(s: &str) -> Result<Self, ComplianceError> {
        Ok(match s {
            "json" => Format::Json,
            "csv" => Format::Csv,
            "md" | "markdown" => Format::Markdown,
            "html" => Format::Html,
            "oscal" | "oscal-json" => Format::Oscal,
            o => {
                return Err(ComplianceError::Usage(format!(
                    "unknown format {o:?} (json, csv, markdown, html, oscal)"
                )))
            }
        })
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, ComplianceError> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(report).map_err(ComplianceError::json)? + "\n",
        Format::Csv => csv::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
        Format::Oscal => oscal::render(report)?,
    })
}

/// Check results by id, for the exporters.
pub(crate) fn check_of<'a>(report: &'a Report, id: &str) -> Option<&'a crate::checks::CheckResult> {
    report
        .checks
        .binary_search_by(|c| c.check.as_str().cmp(id))
        .ok()
        .map(|i| &report.checks[i])
}

/// An evidence piece by id, for the exporters (the report's evidence is
/// sorted by id).
pub(crate) fn evidence_of<'a>(report: &'a Report, id: &str) -> Option<&'a crate::Evidence> {
    report
        .evidence
        .binary_search_by(|e| e.id.as_str().cmp(id))
        .ok()
        .map(|i| &report.evidence[i])
}
