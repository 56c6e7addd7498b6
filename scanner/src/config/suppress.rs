//! Suppression in place: `palisade:ignore ID[,ID...] reason` in a comment (`#` or `//`) on the offending line or in
//! the comment lines right above it. A suppression without a reason does not suppress (and says so).

use super::{ConfigFinding, SuppressedConfig};

const MARKER: &str = "palisade:ignore";

struct Marker {
    ids: Vec<String>,
    reason: String,
}

fn marker(line: &str) -> Option<Marker> {
    let i = line.find(MARKER)?;
    let before = &line[..i];
    if !(before.contains('#') || before.contains("//")) {
        return None;
    }
    let rest = line[i + MARKER.len()..].trim_start_matches(':').trim();
    let (ids, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some(Marker {
        ids: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        reason: reason
            .trim()
            .trim_start_matches(['-', ':'])
            .trim()
            .to_string(),
    })
}

fn is_comment_line(l: &str) -> bool {
    let t = l.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

/// Splits `found` into kept and suppressed findings; warnings for markers without a reason.
pub(crate) fn in_place(
    text: &str,
    found: Vec<ConfigFinding>,
) -> (Vec<ConfigFinding>, Vec<SuppressedConfig>, Vec<String>) {
    if !text.contains(MARKER) {
        return (found, vec![], vec![]);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut suppressed = Vec::new();
    let mut warnings = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(m) = marker(l) {
            if m.reason.is_empty() || m.ids.is_empty() {
                warnings.push(format!(
                    "line {}: `{MARKER}` needs check ids and a reason (`{MARKER} ID reason`); it suppresses nothing",
                    i + 1
                ));
            }
        }
    }
    'findings: for f in found {
        let at = f.line as usize;
        let mut candidates = Vec::new();
        if at >= 1 && at <= lines.len() {
            candidates.push(lines[at - 1]);
            let mut j = at - 1;
            while j > 0 && is_comment_line(lines[j - 1]) {
                candidates.push(lines[j - 1]);
                j -= 1;
            }
        }
        for c in candidates {
            if let Some(m) = marker(c) {
                if !m.reason.is_empty() && m.ids.contains(&f.id) {
                    suppressed.push(SuppressedConfig {
                        reason: format!("suppressed in place: {}", m.reason),
                        finding: f,
                    });
                    continue 'findings;
                }
            }
        }
        kept.push(f);
    }
    (kept, suppressed, warnings)
}
