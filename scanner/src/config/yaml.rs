//! Multi-document YAML (and JSON, its subset) into [`Node`] trees with line numbers, bounded: aliases are expanded
//! against a node budget (a "billion laughs" file fails with an error instead of eating memory), nesting is capped,
//! and the event loop is iterative (no recursion on hostile nesting).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::doc::{Node, Value};
use super::ParseError;

/// Bounds for one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct YamlLimits {
    /// Most nodes after alias expansion, over all documents of the file.
    pub max_nodes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_nodes: 2_000_000,
            max_depth: 200,
        }
    }
}

enum Frame {
    Seq(Vec<Node>, u32, usize),
    Map(Vec<(String, Node)>, Option<(String, u32)>, u32, usize),
}

fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            let looks_numeric = s
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
            if looks_numeric {
                if let Ok(i) = s.parse::<i64>() {
                    return Value::Num(i as f64);
                }
                if let Some(h) = s.strip_prefix("0x") {
                    if let Ok(i) = i64::from_str_radix(h, 16) {
                        return Value::Num(i as f64);
                    }
                }
                if let Some(o) = s.strip_prefix("0o") {
                    if let Ok(i) = i64::from_str_radix(o, 8) {
                        return Value::Num(i as f64);
                    }
                }
                if let Ok(f) = s.parse::<f64>() {
                    if f.is_finite() {
                        return Value::Num(f);
                    }
                }
            }
            Value::Str(s.to_string())
        }
    }
}

fn key_text(n: &Node) -> String {
    n.scalar_text().unwrap_or_else(|| "<complex key>".into())
}

/// Parses every document of `text`. Documents parsed before an error are kept; the error says where it stopped.
pub(crate) fn parse_documents(text: &str, limits: YamlLimits) -> (Vec<Node>, Option<ParseError>) {
    let mut docs = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut budget = limits.max_nodes;
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return (
                    docs,
                    Some(ParseError::new(
                        m.line() as u32,
                        m.col() as u32 + 1,
                        e.info(),
                    )),
                );
            }
        };
        let line = mark.line() as u32;
        let err = |msg: String| ParseError::new(line, mark.col() as u32 + 1, &msg);
        let done: Option<(Node, usize)> = match ev {
            Event::StreamEnd => return (docs, None),
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                anchors.clear();
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => {
                    let size = n.size();
                    if size > budget {
                        return (
                            docs,
                            Some(err(format!(
                                "alias expansion exceeds {} nodes (YAML bomb?)",
                                limits.max_nodes
                            ))),
                        );
                    }
                    budget -= size;
                    Some((n.clone(), 0))
                }
                None => return (docs, Some(err("alias to an unknown anchor".into()))),
            },
            Event::Scalar(s, style, anchor, _tag) => {
                if budget == 0 {
                    return (
                        docs,
                        Some(err(format!("more than {} nodes", limits.max_nodes))),
                    );
                }
                budget -= 1;
                let value = if style == TScalarStyle::Plain {
                    plain_scalar(&s)
                } else {
                    Value::Str(s)
                };
                Some((Node::new(value, line), anchor))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return (
                        docs,
                        Some(err(format!("nesting deeper than {}", limits.max_depth))),
                    );
                }
                if budget == 0 {
                    return (
                        docs,
                        Some(err(format!("more than {} nodes", limits.max_nodes))),
                    );
                }
                budget -= 1;
                stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), line, anchor)
                } else {
                    Frame::Map(Vec::new(), None, line, anchor)
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, l, anchor)) => {
                    Some((Node::new(Value::Seq(items), l), anchor))
                }
                _ => return (docs, Some(err("unbalanced sequence".into()))),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, l, anchor)) => {
                    Some((Node::new(Value::Map(merge_keys(entries)), l), anchor))
                }
                _ => return (docs, Some(err("unbalanced mapping".into()))),
            },
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some((key_text(&node), node.line)),
                Some((k, key_line)) => {
                    // A block collection starts on the line after its key: point at the key, where users look.
                    let mut node = node;
                    if matches!(node.value, Value::Map(_) | Value::Seq(_)) {
                        node.line = key_line;
                    }
                    entries.push((k, node))
                }
            },
        }
    }
}

/// `<<: *base` merge keys: entries of the merged mapping(s) that the mapping does not set itself.
fn merge_keys(entries: Vec<(String, Node)>) -> Vec<(String, Node)> {
    if !entries.iter().any(|(k, _)| k == "<<") {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in entries {
        if k == "<<" {
            match v.value {
                Value::Map(m) => merged.extend(m),
                Value::Seq(s) => {
                    for n in s {
                        if let Value::Map(m) = n.value {
                            merged.extend(m);
                        }
                    }
                }
                other => own.push((k, Node::new(other, v.line))),
            }
        } else {
            own.push((k, v));
        }
    }
    for (k, v) in merged {
        if !own.iter().any(|(o, _)| *o == k) {
            own.push((k, v));
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_types() {
        let (docs, err) = parse_documents(
            "a: 1\nb:\n  - x\n  - 'true'\n  - true\n---\nc: null\n",
            YamlLimits::default(),
        );
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.items()[1].line, 4);
        assert_eq!(b.items()[1].value, Value::Str("true".into()));
        assert_eq!(b.items()[2].value, Value::Bool(true));
        assert_eq!(docs[0].get("a").unwrap().value, Value::Num(1.0));
        assert_eq!(docs[1].get("c").unwrap().line, 7);
    }

    #[test]
    fn billion_laughs_is_an_error_not_an_allocation() {
        let mut y = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            y.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let (_, err) = parse_documents(&y, YamlLimits::default());
        let err = err.expect("bomb must fail");
        assert!(err.message.contains("YAML bomb"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let y = "[".repeat(100_000);
        let (_, err) = parse_documents(&y, YamlLimits::default());
        assert!(err.is_some());
    }

    #[test]
    fn merge_keys_fill_in() {
        let (docs, _) = parse_documents(
            "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n",
            YamlLimits::default(),
        );
        let d = docs[0].get("d").unwrap();
        assert_eq!(d.get("x").unwrap().value, Value::Num(1.0));
        assert_eq!(d.get("y").unwrap().value, Value::Num(3.0));
    }
}
