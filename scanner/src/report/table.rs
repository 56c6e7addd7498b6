//! The terminal table.

use super::Report;
use crate::vulndb::schema::Severity;

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
        let rows: Vec<[String; 7]> = fs
            .iter()
            .map(|f| {
                [
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
        let mut w = head.map(|h| h.len());
        for row in &rows {
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
        out.push_str(&line(head.iter().map(|h| h.to_string()).collect()));
        out.push_str(&line(w.iter().map(|n| "-".repeat(*n)).collect()));
        for row in rows {
            out.push_str(&line(row.to_vec()));
        }
    }
    if !r.suppressed.is_empty() {
        out.push_str(&format!("\nSuppressed: {}\n", r.suppressed.len()));
        for s in &r.suppressed {
            out.push_str(&format!(
                "  {} {} {}: {}\n",
                s.finding.id, s.finding.pkg_name, s.finding.installed_version, s.reason
            ));
        }
    }
    let _ = Severity::Unknown;
    out
}
