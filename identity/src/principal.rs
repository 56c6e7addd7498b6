//! Principals from credentials.
//!
//! A token becomes a principal the way AWS Verified Permissions'
//! `IsAuthorizedWithToken` does it: `ENTITY_TYPE::"PREFIX" + claim` (the
//! prefix defaults to `ISSUER|`, so two issuers never name the same
//! principal), groups as parent entities of the group type with the same
//! prefix, chosen claims as attributes, and chosen claims as `context.token`.
//!
//! An mTLS caller's SPIFFE ID becomes `Workload::"spiffe://TD/PATH"` with
//! attributes `trust_domain`, `path` and `segments`.

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use palisade_ca::SpiffeId;
use palisade_policy::VerifiedPrincipal;
use serde_json::{json, Map, Value};

use crate::{IssuerConfig, Rejection, VerifiedToken, WorkloadMapping};

/// Most groups taken from one token.
pub const MAX_GROUPS: usize = 256;

fn uid(ty: &str, id: &str) -> Result<EntityUid, Rejection> {
    let ty: EntityTypeName = ty
        .parse()
        .map_err(|e| Rejection::Unmappable(format!("entity type {ty:?}: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

fn uid_json(uid: &EntityUid) -> Value {
    json!({ "type": uid.type_name().to_string(), "id": uid.id().unescaped() })
}

/// A claim as a Cedar attribute value, or `None` when Cedar cannot hold it
/// (null, fractions) or it would be read as an entity or extension reference
/// (`__entity`, `__extn`).
fn cedar_value(v: &Value, depth: usize) -> Option<Value> {
    match v {
        Value::String(_) | Value::Bool(_) => Some(v.clone()),
        Value::Number(n) => n.as_i64().map(Value::from),
        Value::Array(a) if depth < 8 => Some(Value::Array(
            a.iter().filter_map(|x| cedar_value(x, depth + 1)).collect(),
        )),
        Value::Object(m) if depth < 8 => {
            if m.keys().any(|k| k.starts_with("__")) {
                return None;
            }
            Some(Value::Object(
                m.iter()
                    .filter_map(|(k, x)| cedar_value(x, depth + 1).map(|x| (k.clone(), x)))
                    .collect(),
            ))
        }
        _ => None,
    }
}

fn chosen(claims: &Map<String, Value>, names: &[String]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|n| {
            claims
                .get(n)
                .and_then(|v| cedar_value(v, 0))
                .map(|v| (n.clone(), v))
        })
        .collect()
}

pub(crate) fn from_token(
    issuer: &IssuerConfig,
    token: &VerifiedToken,
) -> Result<VerifiedPrincipal, Rejection> {
    let m = &issuer.principal;
    let prefix = issuer.id_prefix();
    let id = match token.claims.get(&m.id_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(Rejection::Unmappable(format!(
                "claim {:?} (the principal id) is missing or not a string",
                m.id_claim
            )))
        }
    };
    let principal = uid(&m.entity_type, &format!("{prefix}{id}"))?;
    let mut parents = Vec::new();
    if !m.groups_claim.is_empty() {
        let groups: Vec<&str> = match token.claims.get(&m.groups_claim) {
            None => Vec::new(),
            Some(Value::String(g)) => vec![g.as_str()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|g| {
                    g.as_str().ok_or_else(|| {
                        Rejection::Unmappable(format!(
                            "claim {:?} holds a non-string",
                            m.groups_claim
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(Rejection::Unmappable(format!(
                    "claim {:?} is neither a string nor an array",
                    m.groups_claim
                )))
            }
        };
        if groups.len() > MAX_GROUPS {
            return Err(Rejection::Unmappable(format!(
                "{} groups; at most {MAX_GROUPS} are taken",
                groups.len()
            )));
        }
        for g in groups {
            parents.push(uid_json(&uid(
                &m.group_entity_type,
                &format!("{prefix}{g}"),
            )?));
            if let Some(shared) = m.shared_groups.get(g) {
                parents.push(uid_json(&uid(&m.shared_group_entity_type, shared)?));
            }
        }
    }
    let entity = json!({
        "uid": uid_json(&principal),
        "attrs": chosen(&token.claims, &m.attributes),
        "parents": parents,
    });
    Ok(VerifiedPrincipal {
        uid: principal,
        entity,
        context: chosen(&token.claims, &m.context),
        authority: token.issuer.clone(),
    })
}

/// The principal of an mTLS caller whose certificate the TLS layer verified
/// and whose single SPIFFE URI SAN is `id`.
pub fn workload_principal(
    mapping: &WorkloadMapping,
    id: &SpiffeId,
) -> Result<VerifiedPrincipal, Rejection> {
    if !mapping.trust_domains.is_empty()
        && !mapping.trust_domains.iter().any(|t| t == id.trust_domain())
    {
        return Err(Rejection::BadCertificate(format!(
            "trust domain {} is not accepted",
            id.trust_domain()
        )));
    }
    let principal = uid(&mapping.entity_type, id.as_str())?;
    let segments: Vec<&str> = id.path().split('/').filter(|s| !s.is_empty()).collect();
    let entity = json!({
        "uid": uid_json(&principal),
        "attrs": {
            "trust_domain": id.trust_domain(),
            "path": id.path(),
            "segments": segments,
        },
        "parents": [],
    });
    Ok(VerifiedPrincipal {
        uid: principal,
        entity,
        context: Map::new(),
        authority: format!("spiffe://{}", id.trust_domain()),
    })
}

/// The principal of a client certificate (DER), checked to carry exactly
/// one SPIFFE URI SAN. The certificate chain must already have been verified
/// (by the TLS layer).
pub fn certificate_principal(
    mapping: &WorkloadMapping,
    der: &[u8],
) -> Result<VerifiedPrincipal, Rejection> {
    let id =
        palisade_ca::spiffe_id_of_der(der).map_err(|e| Rejection::BadCertificate(e.to_string()))?;
    workload_principal(mapping, &id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrincipalMapping, TokenKind};

    fn token(claims: Value) -> VerifiedToken {
        VerifiedToken {
            issuer: "https://idp.example".into(),
            kind: TokenKind::Access,
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn maps_like_verified_permissions() {
        let cfg = IssuerConfig {
            issuer: "https://idp.example".into(),
            principal: PrincipalMapping {
                attributes: vec!["email".into(), "score".into(), "evil".into()],
                context: vec!["scope".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let p = from_token(
            &cfg,
            &token(
                json!({"sub": "alice", "groups": ["admins"], "email": "a@x", "score": 1.5,
                          "evil": {"__entity": {"type": "User", "id": "root"}}, "scope": "api"}),
            ),
        )
        .unwrap();
        assert_eq!(p.uid.to_string(), r#"User::"https://idp.example|alice""#);
        assert_eq!(
            p.entity,
            json!({"uid": {"type": "User", "id": "https://idp.example|alice"},
                   "attrs": {"email": "a@x"},
                   "parents": [{"type": "UserGroup", "id": "https://idp.example|admins"}]})
        );
        assert_eq!(
            p.context,
            json!({"scope": "api"}).as_object().unwrap().clone()
        );
        let e = from_token(&cfg, &token(json!({"groups": ["a"]}))).unwrap_err();
        assert!(matches!(e, Rejection::Unmappable(_)));
        let e = from_token(&cfg, &token(json!({"sub": "a", "groups": [1]}))).unwrap_err();
        assert!(matches!(e, Rejection::Unmappable(_)));
    }

    #[test]
    fn workloads_carry_trust_domain_and_segments() {
        let id = SpiffeId::parse("spiffe://prod.example/ns/payments/sa/api").unwrap();
        let p = workload_principal(&WorkloadMapping::default(), &id).unwrap();
        assert_eq!(
            p.uid.to_string(),
            r#"Workload::"spiffe://prod.example/ns/payments/sa/api""#
        );
        assert_eq!(
            p.entity["attrs"]["segments"],
            json!(["ns", "payments", "sa", "api"])
        );
        assert_eq!(p.entity["attrs"]["trust_domain"], "prod.example");
        let only_dev = WorkloadMapping {
            trust_domains: vec!["dev.example".into()],
            ..Default::default()
        };
        assert!(matches!(
            workload_principal(&only_dev, &id),
            Err(Rejection::BadCertificate(_))
        ));
    }
}
