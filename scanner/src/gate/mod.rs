//! The CI gate: which findings remain after `--ignore-unfixed`, the ignore file and VEX, and whether any is at or
//! above the threshold. Exit codes are the binary's business: [`GateOutcome::passed`] says which.

mod cfg;
mod diags;

pub use cfg::{parse_ignore_file, parse_openvex, GateConfig, IgnoreEntry, VexStatement};
pub use diags::Diagnostic;
use time::Date;

use crate::config::{ConfigFinding, SuppressedConfig};
use crate::report::Suppressed;
use crate::sbom::Purl;
use crate::vulndb::matching::Finding;

/// The gate's decision.
#[derive(Debug, Clone)]
pub struct GateOutcome {
    /// Findings that remain.
    pub remaining: Vec<Finding>,
    /// Findings suppressed, with why.
    pub suppressed: Vec<Suppressed>,
    /// Misconfigurations and secrets that remain.
    pub remaining_config: Vec<ConfigFinding>,
    /// Misconfigurations and secrets suppressed by the ignore file.
    pub suppressed_config: Vec<SuppressedConfig>,
    /// Remaining findings (of both kinds) at or above the threshold.
    pub blocking: usize,
    /// Diagnostics (expired ignores, unused ignores).
    pub diagnostics: Vec<Diagnostic>,
}

impl GateOutcome {
    /// True when nothing at or above the threshold remains.
    pub fn passed(&self) -> bool {
        self.blocking == 0
    }
}

fn purl_matches(product: &str, finding_purl: &str) -> bool {
    let (Some(p), Some(f)) = (Purl::parse(product), Purl::parse(finding_purl)) else {
        return false;
    };
    p.ty == f.ty
        && p.name == f.name
        && (p.namespace.is_empty() || p.namespace.eq_ignore_ascii_case(&f.namespace))
        && (p.version.is_empty() || p.version == f.version)
}

fn path_matches(entry: &str, file: &str) -> bool {
    let norm = |s: &str| s.trim_start_matches("./").trim_end_matches('/').to_string();
    let (e, f) = (norm(entry), norm(file));
    e.is_empty() || f == e || f.starts_with(&format!("{e}/"))
}

/// Applies the gate to vulnerability `findings` as of `today`.
pub fn evaluate(
    findings: Vec<Finding>,
    cfg: &GateConfig,
    today: Date,
    artifact_name: &str,
) -> GateOutcome {
    evaluate_all(findings, vec![], cfg, today, artifact_name)
}

/// Applies the gate to vulnerabilities and misconfigurations/secrets together: one verdict.
pub fn evaluate_all(
    findings: Vec<Finding>,
    misconfigs: Vec<ConfigFinding>,
    cfg: &GateConfig,
    today: Date,
    artifact_name: &str,
) -> GateOutcome {
    let mut remaining = Vec::new();
    let mut suppressed = Vec::new();
    let mut diagnostics = Vec::new();
    let mut used = vec![false; cfg.ignores.len()];
    for e in &cfg.ignores {
        if e.expires < today {
            diagnostics.push(Diagnostic::ExpiredIgnore {
                id: e.id.clone(),
                reason: e.reason.clone(),
                expired: e.expires.to_string(),
            });
        }
    }
    'findings: for f in findings {
        if cfg.ignore_unfixed && f.fixed_version.is_empty() {
            suppressed.push(Suppressed {
                reason: "unfixed (--ignore-unfixed)".into(),
                finding: f,
            });
            continue;
        }
        for (i, e) in cfg.ignores.iter().enumerate() {
            if e.id == f.id
                && e.path.is_none()
                && e.package.as_ref().is_none_or(|p| *p == f.pkg_name)
            {
                used[i] = true;
                if e.expires >= today {
                    suppressed.push(Suppressed {
                        reason: format!("ignored until {}: {}", e.expires, e.reason),
                        finding: f,
                    });
                    continue 'findings;
                }
            }
        }
        for s in &cfg.vex {
            if !matches!(s.status.as_str(), "not_affected" | "fixed")
                || !s.vulnerabilities.contains(&f.id)
            {
                continue;
            }
            let applies = s.products.is_empty()
                || s.products
                    .iter()
                    .any(|p| p == artifact_name || purl_matches(p, &f.purl));
            if applies {
                let why = [s.justification.as_str(), s.impact_statement.as_str()]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                suppressed.push(Suppressed {
                    reason: format!("VEX {}: {why}", s.status),
                    finding: f,
                });
                continue 'findings;
            }
        }
        remaining.push(f);
    }
    let mut remaining_config = Vec::new();
    let mut suppressed_config = Vec::new();
    'config: for f in misconfigs {
        for (i, e) in cfg.ignores.iter().enumerate() {
            if e.id == f.id
                && e.package.is_none()
                && e.path.as_deref().is_none_or(|p| path_matches(p, &f.file))
            {
                used[i] = true;
                if e.expires >= today {
                    suppressed_config.push(SuppressedConfig {
                        reason: format!("ignored until {}: {}", e.expires, e.reason),
                        finding: f,
                    });
                    continue 'config;
                }
            }
        }
        remaining_config.push(f);
    }
    for (i, e) in cfg.ignores.iter().enumerate() {
        if !used[i] {
            diagnostics.push(Diagnostic::UnusedIgnore { id: e.id.clone() });
        }
    }
    let blocking = match cfg.fail_on {
        Some(t) => {
            remaining.iter().filter(|f| f.severity.0 >= t).count()
                + remaining_config.iter().filter(|f| f.severity >= t).count()
        }
        None => 0,
    };
    GateOutcome {
        remaining,
        suppressed,
        remaining_config,
        suppressed_config,
        blocking,
        diagnostics,
    }
}
