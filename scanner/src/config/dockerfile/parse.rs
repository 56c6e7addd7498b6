//! Dockerfile parsing: the `escape` directive, line continuations (with comment lines inside them), heredocs
//! (`<<EOF`, `<<-EOF`, quoted delimiters), stages, and `ARG`/`ENV` expansion where it matters (`FROM`).

use std::collections::HashMap;

use crate::config::ParseError;

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// Upper-case keyword.
    pub keyword: String,
    /// Arguments as written, continuations joined; heredoc bodies appended after a newline.
    pub args: String,
    /// First line.
    pub line: u32,
    /// Stage index (instructions before the first FROM are stage 0 too: only ARG may be there).
    pub stage: usize,
}

/// A build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    /// The base image after ARG expansion.
    pub base: String,
    /// `AS name`, lower-case.
    pub name: Option<String>,
    /// Line of the FROM.
    pub line: u32,
}

/// A parsed Dockerfile.
#[derive(Debug, Default)]
pub(crate) struct Dockerfile {
    pub instructions: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

const MAX_INSTRUCTIONS: usize = 100_000;

fn heredoc_delimiters(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("<<") {
        let mut r = &rest[i + 2..];
        let strip = r.starts_with('-');
        if strip {
            r = &r[1..];
        }
        let r2 = r.trim_start_matches(['"', '\'']);
        let word: String = r2
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty()
            && word
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            out.push((word, strip));
        }
        rest = r;
    }
    out
}

/// Parses a Dockerfile.
pub(crate) fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    // Parser directives: leading comment lines of the form `# escape=X`.
    for l in &lines {
        let t = l.trim();
        let Some(d) = t.strip_prefix('#') else { break };
        let d = d.trim().to_ascii_lowercase();
        if let Some(v) = d.strip_prefix("escape=") {
            escape = match v.trim() {
                "`" => '`',
                "\\" => '\\',
                o => {
                    return Err(ParseError::new(
                        1,
                        1,
                        &format!("escape directive must be \\ or `, not {o:?}"),
                    ))
                }
            };
        } else if !d.starts_with("syntax=") && !d.starts_with("check=") {
            break;
        }
    }
    let mut df = Dockerfile::default();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        if first.is_empty() || first.starts_with('#') {
            i += 1;
            continue;
        }
        let mut logical = String::new();
        loop {
            let l = lines[i];
            let trimmed_end = l.trim_end();
            let t = l.trim_start();
            if i > start && t.starts_with('#') {
                i += 1; // comment inside a continuation
                if i >= lines.len() {
                    break;
                }
                continue;
            }
            if let Some(body) = trimmed_end.strip_suffix(escape) {
                logical.push_str(body);
                logical.push(' ');
                i += 1;
                if i >= lines.len() {
                    break;
                }
            } else {
                logical.push_str(trimmed_end);
                i += 1;
                break;
            }
        }
        for (delim, strip) in heredoc_delimiters(&logical) {
            logical.push('\n');
            loop {
                if i >= lines.len() {
                    return Err(ParseError::new(
                        start as u32 + 1,
                        1,
                        &format!("heredoc <<{delim} is not terminated"),
                    ));
                }
                let l = lines[i];
                i += 1;
                let cmp = if strip { l.trim_start_matches('\t') } else { l };
                if cmp == delim {
                    break;
                }
                logical.push_str(l);
                logical.push('\n');
            }
        }
        let logical = logical.trim();
        let (kw, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        if !kw.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ParseError::new(
                start as u32 + 1,
                1,
                &format!("unknown instruction {kw:?}"),
            ));
        }
        let keyword = kw.to_ascii_uppercase();
        if keyword == "FROM" {
            df.stages.push(Stage {
                base: String::new(),
                name: None,
                line: start as u32 + 1,
            });
        }
        df.instructions.push(Instruction {
            keyword,
            args: args.trim().to_string(),
            line: start as u32 + 1,
            stage: df.stages.len().saturating_sub(1),
        });
        if df.instructions.len() > MAX_INSTRUCTIONS {
            return Err(ParseError::new(
                start as u32 + 1,
                1,
                "more than 100000 instructions",
            ));
        }
    }
    resolve_stages(&mut df);
    Ok(df)
}

/// `KEY=value` pairs (or the legacy `ENV KEY value`) of ENV, ARG and LABEL.
pub(crate) fn assignments(keyword: &str, args: &str) -> Vec<(String, Option<String>)> {
    let words = split_words(args);
    if keyword == "ENV" && words.len() >= 2 && !words[0].contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return vec![(k.to_string(), Some(unquote(v.trim())))];
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(unquote(v))),
            None => (w, None),
        })
        .collect()
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Splits on whitespace outside quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), _) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Expands `$X`, `${X}`, `${X:-default}` and `${X:+alt}` with `vars`; unknown variables expand to "".
pub(crate) fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut inner = String::new();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                inner.push(c);
            }
            let (name, op) = match inner.find(':') {
                Some(i) => (&inner[..i], Some(&inner[i..])),
                None => (inner.as_str(), None),
            };
            let val = vars.get(name).filter(|v| !v.is_empty());
            match op {
                Some(o) if o.starts_with(":-") => out.push_str(val.map_or(&o[2..], |v| v)),
                Some(o) if o.starts_with(":+") => {
                    out.push_str(if val.is_some() { &o[2..] } else { "" })
                }
                _ => out.push_str(val.map_or("", |v| v)),
            }
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name).map_or("", |v| v));
            }
        }
    }
    out
}

fn resolve_stages(df: &mut Dockerfile) {
    let mut global: HashMap<String, String> = HashMap::new();
    let mut stage = 0;
    for ins in &df.instructions {
        match ins.keyword.as_str() {
            "ARG" if df.stages.is_empty() || ins.line < df.stages[0].line => {
                for (k, v) in assignments("ARG", &ins.args) {
                    global.insert(k, v.unwrap_or_default());
                }
            }
            "FROM" => {
                let words: Vec<String> = split_words(&ins.args)
                    .into_iter()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = words
                    .first()
                    .map(|w| expand(w, &global))
                    .unwrap_or_default();
                let name = match words.as_slice() {
                    [_, as_, n, ..] if as_.eq_ignore_ascii_case("as") => {
                        Some(n.to_ascii_lowercase())
                    }
                    _ => None,
                };
                df.stages[stage] = Stage {
                    base,
                    name,
                    line: ins.line,
                };
                stage += 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_heredocs_and_stages() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nARG TAG=3.19\nFROM alpine:${TAG} AS build\nRUN apk add \\\n    # comment inside\n    curl\nRUN <<EOF\nset -e\necho hi\nEOF\nFROM scratch\nCOPY --from=build /x /x\n",
        )
        .unwrap();
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].base, "alpine:3.19");
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let run = &df.instructions[2];
        assert_eq!((run.keyword.as_str(), run.line), ("RUN", 4));
        assert_eq!(run.args, "apk add      curl");
        let here = &df.instructions[3];
        assert_eq!(here.line, 7);
        assert!(here.args.contains("echo hi"));
        assert_eq!(df.instructions[4].line, 11);
    }

    #[test]
    fn unterminated_heredoc_is_an_error_with_position() {
        let e = parse("FROM a:1\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn expansion() {
        let vars: HashMap<String, String> = [("A".to_string(), "x".to_string())].into();
        assert_eq!(expand("$A-${A}-${B:-d}-${A:+y}", &vars), "x-x-d-y");
    }
}
