//! Dockerfiles: the checks of `checks.toml` on each instruction, plus those that need the whole file (the user the
//! final stage runs as, base images after `ARG` expansion and stage references, health checks, unpinned packages).

mod parse;

use super::doc::{Node, Value};
use super::rules::{CheckTarget, Scope};
use super::{Catalogue, CheckMeta, ConfigFinding, Family, ParseError};

/// The catalogue.
pub(crate) const CATALOGUE: &str = include_str!("checks.toml");

fn instruction_node(ins: &parse::Instruction) -> Node {
    let l = ins.line;
    let mut entries = vec![(
        "value".to_string(),
        Node::new(Value::Str(ins.args.clone()), l),
    )];
    if matches!(ins.keyword.as_str(), "ENV" | "ARG" | "LABEL") {
        let vars = parse::assignments(&ins.keyword, &ins.args)
            .into_iter()
            .map(|(k, v)| {
                let mut e = vec![("name".to_string(), Node::new(Value::Str(k), l))];
                if let Some(v) = v {
                    e.push(("value".to_string(), Node::new(Value::Str(v), l)));
                }
                Node::new(Value::Map(e), l)
            })
            .collect();
        entries.push(("vars".to_string(), Node::new(Value::Seq(vars), l)));
    }
    Node::new(Value::Map(entries), l)
}

/// Scans one Dockerfile.
pub(crate) fn scan(
    cat: &Catalogue,
    file: &str,
    text: &str,
    found: &mut Vec<ConfigFinding>,
) -> Result<(), ParseError> {
    let df = parse::parse(text)?;
    let stage_label = |i: usize| -> String {
        match df.stages.get(i) {
            Some(s) => match &s.name {
                Some(n) => format!("stage {n} ({})", s.base),
                None => format!("stage {i} ({})", s.base),
            },
            None => "global".into(),
        }
    };
    let checks: Vec<_> = cat.declarative(Family::Dockerfile).collect();
    for ins in &df.instructions {
        let node = instruction_node(ins);
        let label = stage_label(ins.stage);
        let scope = Scope {
            node: &node,
            path: String::new(),
            object: (&node, String::new()),
            pod: None,
            name: ins.keyword.clone(),
        };
        for c in &checks {
            if c.target == Some(CheckTarget::Instruction) && c.applies_to(&ins.keyword) {
                for h in c.eval(&scope, &label) {
                    found.push(ConfigFinding::new(
                        &c.meta,
                        Family::Dockerfile,
                        file,
                        ins.line,
                        ins.keyword.clone(),
                        label.clone(),
                        h.message,
                    ));
                }
            }
        }
    }
    let mut push = |id: &str, line: u32, field: &str, object: String, message: String| {
        if let Some(m) = cat.meta(id) {
            let m: &CheckMeta = m;
            found.push(ConfigFinding::new(
                m,
                Family::Dockerfile,
                file,
                line,
                field.to_string(),
                object,
                message,
            ));
        }
    };
    let Some(last) = df.stages.len().checked_sub(1) else {
        return Err(ParseError::new(1, 1, "no FROM instruction"));
    };
    // PAL-DF-001: the user of the final stage (USER is per stage; a stage built FROM another inherits its user).
    let mut stage = last;
    let mut user: Option<(&str, u32)> = None;
    loop {
        if let Some(u) = df
            .instructions
            .iter()
            .rev()
            .find(|i| i.stage == stage && i.keyword == "USER")
        {
            user = Some((u.args.as_str(), u.line));
            break;
        }
        let base = df.stages[stage].base.to_ascii_lowercase();
        match df.stages[..stage]
            .iter()
            .rposition(|s| s.name.as_deref() == Some(base.as_str()))
        {
            Some(parent) => stage = parent,
            None => break,
        }
    }
    let is_root = |u: &str| {
        let name = u.split(':').next().unwrap_or("").trim();
        name == "root" || name == "0"
    };
    let final_base = df.stages[last].base.as_str();
    match user {
        Some((u, line)) if is_root(u) => push(
            "PAL-DF-001",
            line,
            "USER",
            stage_label(last),
            format!("the final stage switches to USER {u}"),
        ),
        Some(_) => {}
        None if final_base != "scratch" => push(
            "PAL-DF-001",
            df.stages[last].line,
            "FROM",
            stage_label(last),
            "the final stage sets no USER: it runs as the base image's user, usually root".into(),
        ),
        None => {}
    }
    // PAL-DF-002: base images (after ARG expansion) with `latest` or no tag; stage names and scratch are exempt.
    for (i, s) in df.stages.iter().enumerate() {
        let base = s.base.as_str();
        let lower = base.to_ascii_lowercase();
        if lower == "scratch"
            || df.stages[..i]
                .iter()
                .any(|p| p.name.as_deref() == Some(lower.as_str()))
        {
            continue;
        }
        if base.contains('@') {
            continue;
        }
        let last_part = base.rsplit('/').next().unwrap_or(base);
        let tag = last_part.split_once(':').map(|(_, t)| t);
        let why = match tag {
            None => Some(format!("FROM {base} has no tag (means latest)")),
            Some("latest") => Some(format!("FROM {base} uses the latest tag")),
            Some("") => Some(format!(
                "FROM {base} has an empty tag (an ARG without a value?)"
            )),
            _ => None,
        };
        if let Some(why) = why {
            push("PAL-DF-002", s.line, "FROM", stage_label(i), why);
        }
    }
    // PAL-DF-012: a HEALTHCHECK anywhere in the final stage (or an ancestor stage).
    let has_healthcheck = df.instructions.iter().any(|i| i.keyword == "HEALTHCHECK");
    if !has_healthcheck && final_base != "scratch" {
        push(
            "PAL-DF-012",
            df.stages[last].line,
            "HEALTHCHECK",
            stage_label(last),
            "the final stage has no HEALTHCHECK".into(),
        );
    }
    // PAL-DF-011: unpinned packages in apt-get/apt/apk/pip installs.
    for ins in df.instructions.iter().filter(|i| i.keyword == "RUN") {
        let unpinned = unpinned_packages(&ins.args);
        if !unpinned.is_empty() {
            push(
                "PAL-DF-011",
                ins.line,
                "RUN",
                stage_label(ins.stage),
                format!("packages without a pinned version: {}", unpinned.join(", ")),
            );
        }
    }
    Ok(())
}

/// Packages named without a version in install commands of the shell text.
fn unpinned_packages(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for cmd in script.split(['&', ';', '|', '\n']) {
        let words: Vec<&str> = cmd
            .split_whitespace()
            .skip_while(|w| *w == "sudo" || w.contains('='))
            .collect();
        let (start, pin): (usize, &str) = match words.as_slice() {
            ["apt-get" | "apt", rest @ ..] => match rest.iter().position(|w| *w == "install") {
                Some(p) => (p + 2, "="),
                None => continue,
            },
            ["apk", rest @ ..] => match rest.iter().position(|w| *w == "add") {
                Some(p) => (p + 2, "="),
                None => continue,
            },
            ["pip" | "pip3", rest @ ..] | ["python" | "python3", "-m", "pip", rest @ ..] => {
                match rest.iter().position(|w| *w == "install") {
                    Some(p) => (words.len() - rest.len() + p + 1, "=="),
                    None => continue,
                }
            }
            _ => continue,
        };
        let mut skip_next = false;
        for w in words.iter().skip(start) {
            if skip_next {
                skip_next = false;
                continue;
            }
            if w.starts_with('-') {
                // options with a separate argument
                skip_next = matches!(
                    *w,
                    "-r" | "--requirement"
                        | "-c"
                        | "--constraint"
                        | "-t"
                        | "--target"
                        | "-o"
                        | "--repository"
                        | "-X"
                        | "--index-url"
                        | "-i"
                        | "--extra-index-url"
                );
                continue;
            }
            if w.contains(pin)
                || w.contains('/')
                || w.contains('$')
                || w.ends_with(".whl")
                || w.ends_with(".deb")
                || w.starts_with('.')
                || w.contains("==")
                || w.contains(">=")
                || w.contains("~=")
            {
                continue;
            }
            out.push(w.trim_matches(['"', '\'']).to_string());
        }
    }
    out
}
