//! Kubernetes manifests: every object of every document (`List`s unpacked, Helm-rendered streams included), the pod
//! spec of each workload at its real path, and the checks of `checks.toml` plus those that need code (AppArmor
//! annotations, the default-deny NetworkPolicy per namespace).

mod cfg;

use std::collections::{BTreeMap, BTreeSet};

pub use cfg::Profile;

use super::doc::Node;
use super::rules::{CheckTarget, Scope};
use super::yaml::{parse_documents, YamlLimits};
use super::{Catalogue, ConfigFinding, Family, ParseError, SuppressedConfig};

/// The catalogue.
pub(crate) const CATALOGUE: &str = include_str!("checks.toml");

/// Annotation prefix for suppression in place: `ignore.palisade.dev/PAL-K8S-017: "reason"`.
const IGNORE_ANNOTATION: &str = "ignore.palisade.dev/";

/// Where the pod spec of a workload kind lives.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "PodTemplate" => &["template", "spec"],
        _ => return None,
    })
}

/// Where the pod's metadata (annotations) lives: beside the pod spec.
fn pod_meta<'a>(obj: &'a Node, kind: &str) -> Option<&'a Node> {
    let p = pod_spec_path(kind)?;
    let mut n = obj;
    for seg in &p[..p.len() - 1] {
        n = n.get(seg)?;
    }
    n.get("metadata")
}

/// Facts gathered across files for cluster-wide checks.
#[derive(Debug, Default)]
pub(crate) struct ClusterFacts {
    /// Namespace → first workload seen in it (file, line, object).
    workloads: BTreeMap<String, (String, u32, String)>,
    /// Namespaces with a default-deny ingress policy.
    default_deny: BTreeSet<String>,
}

impl ClusterFacts {
    pub(crate) fn finish(&self, cat: &Catalogue, out: &mut Vec<ConfigFinding>) {
        let Some(meta) = cat.meta("PAL-K8S-030") else {
            return;
        };
        for (ns, (file, line, object)) in &self.workloads {
            if !self.default_deny.contains(ns) {
                let shown = if ns.is_empty() {
                    "(not set in the manifests)"
                } else {
                    ns
                };
                out.push(ConfigFinding::new(
                    meta,
                    Family::Kubernetes,
                    file,
                    *line,
                    "metadata.namespace".into(),
                    object.clone(),
                    format!("namespace {shown} runs workloads but has no default-deny ingress NetworkPolicy"),
                ));
            }
        }
    }
}

fn is_default_deny(obj: &Node) -> bool {
    let Some(spec) = obj.get("spec") else {
        return false;
    };
    let selects_all = spec.get("podSelector").is_some_and(|s| {
        s.entries().iter().all(|(k, v)| {
            (k == "matchLabels" || k == "matchExpressions")
                && v.entries().is_empty()
                && v.items().is_empty()
        })
    });
    let types: Vec<&str> = spec
        .get("policyTypes")
        .map(|t| t.items().iter().filter_map(Node::as_str).collect())
        .unwrap_or_default();
    let ingress_policy = types.is_empty() || types.contains(&"Ingress");
    let no_rules = spec.get("ingress").is_none_or(|i| i.items().is_empty());
    selects_all && ingress_policy && no_rules
}

struct Object<'a> {
    node: &'a Node,
    path: String,
    kind: String,
    label: String,
}

fn collect_objects<'a>(node: &'a Node, path: String, out: &mut Vec<Object<'a>>) {
    let Some(kind) = node.str_at("kind") else {
        return;
    };
    if node.str_at("apiVersion").is_none() {
        return;
    }
    if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
        for (i, item) in node
            .get("items")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            collect_objects(item, format!("{}items[{i}].", path), out);
        }
        return;
    }
    let meta = node.get("metadata");
    let name = meta.and_then(|m| m.str_at("name")).unwrap_or("(unnamed)");
    let label = match meta.and_then(|m| m.str_at("namespace")) {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    };
    out.push(Object {
        node,
        path,
        kind: kind.to_string(),
        label,
    });
}

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Scans one YAML/JSON file.
pub(crate) fn scan(
    cat: &Catalogue,
    profile: Profile,
    file: &str,
    text: &str,
    found: &mut Vec<ConfigFinding>,
    suppressed: &mut Vec<SuppressedConfig>,
    facts: &mut ClusterFacts,
) -> Result<(), ParseError> {
    let (docs, err) = parse_documents(text, YamlLimits::default());
    let mut objects = Vec::new();
    for d in &docs {
        collect_objects(d, String::new(), &mut objects);
    }
    let checks: Vec<_> = cat
        .declarative(Family::Kubernetes)
        .filter(|c| profile.includes(c.meta.profile.as_deref()))
        .collect();
    for obj in &objects {
        let root = |p: &str| p.strip_suffix('.').unwrap_or(p).to_string();
        let mut hits: Vec<ConfigFinding> = Vec::new();
        let object_scope = Scope {
            node: obj.node,
            path: root(&obj.path),
            object: (obj.node, root(&obj.path)),
            pod: None,
            name: obj.label.clone(),
        };
        let mut push = |meta: &super::CheckMeta, line: u32, field: String, message: String| {
            hits.push(ConfigFinding::new(
                meta,
                Family::Kubernetes,
                file,
                line,
                field,
                obj.label.clone(),
                message,
            ));
        };
        let pod = pod_spec_path(&obj.kind).and_then(|p| {
            let mut n = obj.node;
            for seg in p {
                n = n.get(seg)?;
            }
            Some((n, format!("{}{}", obj.path, p.join("."))))
        });
        if pod.is_some() {
            let ns_node = obj.node.get("metadata").and_then(|m| m.get("namespace"));
            let ns = ns_node.and_then(Node::as_str).unwrap_or("").to_string();
            let line = ns_node.map_or(obj.node.line, |n| n.line);
            facts
                .workloads
                .entry(ns)
                .or_insert_with(|| (file.to_string(), line, obj.label.clone()));
        }
        if obj.kind == "NetworkPolicy" && is_default_deny(obj.node) {
            let ns = obj
                .node
                .get("metadata")
                .and_then(|m| m.str_at("namespace"))
                .unwrap_or("")
                .to_string();
            facts.default_deny.insert(ns);
        }
        for c in &checks {
            match c.target {
                Some(CheckTarget::Object) if c.applies_to(&obj.kind) => {
                    for h in c.eval(&object_scope, &obj.label) {
                        push(&c.meta, h.line, h.field, h.message);
                    }
                }
                Some(CheckTarget::Pod) => {
                    if let Some((pn, pp)) = &pod {
                        let s = Scope {
                            node: pn,
                            path: pp.clone(),
                            pod: Some((pn, pp.clone())),
                            ..object_scope.clone()
                        };
                        for h in c.eval(&s, &obj.label) {
                            push(&c.meta, h.line, h.field, h.message);
                        }
                    }
                }
                Some(CheckTarget::Container) => {
                    let Some((pn, pp)) = &pod else { continue };
                    for list in CONTAINER_LISTS {
                        for (i, ct) in pn
                            .get(list)
                            .map(Node::items)
                            .unwrap_or_default()
                            .iter()
                            .enumerate()
                        {
                            let s = Scope {
                                node: ct,
                                path: format!("{pp}.{list}[{i}]"),
                                pod: Some((pn, pp.clone())),
                                name: ct.str_at("name").unwrap_or("(unnamed)").to_string(),
                                ..object_scope.clone()
                            };
                            for h in c.eval(&s, &obj.label) {
                                push(&c.meta, h.line, h.field, h.message);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if let (Some((pn, pp)), Some(meta)) = (&pod, cat.meta("PAL-K8S-009")) {
            if profile.includes(meta.profile.as_deref()) {
                for (line, field, msg) in apparmor(obj, pn, pp) {
                    push(meta, line, field, msg);
                }
            }
        }
        // Suppression by annotation, on the object or on its pod template.
        let annotations: Vec<&(String, Node)> =
            [obj.node.get("metadata"), pod_meta(obj.node, &obj.kind)]
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("annotations"))
                .flat_map(|a| a.entries())
                .filter(|(k, _)| k.starts_with(IGNORE_ANNOTATION))
                .collect();
        for f in hits {
            let reason = annotations
                .iter()
                .find(|(k, _)| k[IGNORE_ANNOTATION.len()..] == f.id)
                .and_then(|(_, v)| v.as_str())
                .filter(|r| !r.trim().is_empty());
            match reason {
                Some(r) => suppressed.push(SuppressedConfig {
                    reason: format!("annotation: {r}"),
                    finding: f,
                }),
                None => found.push(f),
            }
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// PAL-K8S-009: `appArmorProfile.type: Unconfined` (pod or container) or a legacy annotation other than
/// `runtime/default` / `localhost/*`.
fn apparmor(obj: &Object<'_>, pod: &Node, pod_path: &str) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    let pod_type = pod
        .get("securityContext")
        .and_then(|s| s.get("appArmorProfile"))
        .and_then(|a| a.get("type"));
    for list in CONTAINER_LISTS {
        for (i, ct) in pod
            .get(list)
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = ct.str_at("name").unwrap_or("(unnamed)");
            let own = ct
                .get("securityContext")
                .and_then(|s| s.get("appArmorProfile"))
                .and_then(|a| a.get("type"));
            let (node, field) = match own {
                Some(n) => (
                    Some(n),
                    format!("{pod_path}.{list}[{i}].securityContext.appArmorProfile.type"),
                ),
                None => (
                    pod_type,
                    format!("{pod_path}.securityContext.appArmorProfile.type"),
                ),
            };
            if let Some(n) = node.filter(|n| n.as_str() == Some("Unconfined")) {
                out.push((
                    n.line,
                    field,
                    format!("container {name} runs with AppArmor profile Unconfined"),
                ));
            }
            let key = format!("container.apparmor.security.beta.kubernetes.io/{name}");
            let ann = pod_meta(obj.node, &obj.kind)
                .or_else(|| obj.node.get("metadata"))
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(&key));
            if let Some(v) = ann.and_then(|a| a.as_str().map(|s| (a.line, s))) {
                if v.1 != "runtime/default" && !v.1.starts_with("localhost/") {
                    out.push((
                        v.0,
                        format!("metadata.annotations.{key}"),
                        format!("container {name} runs with AppArmor profile {}", v.1),
                    ));
                }
            }
        }
    }
    out
}
