//! A compiled, immutable policy version, and how it decides.
//!
//! Everything a decision needs is built once when a version is compiled — the
//! policy set, the schema, the shared [`Entities`] — and then only read. A
//! request that brings its own entities (AuthZEN `properties`, Cedar-native
//! `entities`) does not copy the store: it gets a *slice*, the store entities
//! reachable from the request (principal, action, resource, the context, the
//! request's entities, every entity literal in the policies, and then their
//! ancestors and attribute references, transitively). Cedar can reach no other
//! entity while evaluating, so the decision is the same as on the full store,
//! at a cost that depends on the request, not on the size of the store.

use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, EvalResult, Policy, PolicyId, PolicySet, Request, Schema, SlotId, Template,
    ValidationMode, Validator,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::bundle::{PolicyBundle, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::error::PolicyError;
use crate::nesting::{self, Syntax};

/// Past this many store entities, a request-scoped slice gives up and the
/// request is evaluated on a full merged copy (correct, just slower).
const MAX_SLICE: usize = 50_000;
/// Stack of the thread that runs Cedar's parser and validator. Address space
/// only: pages are committed as the recursion touches them.
const COMPILE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// What to do when a policy fails to evaluate (for example an overflow, or an
/// attribute missing from an entity in a store without a schema).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnEvaluationError {
    /// Deny the request (fail closed): Palisade's default. An erroring
    /// `forbid` can never turn into an allow.
    #[default]
    Deny,
    /// Cedar's own semantics: skip the erroring policy and decide on the rest.
    Skip,
}

/// An API-neutral authorization question, in Cedar terms.
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    /// Who is asking.
    pub principal: EntityUid,
    /// What they want to do.
    pub action: EntityUid,
    /// On what.
    pub resource: EntityUid,
    /// The request context, a JSON object in Cedar's JSON value format.
    pub context: Option<serde_json::Value>,
    /// Request-scoped entities in Cedar's entity JSON format (an array).
    /// They take precedence over store entities with the same uid.
    pub entities: Option<serde_json::Value>,
}

/// The answer to a [`DecisionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Ids of the policies that determined the decision.
    pub reasons: Vec<String>,
    /// Evaluation errors and request errors, in words.
    pub errors: Vec<String>,
}

impl Decision {
    /// A deny caused by an error that stopped evaluation.
    pub fn deny_with_error(error: impl Into<String>) -> Self {
        Self {
            allowed: false,
            reasons: Vec::new(),
            errors: vec![error.into()],
        }
    }
}

/// One compiled policy version: immutable, shared by every request that sees it.
pub struct PolicyVersion {
    etag: String,
    loaded_at: OffsetDateTime,
    bundle: PolicyBundle,
    policies: PolicySet,
    schema: Option<Schema>,
    entities: Entities,
    literals: Vec<EntityUid>,
    authorizer: Authorizer,
    on_error: OnEvaluationError,
    by_type: OnceLock<HashMap<String, Vec<EntityUid>>>,
}

impl std::fmt::Debug for PolicyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyVersion")
            .field("etag", &self.etag)
            .field("policies", &self.policies.policies().count())
            .field("entities", &self.entities.iter().count())
            .finish()
    }
}

#[derive(Deserialize)]
struct LinkSpec {
    template_id: String,
    link_id: String,
    args: HashMap<String, serde_json::Value>,
}

impl PolicyVersion {
    /// Parses, links and validates a bundle. Nothing is returned unless the
    /// whole bundle is valid; every problem found is reported at once.
    ///
    /// Text nested deeper than Cedar's recursive parser can take is refused
    /// with a diagnostic before Cedar sees it, and the parser itself runs on a
    /// dedicated thread with a large stack: no bundle can abort the process.
    pub fn compile(bundle: PolicyBundle, on_error: OnEvaluationError) -> Result<Self, PolicyError> {
        let mut problems: Vec<Diagnostic> = bundle
            .policies
            .iter()
            .filter_map(|f| nesting::check(&f.name, &f.text, Syntax::Policy))
            .collect();
        if let Some(f) = bundle.schema.as_ref().filter(|_| !bundle.schema_is_json()) {
            problems.extend(nesting::check(&f.name, &f.text, Syntax::Schema));
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        std::thread::Builder::new()
            .name("policy-compile".into())
            .stack_size(COMPILE_STACK_BYTES)
            .spawn(move || Self::compile_checked(bundle, on_error))
            .map_err(|e| PolicyError::Config(format!("cannot start the policy compiler: {e}")))?
            .join()
            .map_err(|_| PolicyError::Config("the policy compiler panicked".into()))?
    }

    fn compile_checked(
        bundle: PolicyBundle,
        on_error: OnEvaluationError,
    ) -> Result<Self, PolicyError> {
        let mut problems = Vec::new();
        let schema = compile_schema(&bundle, &mut problems);
        let (mut policies, origin) = compile_policies(&bundle.policies, &mut problems);
        compile_links(&bundle.links, &mut policies, &mut problems);
        if let (Some(schema), true) = (&schema, problems.is_empty()) {
            let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
            for err in result.validation_errors() {
                let id = err.policy_id().to_string();
                let file = origin.get(&id).map(|i| &bundle.policies[*i]);
                let (name, text) = match file {
                    Some(f) => (f.name.as_str(), Some(f.text.as_str())),
                    None => ("<template link>", None),
                };
                for mut d in Diagnostic::from_miette(name, text, err) {
                    d.message = format!("policy `{id}`: {}", d.message);
                    problems.push(d);
                }
            }
        }
        let entities = compile_entities(&bundle.entities, schema.as_ref(), &mut problems);
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let literals: HashSet<EntityUid> = policies
            .policies()
            .flat_map(|p| p.entity_literals())
            .collect();
        Ok(Self {
            etag: etag_of(&bundle),
            loaded_at: OffsetDateTime::now_utc(),
            bundle,
            policies,
            schema,
            entities,
            literals: literals.into_iter().collect(),
            authorizer: Authorizer::new(),
            on_error,
            by_type: OnceLock::new(),
        })
    }

    /// Content hash of the bundle: equal bundles have equal etags.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// When this version was compiled.
    pub fn loaded_at(&self) -> OffsetDateTime {
        self.loaded_at
    }

    /// The sources this version was compiled from.
    pub fn bundle(&self) -> &PolicyBundle {
        &self.bundle
    }

    /// The policy set (static and template-linked policies, and templates).
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The schema, when the bundle has one.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// The entity store of this version.
    pub fn entities(&self) -> &Entities {
        &self.entities
    }

    /// Number of policies (static and linked).
    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }

    /// Number of entities in the store.
    pub fn entity_count(&self) -> usize {
        self.entities.iter().count()
    }

    /// Store entities of one type, sorted by id (computed once per version).
    pub fn entities_of_type(&self, type_name: &str) -> &[EntityUid] {
        let index = self.by_type.get_or_init(|| {
            let mut map: HashMap<String, Vec<EntityUid>> = HashMap::new();
            for e in self.entities.iter() {
                map.entry(e.uid().type_name().to_string())
                    .or_default()
                    .push(e.uid().clone());
            }
            for v in map.values_mut() {
                v.sort_by(|a, b| a.id().unescaped().cmp(b.id().unescaped()));
            }
            map
        });
        index.get(type_name).map_or(&[], Vec::as_slice)
    }

    /// Action uids known to this version: from the schema, else from the
    /// store and the policies.
    pub fn actions(&self) -> Vec<EntityUid> {
        let mut out: Vec<EntityUid> = match &self.schema {
            Some(s) => s.actions().cloned().collect(),
            None => self
                .entities
                .iter()
                .map(|e| e.uid().clone())
                .chain(self.literals.iter().cloned())
                .filter(is_action)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect(),
        };
        out.sort_by_key(ToString::to_string);
        out
    }

    /// Decides one request. Never panics and never fails open: a request that
    /// cannot be evaluated is a deny that says why.
    pub fn decide(&self, req: &DecisionRequest) -> Decision {
        let context = match &req.context {
            None => Context::empty(),
            Some(v) => {
                let schema = self.schema.as_ref().map(|s| (s, &req.action));
                match Context::from_json_value(v.clone(), schema) {
                    Ok(c) => c,
                    Err(e) => return Decision::deny_with_error(format!("invalid context: {e}")),
                }
            }
        };
        self.decide_in(req, context)
    }

    /// Decides `req` in `context`, a Cedar context its caller built directly
    /// (`Context::from_pairs`), with no JSON to parse: for embedded callers
    /// whose context has a fixed shape (the CA's `ca:issue`). `req.context`
    /// is not read. With a schema, the context is still validated against
    /// the action's. Never panics and never fails open, like [`Self::decide`].
    pub fn decide_in(&self, req: &DecisionRequest, context: Context) -> Decision {
        let request = match Request::new(
            req.principal.clone(),
            req.action.clone(),
            req.resource.clone(),
            context,
            self.schema.as_ref(),
        ) {
            Ok(r) => r,
            Err(e) => return Decision::deny_with_error(format!("invalid request: {e}")),
        };
        let response = match &req.entities {
            None => self
                .authorizer
                .is_authorized(&request, &self.policies, &self.entities),
            Some(extra) => {
                let entities = match self.with_request_entities(req, extra) {
                    Ok(e) => e,
                    Err(e) => return Decision::deny_with_error(e),
                };
                self.authorizer
                    .is_authorized(&request, &self.policies, &entities)
            }
        };
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        let mut allowed = response.decision() == CedarDecision::Allow;
        if !errors.is_empty() && self.on_error == OnEvaluationError::Deny {
            allowed = false;
        }
        // Cedar reports reasons as a set; sort them so answers are stable.
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort_unstable();
        Decision {
            allowed,
            reasons,
            errors,
        }
    }

    /// The store slice a request can reach, merged with its own entities.
    fn with_request_entities(
        &self,
        req: &DecisionRequest,
        extra: &serde_json::Value,
    ) -> Result<Entities, String> {
        let own = Entities::from_json_value(extra.clone(), self.schema.as_ref())
            .map_err(|e| format!("invalid request entities: {e}"))?;
        let mut roots: Vec<EntityUid> = vec![
            req.principal.clone(),
            req.action.clone(),
            req.resource.clone(),
        ];
        roots.extend(self.literals.iter().cloned());
        if let Some(ctx) = &req.context {
            collect_json_uids(ctx, &mut roots, 0);
        }
        for e in own.iter() {
            roots.push(e.uid().clone());
            push_refs(e, &mut roots);
            if let Some(anc) = own.ancestors(&e.uid()) {
                roots.extend(anc.cloned());
            }
        }
        let mut seen: HashSet<EntityUid> = HashSet::new();
        let mut queue: VecDeque<EntityUid> = roots.into();
        let mut slice: Vec<Entity> = Vec::new();
        let skip_actions = self.schema.is_some();
        while let Some(uid) = queue.pop_front() {
            if !seen.insert(uid.clone()) || own.get(&uid).is_some() {
                continue;
            }
            if skip_actions && is_action(&uid) {
                continue;
            }
            let Some(entity) = self.entities.get(&uid) else {
                continue;
            };
            if slice.len() >= MAX_SLICE {
                return merge_full(&self.entities, own, self.schema.as_ref(), skip_actions);
            }
            let mut next = Vec::new();
            push_refs(entity, &mut next);
            if let Some(anc) = self.entities.ancestors(&uid) {
                next.extend(anc.cloned());
            }
            queue.extend(next);
            slice.push(entity.clone());
        }
        let own_list: Vec<Entity> = own
            .iter()
            .filter(|e| !(skip_actions && is_action(&e.uid())))
            .cloned()
            .collect();
        Entities::from_entities(own_list.into_iter().chain(slice), self.schema.as_ref())
            .map_err(|e| format!("invalid request entities: {e}"))
    }
}

fn merge_full(
    store: &Entities,
    own: Entities,
    schema: Option<&Schema>,
    skip_actions: bool,
) -> Result<Entities, String> {
    let own_uids: HashSet<EntityUid> = own.iter().map(|e| e.uid().clone()).collect();
    let rest = store
        .iter()
        .filter(|e| !(own_uids.contains(&e.uid()) || (skip_actions && is_action(&e.uid()))))
        .cloned();
    let own_list: Vec<Entity> = own
        .iter()
        .filter(|e| !(skip_actions && is_action(&e.uid())))
        .cloned()
        .collect();
    Entities::from_entities(own_list.into_iter().chain(rest), schema)
        .map_err(|e| format!("invalid request entities: {e}"))
}

/// Whether a uid names an action (`Action::"x"` or `Ns::Action::"x"`).
pub(crate) fn is_action(uid: &EntityUid) -> bool {
    uid.type_name().basename() == "Action"
}

fn push_refs(entity: &Entity, out: &mut Vec<EntityUid>) {
    for (_, v) in entity.attrs() {
        if let Ok(v) = v {
            collect_eval_uids(&v, out, 0);
        }
    }
    for (_, v) in entity.tags() {
        if let Ok(v) = v {
            collect_eval_uids(&v, out, 0);
        }
    }
}

fn collect_eval_uids(v: &EvalResult, out: &mut Vec<EntityUid>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        EvalResult::EntityUid(uid) => out.push(uid.clone()),
        EvalResult::Set(s) => s.iter().for_each(|v| collect_eval_uids(v, out, depth + 1)),
        EvalResult::Record(r) => r
            .iter()
            .for_each(|(_, v)| collect_eval_uids(v, out, depth + 1)),
        _ => {}
    }
}

/// Entity references in a JSON value: `{"__entity": {"type", "id"}}` and the
/// bare `{"type", "id"}` form that schema-typed context allows.
fn collect_json_uids(v: &serde_json::Value, out: &mut Vec<EntityUid>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            let target = map.get("__entity").unwrap_or(v);
            if let (Some(t), Some(id)) = (
                target.get("type").and_then(|t| t.as_str()),
                target.get("id").and_then(|i| i.as_str()),
            ) {
                if let Ok(t) = EntityTypeName::from_str(t) {
                    out.push(EntityUid::from_type_name_and_id(t, EntityId::new(id)));
                }
            }
            map.values()
                .for_each(|v| collect_json_uids(v, out, depth + 1));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_json_uids(v, out, depth + 1)),
        _ => {}
    }
}

fn etag_of(bundle: &PolicyBundle) -> String {
    let mut h = Sha256::new();
    let mut feed = |kind: &str, f: &SourceFile| {
        for part in [kind, &f.name, &f.text] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    };
    bundle.policies.iter().for_each(|f| feed("policy", f));
    bundle.schema.iter().for_each(|f| feed("schema", f));
    bundle.entities.iter().for_each(|f| feed("entities", f));
    bundle.links.iter().for_each(|f| feed("links", f));
    hex::encode(&h.finalize()[..8])
}

fn compile_schema(bundle: &PolicyBundle, problems: &mut Vec<Diagnostic>) -> Option<Schema> {
    let file = bundle.schema.as_ref()?;
    if bundle.schema_is_json() {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&file.text) {
            problems.push(json_syntax(&file.name, &file.text, &e));
            return None;
        }
        match Schema::from_json_str(&file.text) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.extend(Diagnostic::from_miette(&file.name, Some(&file.text), &e));
                None
            }
        }
    } else {
        match Schema::from_cedarschema_str(&file.text) {
            Ok((s, _warnings)) => Some(s),
            Err(e) => {
                problems.extend(Diagnostic::from_miette(&file.name, Some(&file.text), &e));
                None
            }
        }
    }
}

/// Parses every policy file into one set; returns it with a map from policy
/// id to the index of the file it came from.
fn compile_policies(
    files: &[SourceFile],
    problems: &mut Vec<Diagnostic>,
) -> (PolicySet, HashMap<String, usize>) {
    let mut set = PolicySet::new();
    let mut origin = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        let parsed = match PolicySet::from_str(&file.text) {
            Ok(p) => p,
            Err(e) => {
                problems.extend(Diagnostic::from_miette(&file.name, Some(&file.text), &e));
                continue;
            }
        };
        // Cedar numbers the policies of a text `policy0`, `policy1`, ... in
        // source order; keep that order for positional ids.
        let position = |id: &PolicyId| -> usize {
            id.to_string()
                .trim_start_matches("policy")
                .parse()
                .unwrap_or(usize::MAX)
        };
        let mut items: Vec<(usize, Result<&Policy, &Template>)> = parsed
            .policies()
            .map(|p| (position(p.id()), Ok(p)))
            .chain(parsed.templates().map(|t| (position(t.id()), Err(t))))
            .collect();
        items.sort_by_key(|(n, _)| *n);
        for (n, item) in items {
            let annotated = match item {
                Ok(p) => p.annotation("id"),
                Err(t) => t.annotation("id"),
            };
            let id = annotated.map_or_else(|| format!("{}#{n}", file.name), str::to_owned);
            let result = match item {
                Ok(p) => set.add(p.new_id(PolicyId::new(&id))),
                Err(t) => set.add_template(t.new_id(PolicyId::new(&id))),
            };
            if let Err(e) = result {
                let prev = origin
                    .get(&id)
                    .map(|i: &usize| files[*i].name.clone())
                    .unwrap_or_default();
                let mut d = Diagnostic::file(
                    &file.name,
                    format!("policy id `{id}` is used twice (also in `{prev}`): {e}"),
                );
                if let Some(offset) = file.text.find(&format!("\"{id}\"")) {
                    d = Diagnostic::at(&file.name, &file.text, offset, d.message);
                }
                problems.push(d);
            } else {
                origin.insert(id, index);
            }
        }
    }
    (set, origin)
}

fn compile_links(files: &[SourceFile], set: &mut PolicySet, problems: &mut Vec<Diagnostic>) {
    for file in files {
        let specs: Vec<LinkSpec> = match serde_json::from_str(&file.text) {
            Ok(s) => s,
            Err(e) => {
                problems.push(json_syntax(&file.name, &file.text, &e));
                continue;
            }
        };
        for spec in specs {
            let at = |msg: String| match file.text.find(&format!("\"{}\"", spec.link_id)) {
                Some(off) => Diagnostic::at(&file.name, &file.text, off, msg),
                None => Diagnostic::file(&file.name, msg),
            };
            let mut values = HashMap::new();
            let mut ok = true;
            for (slot, value) in &spec.args {
                let slot_id = match slot.as_str() {
                    "?principal" => SlotId::principal(),
                    "?resource" => SlotId::resource(),
                    other => {
                        problems.push(at(format!(
                            "link `{}`: unknown slot `{other}` (expected ?principal or ?resource)",
                            spec.link_id
                        )));
                        ok = false;
                        continue;
                    }
                };
                match parse_uid_value(value) {
                    Ok(uid) => {
                        values.insert(slot_id, uid);
                    }
                    Err(e) => {
                        problems.push(at(format!("link `{}`, {slot}: {e}", spec.link_id)));
                        ok = false;
                    }
                }
            }
            if ok {
                if let Err(e) = set.link(
                    PolicyId::new(&spec.template_id),
                    PolicyId::new(&spec.link_id),
                    values,
                ) {
                    problems.push(at(format!("link `{}`: {e}", spec.link_id)));
                }
            }
        }
    }
}

/// An entity uid given as `"Type::\"id\""`, `{"type","id"}` or `{"__entity": {..}}`.
pub(crate) fn parse_uid_value(v: &serde_json::Value) -> Result<EntityUid, String> {
    match v {
        serde_json::Value::String(s) => EntityUid::from_str(s).map_err(|e| e.to_string()),
        serde_json::Value::Object(_) => EntityUid::from_json(v.clone()).map_err(|e| e.to_string()),
        _ => {
            Err("expected an entity uid: \"Type::\\\"id\\\"\" or {\"type\": .., \"id\": ..}".into())
        }
    }
}

fn compile_entities(
    files: &[SourceFile],
    schema: Option<&Schema>,
    problems: &mut Vec<Diagnostic>,
) -> Entities {
    let mut all = Vec::new();
    let mut syntax_ok = true;
    for file in files {
        match serde_json::from_str::<serde_json::Value>(&file.text) {
            Ok(serde_json::Value::Array(items)) => all.extend(items),
            Ok(_) => {
                problems.push(Diagnostic::at(
                    &file.name,
                    &file.text,
                    file.text.len() - file.text.trim_start().len(),
                    "entity file must be a JSON array of entities",
                ));
                syntax_ok = false;
            }
            Err(e) => {
                problems.push(json_syntax(&file.name, &file.text, &e));
                syntax_ok = false;
            }
        }
    }
    if !syntax_ok {
        return Entities::empty();
    }
    match Entities::from_json_value(serde_json::Value::Array(all), schema) {
        Ok(e) => e,
        Err(combined) => {
            // Attribute each problem to its file when the file alone shows it.
            let mut found = false;
            for file in files {
                if let Err(e) = Entities::from_json_str(&file.text, schema) {
                    found = true;
                    problems.push(entity_diagnostic(file, &e));
                }
            }
            if !found {
                let name = files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                problems.push(Diagnostic::file(&name, combined.to_string()));
            }
            Entities::empty()
        }
    }
}

/// Places an entity error at the first mention of the uid it names, if any.
fn entity_diagnostic(
    file: &SourceFile,
    e: &cedar_policy::entities_errors::EntitiesError,
) -> Diagnostic {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // The first backquoted uid in the message, found in the file by its id.
    let offset = msg
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|uid| EntityUid::from_str(uid).ok())
        .find_map(|uid| file.text.find(&format!("\"{}\"", uid.id().unescaped())));
    let mut d = match offset {
        Some(off) => Diagnostic::at(&file.name, &file.text, off, msg),
        None => Diagnostic::file(&file.name, msg),
    };
    d.help = miette::Diagnostic::help(e).map(|h| h.to_string());
    d
}

fn json_syntax(file: &str, _text: &str, e: &serde_json::Error) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: Some(e.line()),
        column: Some(e.column()),
        message: format!("invalid JSON: {e}"),
        help: None,
    }
}
