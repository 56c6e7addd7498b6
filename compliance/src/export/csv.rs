//! CSV: one row per control × check (a control without checks has one row
//! with empty check columns). Every cell is quoted, and a cell that a
//! spreadsheet would take as a formula (`=`, `+`, `-`, `@`, tab, CR) is
//! prefixed with `'` (OWASP's CSV injection guidance).

use crate::assess::Report;

const HEADER: [&str; 13] = [
    "framework",
    "family",
    "control",
    "title",
    "requirement",
    "automation",
    "status",
    "reason",
    "check",
    "check_status",
    "check_detail",
    "evidence",
    "evidence_sha256",
];

pub(super) fn cell(s: &str, out: &mut String) {
    out.push('"');
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn row(cells: &[&str], out: &mut String) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(c, out);
    }
    out.push_str("\r\n");
}

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    row(&HEADER, &mut out);
    let fw = r.framework.id.as_str();
    for c in &r.controls {
        let req = c
            .requirement
            .map(|q| {
                serde_json::to_value(q)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let base = [
            fw,
            &c.family,
            &c.id,
            &c.title,
            &req,
            c.automation.as_str(),
            c.status.as_str(),
            &c.reason,
        ];
        if c.checks.is_empty() {
            let mut cells = base.to_vec();
            cells.extend(["", "", "", "", ""]);
            row(&cells, &mut out);
            continue;
        }
        for id in &c.checks {
            let (status, detail, ev) = match super::check_of(r, id) {
                Some(k) => (k.status.as_str(), k.detail.as_str(), k.evidence.as_slice()),
                None => ("no_evidence", "", &[][..]),
            };
            let hashes: Vec<&str> = ev
                .iter()
                .filter_map(|e| {
                    r.evidence
                        .iter()
                        .find(|x| &x.id == e)
                        .map(|x| x.sha256.as_str())
                })
                .collect();
            let (ev, hashes) = (ev.join(" "), hashes.join(" "));
            let mut cells = base.to_vec();
            cells.extend([id.as_str(), status, detail, &ev, &hashes]);
            row(&cells, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_defused_and_quotes_doubled() {
        let mut o = String::new();
        for c in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "plain",
            "a,b",
        ] {
            super::cell(c, &mut o);
            o.push('|');
        }
        assert_eq!(o, "\"'=HYPERLINK(\"\"http://x\"\")\"|\"'+1\"|\"'-1\"|\"'@SUM(A1)\"|\"'\tx\"|\"plain\"|\"a,b\"|");
    }
}
