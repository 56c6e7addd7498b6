//! The CI gate: which findings remain after `--ignore-unfixed`, the ignore file and VEX, and whether any is at or
//! above the threshold. Exit codes are the binary's business: [`GateOutcome::passed`] says which.

mod cfg;
mod diags;

pub use cfg::{parse_ignore_file, parse_openvex, GateConfig, IgnoreEntry, VexStatement};
pub use diags::Diagnostic;
use time::Date;

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
    /// Remaining findings at or above the threshold.
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

/// Applies the gate to `findings` as of `today`.
pub fn evaluate(
    findings: Vec<Finding>,
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
            if e.id == f.id && e.package.as_ref().is_none_or(|p| *p == f.pkg_name) {
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
    for (i, e) in cfg.ignores.iter().enumerate() {
        if !used[i] {
            diagnostics.push(Diagnostic::UnusedIgnore { id: e.id.clone() });
        }
    }
    let blocking = match cfg.fail_on {
        Some(t) => remaining.iter().filter(|f| f.severity.0 >= t).count(),
        None => 0,
    };
    GateOutcome {
        remaining,
        suppressed,
        blocking,
        diagnostics,
    }
}
