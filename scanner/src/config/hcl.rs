//! Terraform HCL into [`Node`] trees with line numbers (parsed by `hcl-edit`, the parser of hcl-rs, whose spans
//! give the lines), with module-free evaluation: literals, arrays, objects, string templates of known parts,
//! `var.NAME` (the variable's default), `local.NAME`, and `jsonencode(...)`. Anything else stays
//! [`Value::Expr`] with its source text, which compares equal to nothing.

use std::collections::HashMap;

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::structure::{BlockLabel, Body, Structure};
use hcl_edit::template::{Element, Template};
use hcl_edit::Span;

use super::doc::{Node, Value};
use super::ParseError;

/// Byte offsets to 1-based lines.
pub(crate) struct Lines(Vec<usize>);

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        let mut v = vec![0];
        v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(v)
    }

    pub(crate) fn line(&self, offset: usize) -> u32 {
        (self.0.partition_point(|s| *s <= offset)) as u32
    }
}

/// A top-level block: `resource "type" "name" {...}` and friends.
#[derive(Debug)]
pub(crate) struct TopBlock {
    /// `resource`, `data`, `variable`, `locals`, ...
    pub kind: String,
    /// Labels.
    pub labels: Vec<String>,
    /// The body, evaluated.
    pub body: Node,
}

/// A parsed file (bodies not evaluated yet: variables may live in another file of the directory).
pub(crate) struct HclFile {
    body: Body,
    text: String,
    lines: Lines,
}

/// Parses one file.
pub(crate) fn parse(text: &str) -> Result<HclFile, ParseError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let loc = e.location();
        ParseError::new(loc.line() as u32, loc.column() as u32, e.message())
    })?;
    Ok(HclFile {
        body,
        text: text.to_string(),
        lines: Lines::new(text),
    })
}

/// What `var.` and `local.` refer to, gathered over the files of one directory.
#[derive(Debug, Default)]
pub(crate) struct Env {
    vars: HashMap<String, Node>,
    locals: HashMap<String, Node>,
}

impl HclFile {
    /// Adds this file's variable defaults and literal locals to `env`.
    pub(crate) fn gather(&self, env: &mut Env) {
        let empty = Env::default();
        for s in self.body.iter() {
            let Structure::Block(b) = s else { continue };
            match b.ident.as_str() {
                "variable" => {
                    let Some(name) = b.labels.first().map(label) else {
                        continue;
                    };
                    for s in b.body.iter() {
                        if let Structure::Attribute(a) = s {
                            if a.key.as_str() == "default" {
                                env.vars
                                    .insert(name.clone(), self.expr(&a.value, &empty, 0));
                            }
                        }
                    }
                }
                "locals" => {
                    for s in b.body.iter() {
                        if let Structure::Attribute(a) = s {
                            env.locals
                                .insert(a.key.as_str().to_string(), self.expr(&a.value, &empty, 0));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The top-level blocks, evaluated in `env`.
    pub(crate) fn blocks(&self, env: &Env) -> Vec<TopBlock> {
        self.body
            .iter()
            .filter_map(|s| match s {
                Structure::Block(b) => Some(TopBlock {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(label).collect(),
                    body: self.body_node(&b.body, self.line_of(b.span()), env, 0),
                }),
                Structure::Attribute(_) => None,
            })
            .collect()
    }

    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> u32 {
        span.map_or(1, |r| self.lines.line(r.start))
    }

    fn source(&self, span: Option<std::ops::Range<usize>>) -> String {
        span.and_then(|r| self.text.get(r))
            .unwrap_or("?")
            .trim()
            .to_string()
    }

    fn body_node(&self, body: &Body, line: u32, env: &Env, depth: usize) -> Node {
        let mut entries: Vec<(String, Node)> = Vec::new();
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let mut v = self.expr(&a.value, env, depth + 1);
                    // point at the attribute (its key), where users look
                    v.line = self.line_of(a.span());
                    entries.push((a.key.as_str().to_string(), v));
                }
                Structure::Block(b) => {
                    let n = self.body_node(&b.body, self.line_of(b.span()), env, depth + 1);
                    let key = b.ident.as_str().to_string();
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some((
                            _,
                            Node {
                                value: Value::Seq(items),
                                ..
                            },
                        )) => items.push(n),
                        _ => entries.push((key, Node::new(Value::Seq(vec![n.clone()]), n.line))),
                    }
                }
            }
        }
        Node::new(Value::Map(entries), line)
    }

    fn template(&self, t: &Template, env: &Env, depth: usize) -> Option<String> {
        let mut s = String::new();
        for e in t.iter() {
            match e {
                Element::Literal(l) => s.push_str(l.value()),
                Element::Interpolation(i) => {
                    let v = self.expr(&i.expr, env, depth + 1);
                    if matches!(v.value, Value::Expr(_)) {
                        return None;
                    }
                    s.push_str(&v.scalar_text()?);
                }
                Element::Directive(_) => return None,
            }
        }
        Some(s)
    }

    fn expr(&self, e: &Expression, env: &Env, depth: usize) -> Node {
        let line = self.line_of(e.span());
        let expr = || Node::new(Value::Expr(self.source(e.span())), line);
        if depth > 64 {
            return expr();
        }
        let v = match e {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => n
                .value()
                .as_f64()
                .map_or(Value::Expr(n.value().to_string()), Value::Num),
            Expression::String(s) => Value::Str(s.value().to_string()),
            Expression::Array(a) => {
                Value::Seq(a.iter().map(|x| self.expr(x, env, depth + 1)).collect())
            }
            Expression::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            ObjectKey::Ident(i) => i.as_str().to_string(),
                            ObjectKey::Expression(x) => self
                                .expr(x, env, depth + 1)
                                .scalar_text()
                                .unwrap_or_else(|| self.source(x.span())),
                        };
                        (key, self.expr(v.expr(), env, depth + 1))
                    })
                    .collect(),
            ),
            Expression::StringTemplate(t) => match self.template(t, env, depth) {
                Some(s) => Value::Str(s),
                None => return expr(),
            },
            Expression::HeredocTemplate(h) => match self.template(&h.template, env, depth) {
                Some(s) => Value::Str(s),
                None => return expr(),
            },
            Expression::Parenthesis(p) => return self.expr(p.inner(), env, depth + 1),
            Expression::Traversal(t) => {
                if let (Expression::Variable(root), [first]) = (&t.expr, t.operators.as_slice()) {
                    if let TraversalOperator::GetAttr(name) = first.value() {
                        let table = match root.as_str() {
                            "var" => Some(&env.vars),
                            "local" => Some(&env.locals),
                            _ => None,
                        };
                        if let Some(v) = table.and_then(|t| t.get(name.as_str())) {
                            let mut v = v.clone();
                            v.line = line;
                            return v;
                        }
                    }
                }
                return expr();
            }
            Expression::FuncCall(f)
                if f.name.namespace.is_empty() && f.name.name.as_str() == "jsonencode" =>
            {
                match f.args.iter().next() {
                    Some(a) => return self.expr(a, env, depth + 1),
                    None => return expr(),
                }
            }
            _ => return expr(),
        };
        Node::new(v, line)
    }
}

fn label(l: &BlockLabel) -> String {
    match l {
        BlockLabel::Ident(i) => i.as_str().to_string(),
        BlockLabel::String(s) => s.value().to_string(),
    }
}
