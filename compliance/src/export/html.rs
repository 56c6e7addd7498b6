//! A self-contained HTML report: summary, one inline-SVG bar chart per
//! family, and a control table whose rows open onto their checks and the
//! evidence behind them. No scripts, no external requests (a restrictive
//! Content-Security-Policy says so to the browser); everything taken from
//! evidence or files is HTML-escaped.

use std::fmt::Write as _;

use crate::assess::{Report, Status, Summary};

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The anchor of an evidence piece: its position (ids may hold any character).
fn anchor(r: &Report, id: &str) -> String {
    match r.evidence.binary_search_by(|e| e.id.as_str().cmp(id)) {
        Ok(i) => format!("e{i}"),
        Err(_) => "evidence".into(),
    }
}

fn color(s: Status) -> &'static str {
    match s {
        Status::Pass => "#2e7d32",
        Status::Fail => "#c62828",
        Status::Manual => "#f9a825",
        Status::Waived => "#6a1b9a",
        Status::NotApplicable => "#9e9e9e",
    }
}

/// A horizontal stacked bar of `s`, `width` pixels wide.
fn bar(o: &mut String, s: &Summary, label: &str, width: u64) {
    let _ = write!(
        o,
        r#"<svg class="bar" role="img" width="{w}" height="22" viewBox="0 0 {w} 22" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        w = width,
        label = esc(label)
    );
    let mut x = 0u64;
    for st in Status::ALL {
        let n = s.get(st);
        if n == 0 || s.total == 0 {
            continue;
        }
        let w = (n * width).div_ceil(s.total).min(width - x);
        let _ = write!(
            o,
            r#"<rect x="{x}" y="0" width="{w}" height="22" fill="{c}"><title>{st}: {n}</title></rect>"#,
            c = color(st),
            st = st.as_str()
        );
        x += w;
    }
    o.push_str("</svg>");
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#212121}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}\
.st{font-weight:bold;color:#fff;border-radius:3px;padding:0 6px}\
.pass{background:#2e7d32}.fail{background:#c62828}.manual{background:#f9a825;color:#000}.waived{background:#6a1b9a}.not_applicable{background:#9e9e9e}\
.no_evidence,.stale{background:#ef6c00}\
pre{background:#f5f5f5;padding:6px;overflow:auto;max-height:20em}details summary{cursor:pointer}\
.cards{display:flex;gap:1em;margin:1em 0}.card{padding:.5em 1em;border-radius:4px;color:#fff}";

pub(super) fn render(r: &Report) -> String {
    let mut o = String::new();
    let title = format!("{} — compliance report", r.framework.title);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<p>Framework <code>{}</code> ({}), generated {}. \
Statuses follow the rules at the end; every status links to the checks and evidence behind it.</p>\n",
        esc(&title),
        esc(&title),
        esc(&r.framework.id),
        esc(&r.framework.version),
        esc(&r.generated_at)
    );
    o.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    for s in Status::ALL {
        let _ = write!(
            o,
            "<div class=\"card\" style=\"background:{}\">{}: <b>{}</b></div>",
            color(s),
            s.as_str(),
            r.summary.get(s)
        );
    }
    let _ = write!(o, "</div><p>{} controls.</p>", r.summary.total);
    bar(&mut o, &r.summary, "all controls", 600);
    o.push_str("</section>\n<section id=\"families\"><h2>Families</h2><table><tr><th>Family</th><th>Controls</th><th>Status</th></tr>");
    for f in &r.families {
        let _ = write!(
            o,
            "<tr><td>{} {}</td><td>{}</td><td>",
            esc(&f.id),
            esc(&f.title),
            f.summary.total
        );
        bar(&mut o, &f.summary, &f.id, 300);
        o.push_str("</td></tr>");
    }
    o.push_str("</table></section>\n<section id=\"controls\"><h2>Controls</h2><table><tr><th>Control</th><th>Title</th><th>Automation</th><th>Status</th></tr>\n");
    for c in &r.controls {
        let _ = write!(
            o,
            "<tr id=\"c-{id}\"><td>{id}</td><td><details><summary>{title}</summary><p>{reason}</p><p><i>{rationale}</i></p>",
            id = esc(&c.id),
            title = esc(&c.title),
            reason = esc(&c.reason),
            rationale = esc(&c.rationale)
        );
        if !c.checks.is_empty() {
            o.push_str("<ul>");
            for id in &c.checks {
                match super::check_of(r, id) {
                    Some(k) => {
                        let _ = write!(
                            o,
                            "<li><code>{}</code> <span class=\"st {}\">{}</span> {} — evidence: ",
                            esc(id),
                            k.status.as_str(),
                            k.status.as_str(),
                            esc(&k.detail)
                        );
                        for (i, e) in k.evidence.iter().enumerate() {
                            if i > 0 {
                                o.push_str(", ");
                            }
                            let _ = write!(o, "<a href=\"#{}\">{}</a>", anchor(r, e), esc(e));
                        }
                        o.push_str("</li>");
                    }
                    None => {
                        let _ = write!(o, "<li><code>{}</code> no result</li>", esc(id));
                    }
                }
            }
            o.push_str("</ul>");
        }
        if let Some(a) = &c.attestation {
            let _ = write!(
                o,
                "<p>Attested by {} on {} (until {}): {}</p>",
                esc(&a.owner),
                esc(&a.date),
                esc(&a.valid_until()),
                esc(&a.statement)
            );
        }
        if let Some(w) = &c.waiver {
            let _ = write!(
                o,
                "<p>Waiver{} by {} until {}: {}</p>",
                if c.waiver_expired { " (EXPIRED)" } else { "" },
                esc(&w.approver),
                esc(&w.expires),
                esc(&w.justification)
            );
        }
        let _ = writeln!(
            o,
            "</details></td><td>{}</td><td><span class=\"st {st}\">{st}</span></td></tr>",
            c.automation.as_str(),
            st = c.status.as_str()
        );
    }
    o.push_str("</table></section>\n<section id=\"evidence\"><h2>Evidence</h2>\n");
    for (i, e) in r.evidence.iter().enumerate() {
        let content = serde_json::to_string_pretty(&e.content).unwrap_or_default();
        let _ = writeln!(
            o,
            "<details id=\"e{i}\"><summary><code>{id}</code> — {title}</summary><p>Source <code>{src}</code>, observed {obs}, collected {col}, SHA-256 <code>{sha}</code></p><pre>{content}</pre></details>",
            id = esc(&e.id),
            title = esc(&e.title),
            src = esc(&e.source),
            obs = esc(&e.observed_at),
            col = esc(&e.collected_at),
            sha = esc(&e.sha256),
            content = esc(&content)
        );
    }
    o.push_str("</section>\n<section id=\"rules\"><h2>How statuses are derived</h2><ol>");
    for rule in &r.rules {
        let _ = write!(o, "<li>{}</li>", esc(rule));
    }
    o.push_str("</ol></section>\n</body></html>\n");
    o
}
