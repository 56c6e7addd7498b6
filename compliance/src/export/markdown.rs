//! Markdown: summary, families, controls with their checks, and the rules.

use std::fmt::Write as _;

use crate::assess::{Report, Status};

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {} — compliance report\n", esc(&r.framework.title));
    let _ = writeln!(
        o,
        "Framework `{}` ({}), generated {}.\n",
        esc(&r.framework.id),
        esc(&r.framework.version),
        r.generated_at
    );
    let _ = writeln!(o, "| Status | Controls |\n|---|---|");
    for s in Status::ALL {
        let _ = writeln!(o, "| {} | {} |", s.as_str(), r.summary.get(s));
    }
    let _ = writeln!(o, "| total | {} |\n", r.summary.total);
    let _ = writeln!(o, "## Families\n\n| Family | Pass | Fail | Manual | Waived | N/A |\n|---|---|---|---|---|---|");
    for f in &r.families {
        let s = &f.summary;
        let _ = writeln!(
            o,
            "| {} {} | {} | {} | {} | {} | {} |",
            esc(&f.id),
            esc(&f.title),
            s.pass,
            s.fail,
            s.manual,
            s.waived,
            s.not_applicable
        );
    }
    let _ = writeln!(
        o,
        "\n## Controls\n\n| Control | Title | Status | Checks | Reason |\n|---|---|---|---|---|"
    );
    for c in &r.controls {
        let checks: Vec<String> = c
            .checks
            .iter()
            .map(|id| {
                let st = super::check_of(r, id).map_or("no_evidence", |k| k.status.as_str());
                format!("`{}` {st}", esc(id))
            })
            .collect();
        let _ = writeln!(
            o,
            "| {} | {} | **{}** | {} | {} |",
            esc(&c.id),
            esc(&c.title),
            c.status.as_str(),
            checks.join("<br>"),
            esc(&c.reason)
        );
    }
    let _ = writeln!(
        o,
        "\n## Evidence\n\n| Id | Source | Observed | SHA-256 |\n|---|---|---|---|"
    );
    for e in &r.evidence {
        let _ = writeln!(
            o,
            "| {} | {} | {} | `{}` |",
            esc(&e.id),
            esc(&e.source),
            e.observed_at,
            e.sha256
        );
    }
    let _ = writeln!(o, "\n## How statuses are derived\n");
    for (i, rule) in r.rules.iter().enumerate() {
        let _ = writeln!(o, "{}. {}", i + 1, esc(rule));
    }
    o
}
