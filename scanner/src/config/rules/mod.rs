//! The declarative check engine: compiles [`CheckDef`]s (built-in catalogues and users' files alike) and
//! evaluates them on a scope (an object, a pod spec, a container, a Terraform block, a Dockerfile instruction).

mod cfg;

use std::sync::Arc;

use regex::Regex;

pub use cfg::{parse_check_file, CheckDef, CheckTarget, ConditionDef};

use super::doc::{Node, Value};
use crate::vulndb::schema::Severity;

/// What every check (declarative or in code) tells about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckMeta {
    /// Stable id (`PAL-K8S-001`).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// The risk.
    pub risk: String,
    /// How to fix it.
    pub remediation: String,
    /// Equivalent Checkov ids.
    pub checkov: Vec<String>,
    /// Equivalent Trivy ids.
    pub trivy: Vec<String>,
    /// Compliance controls it supports.
    pub controls: Vec<String>,
    /// Pod Security Standards profile, for Kubernetes checks.
    pub profile: Option<String>,
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Any,
    Index(usize),
}

/// A compiled path: alternatives (first present wins), each a root and segments.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    alts: Vec<(Option<String>, Vec<Seg>)>,
}

impl Path {
    pub(crate) fn parse(s: &str) -> Result<Path, String> {
        let mut alts = Vec::new();
        for alt in s.split('|') {
            let alt = alt.trim();
            let (root, rest) = match alt.strip_prefix('$') {
                Some(r) => {
                    let (name, rest) = r.split_once('.').unwrap_or((r, ""));
                    if !["pod", "object"].contains(&name) {
                        return Err(format!("path {s:?}: unknown root ${name} ($pod, $object)"));
                    }
                    (Some(name.to_string()), rest)
                }
                None => (None, alt),
            };
            let mut segs = Vec::new();
            for part in rest.split('.').filter(|p| !p.is_empty()) {
                let (name, mut idx) = match part.find('[') {
                    Some(i) => (&part[..i], &part[i..]),
                    None => (part, ""),
                };
                if name == "*" {
                    segs.push(Seg::Any);
                } else if !name.is_empty() {
                    segs.push(Seg::Key(name.to_string()));
                }
                while let Some(r) = idx.strip_prefix('[') {
                    let end = r
                        .find(']')
                        .ok_or_else(|| format!("path {s:?}: unclosed ["))?;
                    let inner = &r[..end];
                    segs.push(if inner == "*" {
                        Seg::Any
                    } else {
                        Seg::Index(
                            inner
                                .parse()
                                .map_err(|_| format!("path {s:?}: bad index [{inner}]"))?,
                        )
                    });
                    idx = &r[end + 1..];
                }
                if !idx.is_empty() {
                    return Err(format!("path {s:?}: unexpected {idx:?}"));
                }
            }
            alts.push((root, segs));
        }
        Ok(Path { alts })
    }
}

/// Where a path led: a node, or the nearest existing ancestor when it is absent.
#[derive(Debug, Clone)]
pub(crate) struct Resolved<'a> {
    pub node: Option<&'a Node>,
    pub path: String,
    pub line: u32,
}

/// A scope to evaluate checks on, with the roots `$pod` and `$object` refer to.
#[derive(Debug, Clone)]
pub(crate) struct Scope<'a> {
    pub node: &'a Node,
    pub path: String,
    pub object: (&'a Node, String),
    pub pod: Option<(&'a Node, String)>,
    /// What `{name}` shows (container name, resource address, instruction).
    pub name: String,
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

fn walk<'a>(node: &'a Node, path: String, segs: &[Seg], out: &mut Vec<Resolved<'a>>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(Resolved {
            line: node.line,
            node: Some(node),
            path,
        });
        return;
    };
    let absent = |out: &mut Vec<Resolved<'a>>, p: String| {
        out.push(Resolved {
            node: None,
            path: p,
            line: node.line,
        })
    };
    match first {
        Seg::Key(k) => match node.get(k) {
            Some(n) => walk(n, join(&path, k), rest, out),
            None => absent(out, join(&path, k)),
        },
        Seg::Index(i) => match node.items().get(*i) {
            Some(n) => walk(n, format!("{path}[{i}]"), rest, out),
            None => absent(out, format!("{path}[{i}]")),
        },
        Seg::Any => match &node.value {
            Value::Map(m) if !m.is_empty() => {
                for (k, n) in m {
                    walk(n, join(&path, k), rest, out);
                }
            }
            Value::Seq(items) if !items.is_empty() => {
                for (i, n) in items.iter().enumerate() {
                    walk(n, format!("{path}[{i}]"), rest, out);
                }
            }
            _ => absent(out, format!("{path}[*]")),
        },
    }
}

impl<'a> Scope<'a> {
    pub(crate) fn resolve(&self, p: &Path) -> Vec<Resolved<'a>> {
        let mut last = Vec::new();
        for (root, segs) in &p.alts {
            let (node, base) = match root.as_deref() {
                None => (self.node, self.path.clone()),
                Some("pod") => match &self.pod {
                    Some((n, b)) => (*n, b.clone()),
                    None => continue,
                },
                Some(_) => (self.object.0, self.object.1.clone()),
            };
            let mut out = Vec::new();
            walk(node, base, segs, &mut out);
            if out
                .iter()
                .any(|r| r.node.is_some_and(|n| n.value != Value::Null))
            {
                return out;
            }
            if last.is_empty() {
                last = out;
            }
        }
        last
    }
}

#[derive(Debug)]
enum Op {
    Equals(toml::Value),
    NotEquals(toml::Value),
    In(Vec<toml::Value>),
    NotIn(Vec<toml::Value>),
    NotInOrAbsent(Vec<toml::Value>),
    Matches(Regex),
    NotMatches(Regex),
    Present,
    Absent,
    Gt(f64),
    Lt(f64),
    Contains(toml::Value),
    NotContains(toml::Value),
    KeysNotIn(Vec<String>),
    Empty,
}

fn eq(n: &Node, v: &toml::Value) -> bool {
    match (&n.value, v) {
        (Value::Bool(a), toml::Value::Boolean(b)) => a == b,
        (Value::Num(a), toml::Value::Integer(b)) => *a == *b as f64,
        (Value::Num(a), toml::Value::Float(b)) => a == b,
        (Value::Str(a), toml::Value::String(b)) => a == b,
        (Value::Str(a), toml::Value::Integer(b)) => a.trim() == b.to_string(),
        (Value::Str(a), toml::Value::Boolean(b)) => {
            a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => false,
    }
}

fn number(n: &Node) -> Option<f64> {
    match &n.value {
        Value::Num(x) => Some(*x),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_null(n: Option<&Node>) -> bool {
    n.is_none_or(|n| n.value == Value::Null)
}

impl Op {
    /// Does the condition hold on `r`? Returns where to point (it may be a child, for `keys_not_in`).
    fn test(&self, r: &Resolved<'_>) -> Option<(u32, String)> {
        let here = Some((r.line, r.path.clone()));
        let n = r.node.filter(|n| n.value != Value::Null);
        let hit = match self {
            Op::Absent => n.is_none(),
            Op::Present => n.is_some(),
            Op::Equals(v) => n.is_some_and(|n| eq(n, v)),
            Op::NotEquals(v) => n.is_none_or(|n| !eq(n, v) && !matches!(n.value, Value::Expr(_))),
            Op::In(vs) => n.is_some_and(|n| vs.iter().any(|v| eq(n, v))),
            Op::NotIn(vs) => n.is_some_and(|n| {
                n.scalar_text().is_some()
                    && !matches!(n.value, Value::Expr(_))
                    && !vs.iter().any(|v| eq(n, v))
            }),
            Op::NotInOrAbsent(vs) => {
                n.is_none_or(|n| !matches!(n.value, Value::Expr(_)) && !vs.iter().any(|v| eq(n, v)))
            }
            Op::Matches(re) => n
                .and_then(Node::scalar_text)
                .is_some_and(|t| re.is_match(&t)),
            Op::NotMatches(re) => n
                .filter(|n| !matches!(n.value, Value::Expr(_)))
                .and_then(Node::scalar_text)
                .is_some_and(|t| !re.is_match(&t)),
            Op::Gt(x) => n.and_then(number).is_some_and(|v| v > *x),
            Op::Lt(x) => n.and_then(number).is_some_and(|v| v < *x),
            Op::Contains(v) => n.is_some_and(|n| n.items().iter().any(|i| eq(i, v))),
            Op::NotContains(v) => n.is_none_or(|n| {
                !matches!(n.value, Value::Expr(_)) && !n.items().iter().any(|i| eq(i, v))
            }),
            Op::KeysNotIn(keys) => {
                let bad = n.and_then(|n| n.entries().iter().find(|(k, _)| !keys.contains(k)));
                return bad.map(|(k, v)| (v.line, join(&r.path, k)));
            }
            Op::Empty => {
                n.is_some_and(|n| match &n.value {
                    Value::Map(m) => m.is_empty(),
                    Value::Seq(s) => s.is_empty(),
                    _ => false,
                }) || (is_null(r.node) && r.node.is_some())
            }
        };
        if hit {
            here
        } else {
            None
        }
    }
}

#[derive(Debug)]
struct Condition {
    path: Path,
    op: Op,
}

/// A compiled declarative check.
#[derive(Debug)]
pub struct Check {
    /// Its metadata.
    pub meta: Arc<CheckMeta>,
    /// What it starts from (None: implemented in code).
    pub target: Option<CheckTarget>,
    kinds: Vec<String>,
    each: Option<Path>,
    when: Vec<Condition>,
    message: String,
}

fn compile_condition(c: &ConditionDef, id: &str) -> Result<Condition, String> {
    let re = |s: &String| {
        Regex::new(s).map_err(|e| format!("check {id}: bad regular expression {s:?}: {e}"))
    };
    let mut ops = Vec::new();
    if let Some(v) = &c.equals {
        ops.push(Op::Equals(v.clone()));
    }
    if let Some(v) = &c.not_equals {
        ops.push(Op::NotEquals(v.clone()));
    }
    if let Some(v) = &c.in_ {
        ops.push(Op::In(v.clone()));
    }
    if let Some(v) = &c.not_in {
        ops.push(Op::NotIn(v.clone()));
    }
    if let Some(v) = &c.not_in_or_absent {
        ops.push(Op::NotInOrAbsent(v.clone()));
    }
    if let Some(v) = &c.matches {
        ops.push(Op::Matches(re(v)?));
    }
    if let Some(v) = &c.not_matches {
        ops.push(Op::NotMatches(re(v)?));
    }
    match c.present {
        Some(true) => ops.push(Op::Present),
        Some(false) => ops.push(Op::Absent),
        None => {}
    }
    match c.absent {
        Some(true) => ops.push(Op::Absent),
        Some(false) => ops.push(Op::Present),
        None => {}
    }
    if let Some(v) = c.gt {
        ops.push(Op::Gt(v));
    }
    if let Some(v) = c.lt {
        ops.push(Op::Lt(v));
    }
    if let Some(v) = &c.contains {
        ops.push(Op::Contains(v.clone()));
    }
    if let Some(v) = &c.not_contains {
        ops.push(Op::NotContains(v.clone()));
    }
    if let Some(v) = &c.keys_not_in {
        ops.push(Op::KeysNotIn(v.clone()));
    }
    if c.empty == Some(true) {
        ops.push(Op::Empty);
    }
    if ops.len() != 1 {
        return Err(format!(
            "check {id}: condition on {:?} needs exactly one operator, has {}",
            c.path,
            ops.len()
        ));
    }
    Ok(Condition {
        path: Path::parse(&c.path).map_err(|e| format!("check {id}: {e}"))?,
        op: ops.remove(0),
    })
}

/// Compiles definitions; `builtin` allows code checks (no `target`).
pub fn compile(defs: &[CheckDef], builtin: bool) -> Result<Vec<Check>, String> {
    let mut out: Vec<Check> = Vec::new();
    for d in defs {
        if d.id.trim().is_empty() || d.id.contains(char::is_whitespace) {
            return Err(format!(
                "check id {:?} must be non-empty without spaces",
                d.id
            ));
        }
        if out.iter().any(|c| c.meta.id == d.id) {
            return Err(format!("check {} is defined twice", d.id));
        }
        let severity = cfg::severity(d)?;
        if d.target.is_none() && !builtin {
            return Err(format!("check {}: needs a target", d.id));
        }
        if d.target.is_some() && (d.when.is_empty() || d.message.is_empty()) {
            return Err(format!(
                "check {}: needs at least one [[check.when]] and a message",
                d.id
            ));
        }
        if d.title.trim().is_empty() || d.remediation.trim().is_empty() {
            return Err(format!("check {}: needs a title and a remediation", d.id));
        }
        let when = d
            .when
            .iter()
            .map(|c| compile_condition(c, &d.id))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Check {
            meta: Arc::new(CheckMeta {
                id: d.id.clone(),
                title: d.title.clone(),
                severity,
                risk: d.risk.clone(),
                remediation: d.remediation.clone(),
                checkov: d.checkov.clone(),
                trivy: d.trivy.clone(),
                controls: d.controls.clone(),
                profile: d.profile.clone(),
            }),
            target: d.target,
            kinds: d.kinds.clone(),
            each: d
                .each
                .as_deref()
                .map(Path::parse)
                .transpose()
                .map_err(|e| format!("check {}: {e}", d.id))?,
            when,
            message: d.message.clone(),
        })
    }
    Ok(out)
}

/// A check's hit on a scope.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub line: u32,
    pub field: String,
    pub message: String,
}

impl Check {
    /// True when the check applies to this kind (object kind, resource type, instruction).
    pub(crate) fn applies_to(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.eq_ignore_ascii_case(kind))
    }

    /// Evaluates the check on a scope.
    pub(crate) fn eval(&self, scope: &Scope<'_>, object_label: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        let bases: Vec<Scope<'_>> = match &self.each {
            None => vec![scope.clone()],
            Some(p) => p
                .alts
                .iter()
                .flat_map(|alt| {
                    scope.resolve(&Path {
                        alts: vec![alt.clone()],
                    })
                })
                .filter_map(|r| {
                    r.node.map(|n| Scope {
                        node: n,
                        path: r.path,
                        name: scope.name.clone(),
                        ..scope.clone()
                    })
                })
                .collect(),
        };
        'bases: for base in &bases {
            let mut first: Option<(u32, String, Option<String>)> = None;
            for c in &self.when {
                let found = base.resolve(&c.path).into_iter().find_map(|r| {
                    c.op.test(&r)
                        .map(|(l, f)| (l, f, r.node.and_then(Node::scalar_text)))
                });
                match found {
                    Some(f) => {
                        first.get_or_insert(f);
                    }
                    None => continue 'bases,
                }
            }
            let (line, field, value) = first.unwrap_or((base.node.line, base.path.clone(), None));
            let element = base
                .node
                .scalar_text()
                .or_else(|| base.node.str_at("name").map(str::to_string));
            let message = self
                .message
                .replace("{value}", value.as_deref().unwrap_or("(unset)"))
                .replace("{element}", element.as_deref().unwrap_or(""))
                .replace("{name}", &scope.name)
                .replace("{object}", object_label);
            hits.push(Hit {
                line,
                field,
                message,
            });
        }
        hits
    }
}
