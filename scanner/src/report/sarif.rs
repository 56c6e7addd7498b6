//! SARIF 2.1.0 for GitHub code scanning: one rule per vulnerability (with `security-severity`), one result per
//! vulnerable package.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Report;
use crate::vulndb::matching::Finding;
use crate::vulndb::schema::Severity;

fn security_severity(f: &Finding) -> f64 {
    let best = f.cvss.values().map(|c| c.v3_score).fold(0.0f64, f64::max);
    if best > 0.0 {
        return best;
    }
    severity_score(f.severity.0)
}

fn severity_score(s: Severity) -> f64 {
    match s {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

pub(crate) fn render(r: &Report) -> String {
    let mut rules: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    let mut ordered: Vec<Value> = Vec::new();
    let mut results = Vec::new();
    for f in &r.findings {
        let idx = match rules.get(&f.id) {
            Some((i, _)) => *i,
            None => {
                let i = ordered.len();
                let text = if f.title.is_empty() {
                    f.id.clone()
                } else {
                    f.title.clone()
                };
                let rule = json!({
                    "id": f.id,
                    "name": if f.kind.is_os() { "OsPackageVulnerability" } else { "LanguageSpecificPackageVulnerability" },
                    "shortDescription": {"text": text},
                    "fullDescription": {"text": if f.description.is_empty() { text.clone() } else { f.description.clone() }},
                    "defaultConfiguration": {"level": level(f.severity.0)},
                    "helpUri": f.primary_url,
                    "help": {
                        "text": format!("Vulnerability {}\nSeverity: {}\nPackage: {}\nFixed Version: {}\nLink: {}", f.id, f.severity.0, f.pkg_name, f.fixed_version, f.primary_url),
                        "markdown": format!("**Vulnerability {}**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n| {} | {} | {} | [{}]({}) |", f.id, f.severity.0, f.pkg_name, f.fixed_version, f.id, f.primary_url),
                    },
                    "properties": {
                        "precision": "very-high",
                        "security-severity": format!("{:.1}", security_severity(f)),
                        "tags": ["vulnerability", "security", f.severity.0.as_str()],
                    }
                });
                rules.insert(f.id.clone(), (i, rule.clone()));
                ordered.push(rule);
                i
            }
        };
        let uri = if f.kind.is_os() {
            r.artifact_name.clone()
        } else {
            f.pkg_path.clone()
        };
        results.push(json!({
            "ruleId": f.id,
            "ruleIndex": idx,
            "level": level(f.severity.0),
            "message": {"text": format!(
                "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nLink: [{}]({})",
                f.pkg_name, f.installed_version, f.id, f.severity.0, f.fixed_version, f.id, f.primary_url)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "ROOTPATH"},
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
                },
                "message": {"text": format!("{}: {}@{}", uri, f.pkg_name, f.installed_version)}
            }]
        }));
    }
    for f in &r.misconfigs {
        let idx = match rules.get(&f.id) {
            Some((i, _)) => *i,
            None => {
                let i = ordered.len();
                let refs: Vec<&str> = f.references.ids();
                let rule = json!({
                    "id": f.id,
                    "name": if f.family == crate::config::Family::Secret { "Secret" } else { "Misconfiguration" },
                    "shortDescription": {"text": f.title},
                    "fullDescription": {"text": if f.risk.is_empty() { f.title.clone() } else { f.risk.clone() }},
                    "defaultConfiguration": {"level": level(f.severity)},
                    "help": {
                        "text": format!("{}\nSeverity: {}\nRisk: {}\nFix: {}\nSee: {}", f.title, f.severity, f.risk, f.remediation, refs.join(", ")),
                        "markdown": format!("**{}** ({})\n\n{}\n\n**Fix:** {}\n\nSee: {}", f.title, f.severity, f.risk, f.remediation, refs.join(", ")),
                    },
                    "properties": {
                        "precision": "very-high",
                        "security-severity": format!("{:.1}", severity_score(f.severity)),
                        "tags": ["security", f.family.as_str(), f.severity.as_str()],
                    }
                });
                rules.insert(f.id.clone(), (i, rule.clone()));
                ordered.push(rule);
                i
            }
        };
        results.push(json!({
            "ruleId": f.id,
            "ruleIndex": idx,
            "level": level(f.severity),
            "message": {"text": format!("{}\nFix: {}", f.message, f.remediation)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": f.file.trim_start_matches("./"), "uriBaseId": "ROOTPATH"},
                    "region": {"startLine": f.line.max(1), "startColumn": 1, "endLine": f.line.max(1), "endColumn": 1}
                },
                "message": {"text": if f.field.is_empty() { f.object.clone() } else { format!("{} {}", f.object, f.field) }}
            }]
        }));
    }
    let doc = json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "Palisade",
                "fullName": "Palisade vulnerability scanner",
                "informationUri": "https://example.org/palisade",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": ordered,
            }},
            "results": results,
            "columnKind": "utf16CodeUnits",
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
