//! Gate configuration: the threshold, `--ignore-unfixed`, the ignore file and OpenVEX documents.

use serde::Deserialize;
use time::Date;

use crate::vulndb::schema::Severity;
use crate::ScanError;

/// How the gate decides.
#[derive(Debug, Clone, Default)]
pub struct GateConfig {
    /// Fail when a finding at or above this severity remains (None = never fail).
    pub fail_on: Option<Severity>,
    /// Drop findings that have no fixed version.
    pub ignore_unfixed: bool,
    /// Ignore entries (from an ignore file).
    pub ignores: Vec<IgnoreEntry>,
    /// OpenVEX statements.
    pub vex: Vec<VexStatement>,
}

/// One ignore-file entry. `reason` and `expires` are mandatory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    /// Vulnerability id.
    pub id: String,
    /// Only for this package name (optional; vulnerabilities only).
    #[serde(default)]
    pub package: Option<String>,
    /// Only for files under this path (optional; misconfigurations and secrets only): a file path or a directory
    /// prefix, as the scan names files.
    #[serde(default)]
    pub path: Option<String>,
    /// Why it is acceptable.
    pub reason: String,
    /// Last day the entry suppresses (`YYYY-MM-DD`, inclusive).
    #[serde(deserialize_with = "de_date")]
    pub expires: Date,
}

fn de_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    let s = String::deserialize(d)?;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(&s, &fmt)
        .map_err(|e| serde::de::Error::custom(format!("expires {s:?} is not YYYY-MM-DD: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreFile {
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
}

/// Parses an ignore file (TOML):
///
/// ```toml
/// [[ignore]]
/// id = "CVE-2023-1234"
/// package = "openssl"          # optional
/// reason = "not reachable: we never parse untrusted certificates"
/// expires = "2026-12-31"
///
/// [[ignore]]
/// id = "PAL-K8S-040"
/// path = "deploy/legacy/"      # optional: a file, or a directory prefix
/// reason = "legacy chart, replaced in Q3"
/// expires = "2026-09-30"
/// ```
pub fn parse_ignore_file(text: &str) -> Result<Vec<IgnoreEntry>, ScanError> {
    let f: IgnoreFile =
        toml::from_str(text).map_err(|e| ScanError::Gate(format!("ignore file: {e}")))?;
    for e in &f.ignore {
        if e.reason.trim().is_empty() {
            return Err(ScanError::Gate(format!(
                "ignore file: entry {} has an empty reason",
                e.id
            )));
        }
        if e.id.trim().is_empty() {
            return Err(ScanError::Gate(
                "ignore file: an entry has an empty id".into(),
            ));
        }
    }
    Ok(f.ignore)
}

/// One OpenVEX statement, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexStatement {
    /// Vulnerability name (and aliases).
    pub vulnerabilities: Vec<String>,
    /// Product / subcomponent identifiers (package URLs); empty = everything scanned.
    pub products: Vec<String>,
    /// `not_affected`, `affected`, `fixed`, `under_investigation`.
    pub status: String,
    /// Justification (for `not_affected`).
    pub justification: String,
    /// Impact statement.
    pub impact_statement: String,
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Object(o) => {
            let mut out = Vec::new();
            for k in ["name", "@id"] {
                if let Some(s) = o.get(k).and_then(|x| x.as_str()) {
                    out.push(s.to_string());
                }
            }
            if let Some(a) = o.get("aliases").and_then(|x| x.as_array()) {
                out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
            if let Some(ids) = o.get("identifiers").and_then(|x| x.as_object()) {
                out.extend(ids.values().filter_map(|x| x.as_str().map(str::to_string)));
            }
            out
        }
        _ => vec![],
    }
}

/// Parses an OpenVEX JSON document.
pub fn parse_openvex(bytes: &[u8]) -> Result<Vec<VexStatement>, ScanError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ScanError::Gate(format!("VEX: not JSON: {e}")))?;
    let ctx = v
        .get("@context")
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    if !ctx.contains("openvex") {
        return Err(ScanError::Gate(
            "VEX: not an OpenVEX document (@context)".into(),
        ));
    }
    let stmts = v
        .get("statements")
        .and_then(|s| s.as_array())
        .ok_or_else(|| ScanError::Gate("VEX: no statements".into()))?;
    let mut out = Vec::new();
    for s in stmts {
        let vulnerabilities = s.get("vulnerability").map(ids).unwrap_or_default();
        if vulnerabilities.is_empty() {
            return Err(ScanError::Gate(
                "VEX: a statement names no vulnerability".into(),
            ));
        }
        let mut products = Vec::new();
        for p in s
            .get("products")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let subs: Vec<String> = p
                .get("subcomponents")
                .and_then(|x| x.as_array())
                .map(|a| a.iter().flat_map(ids).collect())
                .unwrap_or_default();
            if subs.is_empty() {
                products.extend(ids(p));
            } else {
                products.extend(subs);
            }
        }
        let status = s
            .get("status")
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        if !["not_affected", "affected", "fixed", "under_investigation"].contains(&status.as_str())
        {
            return Err(ScanError::Gate(format!("VEX: unknown status {status:?}")));
        }
        let justification = s
            .get("justification")
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        let impact_statement = s
            .get("impact_statement")
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        if status == "not_affected" && justification.is_empty() && impact_statement.is_empty() {
            return Err(ScanError::Gate(format!(
                "VEX: not_affected for {} needs a justification or an impact statement",
                vulnerabilities[0]
            )));
        }
        out.push(VexStatement {
            vulnerabilities,
            products,
            status,
            justification,
            impact_statement,
        });
    }
    Ok(out)
}
