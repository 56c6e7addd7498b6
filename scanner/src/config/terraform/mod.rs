//! Terraform (AWS): the checks of `checks.toml` on each `resource` block, evaluated with the variable defaults and
//! locals of all `.tf` files of the same directory, plus those that need code (relations between resources, port
//! ranges, IAM policy documents).

use super::doc::{Node, Value};
use super::hcl::{self, Env, TopBlock};
use super::rules::{CheckTarget, Scope};
use super::yaml::{parse_documents, YamlLimits};
use super::{Catalogue, ConfigFinding, Family, ParseError};

/// The catalogue.
pub(crate) const CATALOGUE: &str = include_str!("checks.toml");

const ADMIN_PORTS: [(f64, &str); 2] = [(22.0, "SSH"), (3389.0, "RDP")];

struct Resource<'a> {
    file: &'a str,
    kind: String,
    ty: String,
    name: String,
    body: Node,
}

impl Resource<'_> {
    fn address(&self) -> String {
        if self.kind == "data" {
            format!("data.{}.{}", self.ty, self.name)
        } else {
            format!("{}.{}", self.ty, self.name)
        }
    }

    /// Does attribute `attr` refer to this resource (by reference or by its literal bucket/name)?
    fn referenced_by(&self, other: &Node, attr: &str) -> bool {
        let Some(v) = other.get(attr) else {
            return false;
        };
        match &v.value {
            Value::Expr(e) => e.contains(&format!("{}.{}.", self.ty, self.name)),
            Value::Str(s) => self.body.str_at("bucket") == Some(s.as_str()),
            _ => false,
        }
    }
}

/// Scans the `.tf` files of one directory. Returns the files that could not be parsed.
pub(crate) fn scan_dir(
    cat: &Catalogue,
    files: &[(String, String)],
    found: &mut Vec<ConfigFinding>,
) -> Vec<(String, ParseError)> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (name, text) in files {
        match hcl::parse(text) {
            Ok(f) => parsed.push((name.as_str(), f)),
            Err(e) => errors.push((name.clone(), e)),
        }
    }
    let mut env = Env::default();
    for (_, f) in &parsed {
        f.gather(&mut env);
    }
    let mut resources = Vec::new();
    for (name, f) in &parsed {
        for TopBlock { kind, labels, body } in f.blocks(&env) {
            if (kind == "resource" || kind == "data") && labels.len() == 2 {
                resources.push(Resource {
                    file: name,
                    kind,
                    ty: labels[0].clone(),
                    name: labels[1].clone(),
                    body,
                });
            }
        }
    }
    let checks: Vec<_> = cat.declarative(Family::Terraform).collect();
    for r in &resources {
        let target = if r.kind == "data" {
            CheckTarget::Data
        } else {
            CheckTarget::Resource
        };
        let scope = Scope {
            node: &r.body,
            path: String::new(),
            object: (&r.body, String::new()),
            pod: None,
            name: r.address(),
        };
        for c in &checks {
            if c.target == Some(target) && c.applies_to(&r.ty) {
                for h in c.eval(&scope, &r.address()) {
                    found.push(ConfigFinding::new(
                        &c.meta,
                        Family::Terraform,
                        r.file,
                        h.line,
                        h.field,
                        r.address(),
                        h.message,
                    ));
                }
            }
        }
    }
    let mut push = |id: &str, r: &Resource<'_>, line: u32, field: &str, message: String| {
        if let Some(m) = cat.meta(id) {
            found.push(ConfigFinding::new(
                m,
                Family::Terraform,
                r.file,
                line,
                field.to_string(),
                r.address(),
                message,
            ));
        }
    };
    fn of_type<'r, 'a>(
        resources: &'r [Resource<'a>],
        ty: &'static str,
    ) -> impl Iterator<Item = &'r Resource<'a>> {
        resources
            .iter()
            .filter(move |r| r.kind == "resource" && r.ty == ty)
    }
    for b in of_type(&resources, "aws_s3_bucket") {
        let inline_sse = b.body.get("server_side_encryption_configuration").is_some();
        let sse = of_type(
            &resources,
            "aws_s3_bucket_server_side_encryption_configuration",
        )
        .any(|o| b.referenced_by(&o.body, "bucket"));
        if !inline_sse && !sse {
            push(
                "PAL-TF-001",
                b,
                b.body.line,
                "server_side_encryption_configuration",
                format!(
                    "{} has no server-side encryption configuration",
                    b.address()
                ),
            );
        }
        if !of_type(&resources, "aws_s3_bucket_public_access_block")
            .any(|o| b.referenced_by(&o.body, "bucket"))
        {
            push(
                "PAL-TF-003",
                b,
                b.body.line,
                "",
                format!(
                    "no aws_s3_bucket_public_access_block refers to {}",
                    b.address()
                ),
            );
        }
    }
    for p in of_type(&resources, "aws_s3_bucket_public_access_block") {
        for attr in [
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        ] {
            match p.body.get(attr) {
                Some(v) if v.is_true() || matches!(v.value, Value::Expr(_)) => {}
                Some(v) => push(
                    "PAL-TF-004",
                    p,
                    v.line,
                    attr,
                    format!(
                        "{} sets {attr} = {}",
                        p.address(),
                        v.scalar_text().unwrap_or_default()
                    ),
                ),
                None => push(
                    "PAL-TF-004",
                    p,
                    p.body.line,
                    attr,
                    format!("{} leaves {attr} unset (false)", p.address()),
                ),
            }
        }
    }
    for r in resources.iter().filter(|r| r.kind == "resource") {
        let rules: Vec<&Node> = match r.ty.as_str() {
            "aws_security_group" => r
                .body
                .get("ingress")
                .map(|i| i.items().iter().collect())
                .unwrap_or_default(),
            "aws_security_group_rule" if r.body.str_at("type") == Some("ingress") => vec![&r.body],
            "aws_vpc_security_group_ingress_rule" => vec![&r.body],
            _ => continue,
        };
        for rule in rules {
            if let Some(msg) = open_admin_port(rule) {
                push(
                    "PAL-TF-005",
                    r,
                    rule.line,
                    "ingress",
                    format!("{} {msg}", r.address()),
                );
            }
        }
    }
    for r in &resources {
        let policies: Vec<(u32, Node)> = match (r.kind.as_str(), r.ty.as_str()) {
            (
                "resource",
                "aws_iam_policy"
                | "aws_iam_role_policy"
                | "aws_iam_user_policy"
                | "aws_iam_group_policy",
            ) => r
                .body
                .get("policy")
                .and_then(policy_document)
                .into_iter()
                .collect(),
            ("resource", "aws_iam_role") => r
                .body
                .get("inline_policy")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.get("policy").and_then(policy_document))
                .collect(),
            ("data", "aws_iam_policy_document") => {
                let statements = r.body.get("statement").map(Node::items).unwrap_or_default();
                for s in statements {
                    let allow = s.str_at("effect").is_none_or(|e| e == "Allow");
                    if allow && has_star(s.get("actions")) && has_star(s.get("resources")) {
                        let line = s.get("actions").map_or(s.line, |a| a.line);
                        push(
                            "PAL-TF-011",
                            r,
                            line,
                            "statement.actions",
                            format!("{} allows \"*\" on \"*\"", r.address()),
                        );
                    }
                }
                vec![]
            }
            _ => vec![],
        };
        for (line, doc) in policies {
            let statements: Vec<&Node> = match doc.get("Statement") {
                Some(s) if !s.items().is_empty() => s.items().iter().collect(),
                Some(s) => vec![s],
                None => vec![],
            };
            for s in statements {
                let allow = s.str_at("Effect") == Some("Allow");
                if allow && has_star(s.get("Action")) && has_star(s.get("Resource")) {
                    let at = s.get("Action").map_or(line, |a| a.line.max(line));
                    push(
                        "PAL-TF-011",
                        r,
                        at,
                        "policy.Statement.Action",
                        format!("{} allows Action \"*\" on Resource \"*\"", r.address()),
                    );
                }
            }
        }
    }
    errors
}

/// The policy document of a `policy` attribute: `jsonencode({...})` was evaluated to a mapping; a JSON string
/// (heredoc or literal) is parsed. Lines inside a string point at the attribute.
fn policy_document(n: &Node) -> Option<(u32, Node)> {
    match &n.value {
        Value::Map(_) => Some((n.line, n.clone())),
        Value::Str(s) => {
            let (docs, _) = parse_documents(
                s,
                YamlLimits {
                    max_nodes: 100_000,
                    max_depth: 64,
                },
            );
            docs.into_iter().next().map(|mut d| {
                relocate(&mut d, n.line);
                (n.line, d)
            })
        }
        _ => None,
    }
}

fn relocate(n: &mut Node, line: u32) {
    n.line = line;
    match &mut n.value {
        Value::Map(m) => m.iter_mut().for_each(|(_, v)| relocate(v, line)),
        Value::Seq(s) => s.iter_mut().for_each(|v| relocate(v, line)),
        _ => {}
    }
}

fn has_star(n: Option<&Node>) -> bool {
    n.is_some_and(|n| n.as_str() == Some("*") || n.items().iter().any(|i| i.as_str() == Some("*")))
}

/// `None`, or what is open: SSH/RDP from 0.0.0.0/0 or ::/0.
fn open_admin_port(rule: &Node) -> Option<String> {
    let world = |k: &str, any: &str| {
        rule.get(k).is_some_and(|v| {
            v.as_str() == Some(any) || v.items().iter().any(|i| i.as_str() == Some(any))
        })
    };
    let open = world("cidr_blocks", "0.0.0.0/0")
        || world("ipv6_cidr_blocks", "::/0")
        || world("cidr_ipv4", "0.0.0.0/0")
        || world("cidr_ipv6", "::/0");
    if !open {
        return None;
    }
    let proto = rule
        .get("protocol")
        .or(rule.get("ip_protocol"))
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let all_proto = proto == "-1" || proto.eq_ignore_ascii_case("all");
    let num = |k: &str| {
        rule.get(k).and_then(|v| match &v.value {
            Value::Num(n) => Some(*n),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        })
    };
    let (from, to) = (num("from_port"), num("to_port"));
    let open_ports: Vec<&str> = ADMIN_PORTS
        .iter()
        .filter(|(p, _)| {
            all_proto
                || match (from, to) {
                    (Some(f), Some(t)) => {
                        (f <= *p && *p <= t) || (f == 0.0 && t == 0.0 && all_proto)
                    }
                    _ => false,
                }
        })
        .map(|(_, n)| *n)
        .collect();
    if open_ports.is_empty() {
        return None;
    }
    Some(format!(
        "opens {} to the whole internet",
        open_ports.join(" and ")
    ))
}
