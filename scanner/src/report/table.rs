//! The terminal table.

use super::Report;

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

fn clip(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        format!(
            "{}...",
            s.chars().take(w.saturating_sub(3)).collect::<String>()
        )
    }
}

pub(crate) fn render(r: &Report) -> String {
    let mut out = String::new();
    for (target, class, ty, fs) in r.targets() {
        if class == "lang-pkgs" && fs.is_empty() {
            continue;
        }
        let mut counts = [0usize; 5];
        for f in &fs {
            counts[f.severity.0 as usize] += 1;
        }
        out.push_str(&format!(
            "\n{target} ({ty})\n{}\n",
            "=".repeat(target.chars().count() + ty.len() + 3)
        ));
        out.push_str(&format!(
            "Total: {} (UNKNOWN: {}, LOW: {}, MEDIUM: {}, HIGH: {}, CRITICAL: {})\n\n",
            fs.len(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        ));
        if fs.is_empty() {
            continue;
        }
        let head = [
            "Library",
            "Vulnerability",
            "Severity",
            "Status",
            "Installed Version",
            "Fixed Version",
            "Title",
        ];
        let rows: Vec<Vec<String>> = fs
            .iter()
            .map(|f| {
                vec![
                    f.pkg_name.clone(),
                    f.id.clone(),
                    f.severity.0.as_str().to_string(),
                    f.status.0.as_str().to_string(),
                    f.installed_version.clone(),
                    clip(&f.fixed_version, 40),
                    clip(&f.title, 60),
                ]
            })
            .collect();
        out.push_str(&grid(&head, &rows));
    }
    render_config(r, &mut out);
    if !r.suppressed.is_empty() {
        out.push_str(&format!("\nSuppressed: {}\n", r.suppressed.len()));
        for s in &r.suppressed {
            out.push_str(&format!(
                "  {} {} {}: {}\n",
                s.finding.id, s.finding.pkg_name, s.finding.installed_version, s.reason
            ));
        }
    }
    out
}

fn grid(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(&pad(c, w[i]));
            if i + 1 < cells.len() {
                s.push_str(" | ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(w.iter().map(|n| "-".repeat(*n)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Configuration targets: one table per file, then what each check means and how to fix it.
fn render_config(r: &Report, out: &mut String) {
    let targets = r.config_targets();
    let mut explained: Vec<&crate::config::ConfigFinding> = Vec::new();
    for t in &targets {
        if t.findings.is_empty() {
            continue;
        }
        let mut counts = [0usize; 5];
        for f in &t.findings {
            counts[f.severity as usize] += 1;
        }
        let title = format!("{} ({})", t.file, t.ty);
        out.push_str(&format!(
            "\n{title}\n{}\n",
            "=".repeat(title.chars().count())
        ));
        out.push_str(&format!(
            "Total: {} (LOW: {}, MEDIUM: {}, HIGH: {}, CRITICAL: {})\n\n",
            t.findings.len(),
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        ));
        let rows: Vec<Vec<String>> = t
            .findings
            .iter()
            .map(|f| {
                vec![
                    f.id.clone(),
                    f.severity.as_str().to_string(),
                    f.line.to_string(),
                    clip(&f.object, 40),
                    clip(&f.message, 90),
                ]
            })
            .collect();
        out.push_str(&grid(
            &["Check", "Severity", "Line", "Object", "Message"],
            &rows,
        ));
        for f in &t.findings {
            if !explained.iter().any(|e| e.id == f.id) {
                explained.push(f);
            }
        }
    }
    if explained.is_empty() {
        return;
    }
    explained.sort_by(|a, b| a.id.cmp(&b.id));
    out.push_str("\nChecks\n======\n");
    for f in explained {
        out.push_str(&format!("\n{} {} ({})\n", f.id, f.title, f.severity));
        if !f.risk.is_empty() {
            out.push_str(&format!("  Risk: {}\n", f.risk));
        }
        out.push_str(&format!("  Fix:  {}\n", f.remediation));
        let refs: Vec<&str> = f.references.ids();
        if !refs.is_empty() {
            out.push_str(&format!("  See:  {}\n", refs.join(", ")));
        }
    }
    let sup: Vec<_> = targets.iter().flat_map(|t| t.suppressed.iter()).collect();
    if !sup.is_empty() {
        out.push_str(&format!("\nSuppressed: {}\n", sup.len()));
        for s in sup {
            out.push_str(&format!(
                "  {} {}:{}: {}\n",
                s.finding.id, s.finding.file, s.finding.line, s.reason
            ));
        }
    }
}
