//! OpenID AuthZEN Authorization API 1.0: request and response types, and how
//! AuthZEN's `type`/`id`/`properties` map to Cedar.
//!
//! The default mapping:
//! - `subject.type` and `resource.type` are Cedar entity types, prefixed with
//!   `namespace` when one is set and the type has none (`"User"` →
//!   `App::User`); `types` renames them explicitly (`"user"` → `"User"`).
//! - `subject.id`/`resource.id` are entity ids, as given.
//! - `action.name` is the id of an action entity of type `action_type`
//!   (`"read"` → `Action::"read"`), unless it is already a Cedar uid.
//! - `subject.properties`/`resource.properties` become attributes of a
//!   request-scoped entity: they are laid over the stored entity's attributes
//!   (its parents are kept), or make a new entity when none is stored.
//! - `context` is the Cedar context (Cedar's JSON value format).
//! - `action.properties` are not used by Cedar and are ignored.

use std::collections::HashMap;
use std::str::FromStr;

use std::sync::{Arc, RwLock};

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::json_shape::{object, optional_object, optional_objects};
use crate::version::PolicyVersion;

/// An AuthZEN subject or resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthzenEntity {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id (omitted in the searched-for position of a search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
}

/// An AuthZEN action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthzenAction {
    /// Its name.
    pub name: String,
    /// Attributes (not used by Cedar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
}

/// `POST /access/v1/evaluation`, and one item of a batch once defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EvaluationRequest {
    /// Who.
    #[serde(deserialize_with = "object")]
    pub subject: AuthzenEntity,
    /// Does what.
    #[serde(deserialize_with = "object")]
    pub action: AuthzenAction,
    /// To what.
    #[serde(deserialize_with = "object")]
    pub resource: AuthzenEntity,
    /// Under which circumstances.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// One item of a batch: any field missing is taken from the request's top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EvaluationItem {
    /// Overrides the default subject.
    #[serde(default, deserialize_with = "optional_object")]
    pub subject: Option<AuthzenEntity>,
    /// Overrides the default action.
    #[serde(default, deserialize_with = "optional_object")]
    pub action: Option<AuthzenAction>,
    /// Overrides the default resource.
    #[serde(default, deserialize_with = "optional_object")]
    pub resource: Option<AuthzenEntity>,
    /// Overrides the default context.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// How a batch is evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationsSemantic {
    /// Every item, in order.
    #[default]
    ExecuteAll,
    /// Stop after the first deny.
    DenyOnFirstDeny,
    /// Stop after the first permit.
    PermitOnFirstPermit,
}

/// Batch options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EvaluationsOptions {
    /// The batch semantic.
    #[serde(default)]
    pub evaluations_semantic: EvaluationsSemantic,
}

/// `POST /access/v1/evaluations`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EvaluationsRequest {
    /// Default subject.
    #[serde(default, deserialize_with = "optional_object")]
    pub subject: Option<AuthzenEntity>,
    /// Default action.
    #[serde(default, deserialize_with = "optional_object")]
    pub action: Option<AuthzenAction>,
    /// Default resource.
    #[serde(default, deserialize_with = "optional_object")]
    pub resource: Option<AuthzenEntity>,
    /// Default context.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    /// The items.
    #[serde(default, deserialize_with = "optional_objects")]
    pub evaluations: Option<Vec<EvaluationItem>>,
    /// Options.
    #[serde(default, deserialize_with = "optional_object")]
    pub options: Option<EvaluationsOptions>,
}

/// A decision in AuthZEN form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationResponse {
    /// Allowed or not.
    pub decision: bool,
    /// Why: policy version, determining policies, errors.
    pub context: DecisionContext,
}

/// The `context` of an AuthZEN decision: why it came out as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionContext {
    /// Etag of the policy version that decided.
    pub policy_version: Arc<str>,
    /// Determining policy ids.
    pub reasons: Vec<String>,
    /// AuthZEN's error shape, when the decision is a deny because of errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<DecisionError>,
    /// Every error, one per entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// An error that made a decision a deny.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionError {
    /// HTTP-like status of the failed item.
    pub status: u16,
    /// The errors, joined.
    pub message: String,
}

/// The answer of `POST /access/v1/evaluations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EvaluationsResponse {
    /// One decision per item, in request order.
    Batch {
        /// The decisions.
        evaluations: Vec<EvaluationResponse>,
    },
    /// A request without items is a single evaluation (AuthZEN 1.0).
    Single(EvaluationResponse),
}

/// Page request of a search.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PageRequest {
    /// The `next_token` of the previous page (also accepted as `next_token`,
    /// as earlier drafts of the specification sent it).
    #[serde(default, alias = "next_token")]
    pub token: Option<String>,
    /// Most results wanted.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `POST /access/v1/search/{subject,resource,action}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SearchRequest {
    /// The subject (only its `type` in a subject search; absent in none).
    #[serde(default, deserialize_with = "optional_object")]
    pub subject: Option<AuthzenEntity>,
    /// The action (absent in an action search).
    #[serde(default, deserialize_with = "optional_object")]
    pub action: Option<AuthzenAction>,
    /// The resource (only its `type` in a resource search).
    #[serde(default, deserialize_with = "optional_object")]
    pub resource: Option<AuthzenEntity>,
    /// The context.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    /// Pagination.
    #[serde(default, deserialize_with = "optional_object")]
    pub page: Option<PageRequest>,
}

/// Configurable mapping from AuthZEN to Cedar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthzenMapping {
    /// Cedar namespace prefixed to unqualified types and to the action type.
    pub namespace: Option<String>,
    /// Entity type of actions (before the namespace prefix).
    pub action_type: String,
    /// Explicit AuthZEN type → Cedar type renames (applied before the prefix).
    pub types: HashMap<String, String>,
    /// Type names already parsed.
    #[serde(skip)]
    parsed: ParsedTypes,
}

impl Default for AuthzenMapping {
    fn default() -> Self {
        Self {
            namespace: None,
            action_type: "Action".into(),
            types: HashMap::new(),
            parsed: ParsedTypes::default(),
        }
    }
}

/// Cedar type names by AuthZEN type, as this mapping resolves them: parsing
/// a type name runs Cedar's parser, a lookup here is a hash probe. Bounded,
/// so that callers sending random types cannot grow it; never shared between
/// clones, whose fields may be changed.
#[derive(Debug, Default)]
struct ParsedTypes(RwLock<HashMap<String, EntityTypeName>>);

/// At most this many AuthZEN types are remembered.
const MAX_PARSED_TYPES: usize = 1024;

impl Clone for ParsedTypes {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for ParsedTypes {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl AuthzenMapping {
    /// The Cedar entity type for an AuthZEN type.
    pub fn entity_type(&self, authzen_type: &str) -> Result<EntityTypeName, String> {
        let cached = self
            .parsed
            .0
            .read()
            .ok()
            .and_then(|m| m.get(authzen_type).cloned());
        if let Some(t) = cached {
            return Ok(t);
        }
        let parsed = self.parse_entity_type(authzen_type)?;
        if let Ok(mut m) = self.parsed.0.write() {
            if m.len() < MAX_PARSED_TYPES {
                m.insert(authzen_type.to_owned(), parsed.clone());
            }
        }
        Ok(parsed)
    }

    fn parse_entity_type(&self, authzen_type: &str) -> Result<EntityTypeName, String> {
        let name = self
            .types
            .get(authzen_type)
            .map_or(authzen_type, String::as_str);
        let qualified = match &self.namespace {
            Some(ns) if !name.contains("::") => format!("{ns}::{name}"),
            _ => name.to_owned(),
        };
        EntityTypeName::from_str(&qualified)
            .map_err(|_| format!("`{authzen_type}` is not a valid entity type"))
    }

    /// The Cedar uid of an AuthZEN subject or resource with an id.
    pub fn entity_uid(&self, e: &AuthzenEntity, what: &str) -> Result<EntityUid, String> {
        let id =
            e.id.as_deref()
                .ok_or_else(|| format!("{what}.id is required"))?;
        Ok(EntityUid::from_type_name_and_id(
            self.entity_type(&e.kind)
                .map_err(|m| format!("{what}.type: {m}"))?,
            EntityId::new(id),
        ))
    }

    /// The Cedar uid of an AuthZEN action.
    pub fn action_uid(&self, a: &AuthzenAction) -> Result<EntityUid, String> {
        if a.name.contains("::\"") {
            if let Ok(uid) = EntityUid::from_str(&a.name) {
                return Ok(uid);
            }
        }
        let ty = self
            .entity_type(&self.action_type)
            .map_err(|m| format!("action type: {m}"))?;
        Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(&a.name)))
    }

    /// The AuthZEN form of a Cedar entity uid (the inverse of the type mapping).
    pub fn authzen_entity(&self, uid: &EntityUid) -> AuthzenEntity {
        let cedar = uid.type_name().to_string();
        let unprefixed = match &self.namespace {
            Some(ns) => cedar
                .strip_prefix(&format!("{ns}::"))
                .unwrap_or(&cedar)
                .to_owned(),
            None => cedar.clone(),
        };
        let kind = self
            .types
            .iter()
            .find(|(_, v)| **v == unprefixed || **v == cedar)
            .map_or(unprefixed, |(k, _)| k.clone());
        AuthzenEntity {
            kind,
            id: Some(uid.id().unescaped().to_owned()),
            properties: None,
        }
    }
}

/// Builds the request-scoped entity for an AuthZEN entity with properties:
/// the stored entity's attributes with the properties laid over them.
pub(crate) fn request_entity(
    version: &PolicyVersion,
    uid: &EntityUid,
    properties: &Map<String, Value>,
) -> Value {
    let (mut attrs, parents, tags) = match version
        .entities()
        .get(uid)
        .and_then(|e| e.to_json_value().ok())
    {
        Some(Value::Object(mut stored)) => (
            match stored.remove("attrs") {
                Some(Value::Object(a)) => a,
                _ => Map::new(),
            },
            stored.remove("parents").unwrap_or(Value::Array(vec![])),
            stored.remove("tags"),
        ),
        _ => (Map::new(), Value::Array(vec![]), None),
    };
    for (k, v) in properties {
        attrs.insert(k.clone(), v.clone());
    }
    let mut entity = serde_json::json!({
        "uid": { "type": uid.type_name().to_string(), "id": uid.id().unescaped() },
        "attrs": attrs,
        "parents": parents,
    });
    if let Some(tags) = tags {
        entity["tags"] = tags;
    }
    entity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_applies_renames_then_namespace() {
        let m = AuthzenMapping {
            namespace: Some("App".into()),
            types: [("user".to_string(), "User".to_string())].into(),
            ..Default::default()
        };
        let s = AuthzenEntity {
            kind: "user".into(),
            id: Some("alice".into()),
            properties: None,
        };
        let uid = m.entity_uid(&s, "subject").unwrap();
        assert_eq!(uid.to_string(), r#"App::User::"alice""#);
        // Again, from the parsed-type cache; a changed clone does not share it.
        assert_eq!(m.entity_uid(&s, "subject").unwrap(), uid);
        let mut other = m.clone();
        other.namespace = Some("Other".into());
        assert_eq!(
            other.entity_uid(&s, "subject").unwrap().to_string(),
            r#"Other::User::"alice""#
        );
        assert!(m.entity_type("not a type").is_err());
        assert!(m.entity_type("not a type").is_err());
        assert_eq!(m.authzen_entity(&uid), s);
        let a = m
            .action_uid(&AuthzenAction {
                name: "read".into(),
                properties: None,
            })
            .unwrap();
        assert_eq!(a.to_string(), r#"App::Action::"read""#);
        let raw = m
            .action_uid(&AuthzenAction {
                name: r#"Other::Action::"x""#.into(),
                properties: None,
            })
            .unwrap();
        assert_eq!(raw.to_string(), r#"Other::Action::"x""#);
        assert!(m.entity_type("not a type!").is_err());
        let no_id = AuthzenEntity {
            kind: "User".into(),
            ..Default::default()
        };
        assert!(m
            .entity_uid(&no_id, "resource")
            .unwrap_err()
            .contains("resource.id"));
    }
}
