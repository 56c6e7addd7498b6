//! Compiling bundles: every problem named with file, line and column; a
//! valid bundle decides like Cedar does.
mod common;

use palisade_policy::{
    Decision, DecisionRequest, OnEvaluationError, PolicyBundle, PolicyError, PolicyVersion,
    SourceFile,
};
use serde_json::json;

fn example() -> PolicyBundle {
    PolicyBundle::from_dir(&common::example_dir()).unwrap()
}

fn diagnostics(bundle: PolicyBundle) -> Vec<palisade_policy::Diagnostic> {
    match PolicyVersion::compile(bundle, OnEvaluationError::Deny).unwrap_err() {
        PolicyError::Invalid(d) => d,
        other => panic!("expected diagnostics, got {other}"),
    }
}

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile {
        name: name.into(),
        text: text.into(),
    }
}

#[test]
fn syntax_error_is_located() {
    let mut b = example();
    b.policies.push(file(
        "bad.cedar",
        "permit(principal, action, resource);\n\npermit(principal,, action, resource);",
    ));
    let d = diagnostics(b);
    assert_eq!(d[0].file, "bad.cedar");
    assert_eq!(d[0].line, Some(3), "{}", d[0]);
    assert!(d[0].column.unwrap() >= 17, "{}", d[0]);
}

#[test]
fn schema_violation_is_located_in_its_file() {
    let mut b = example();
    b.policies.push(file(
        "typo.cedar",
        "// a typo in an attribute\npermit(principal, action == Action::\"read\", resource is Document)\nwhen { resource.clasification > 1 };",
    ));
    let d = diagnostics(b);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].file.as_str(), d[0].line),
        ("typo.cedar", Some(3)),
        "{}",
        d[0]
    );
    assert!(d[0].message.contains("clasification"), "{}", d[0]);
    assert!(d[0].message.contains("typo.cedar#0"), "{}", d[0]);
}

#[test]
fn schema_syntax_error_is_located() {
    let mut b = example();
    b.schema = Some(file(
        "app.cedarschema",
        "entity User;\nentity Doc {\n  owner: User,,\n};",
    ));
    let d = diagnostics(b);
    assert_eq!(
        (d[0].file.as_str(), d[0].line),
        ("app.cedarschema", Some(3)),
        "{}",
        d[0]
    );
}

#[test]
fn entity_errors_name_the_file() {
    let mut b = example();
    b.entities.push(file(
        "more.entities.json",
        "[\n  { \"uid\": { \"type\": \"User\", \"id\": \"eve\" },\n    \"attrs\": { \"department\": 7, \"clearance\": 1 }, \"parents\": [] }\n]",
    ));
    let d = diagnostics(b);
    assert_eq!(d[0].file, "more.entities.json", "{d:?}");
    assert_eq!(d[0].line, Some(2), "{}", d[0]);
    let mut b = example();
    b.entities
        .push(file("broken.entities.json", "[\n  { \"uid\": \n"));
    let d = diagnostics(b);
    assert_eq!(
        (d[0].file.as_str(), d[0].line),
        ("broken.entities.json", Some(3)),
        "{}",
        d[0]
    );
}

#[test]
fn duplicate_ids_and_bad_links_are_reported() {
    let mut b = example();
    b.policies.push(file(
        "dup.cedar",
        "@id(\"public-read\")\npermit(principal, action, resource);",
    ));
    b.links.push(file(
        "more.links.json",
        r#"[{"template_id": "no-such-template", "link_id": "l1", "args": {"?principal": "User::\"bob\""}}]"#,
    ));
    let d = diagnostics(b);
    assert!(
        d.iter().any(|d| d.file == "dup.cedar"
            && d.message.contains("public-read")
            && d.line == Some(1)),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|d| d.file == "more.links.json" && d.message.contains("l1")),
        "{d:?}"
    );
}

#[test]
fn etag_follows_content() {
    let a = PolicyVersion::compile(example(), OnEvaluationError::Deny).unwrap();
    let b = PolicyVersion::compile(example(), OnEvaluationError::Deny).unwrap();
    assert_eq!(a.etag(), b.etag());
    let mut changed = example();
    changed.policies[0].text.push_str("\n// comment\n");
    let c = PolicyVersion::compile(changed, OnEvaluationError::Deny).unwrap();
    assert_ne!(a.etag(), c.etag());
}

fn req(p: &str, a: &str, r: &str, entities: Option<serde_json::Value>) -> DecisionRequest {
    DecisionRequest {
        principal: p.parse().unwrap(),
        action: a.parse().unwrap(),
        resource: r.parse().unwrap(),
        context: None,
        entities,
    }
}

#[test]
fn request_entities_see_the_store_through_the_slice() {
    let v = PolicyVersion::compile(example(), OnEvaluationError::Deny).unwrap();
    // dave is not stored: his group membership reaches Group::"staff" in the
    // store, and the document's folder, owner and classification come from it.
    let dave = json!([{ "uid": { "type": "User", "id": "dave" }, "attrs": { "department": "ops", "clearance": 2 },
                        "parents": [{ "type": "Group", "id": "staff" }] }]);
    let d = v.decide(&req(
        "User::\"dave\"",
        "Action::\"read\"",
        "Document::\"roadmap\"",
        Some(dave.clone()),
    ));
    assert_eq!(
        d,
        Decision {
            allowed: true,
            reasons: vec!["staff-read-by-clearance".into()],
            errors: vec![]
        }
    );
    let d = v.decide(&req(
        "User::\"dave\"",
        "Action::\"read\"",
        "Document::\"design\"",
        Some(dave),
    ));
    assert!(!d.allowed);
    // A request entity overrides the stored one: bob with clearance 3.
    let bob = json!([{ "uid": { "type": "User", "id": "bob" }, "attrs": { "department": "sales", "clearance": 3 },
                       "parents": [{ "type": "Group", "id": "staff" }] }]);
    assert!(
        !v.decide(&req(
            "User::\"bob\"",
            "Action::\"read\"",
            "Document::\"design\"",
            None
        ))
        .allowed
    );
    assert!(
        v.decide(&req(
            "User::\"bob\"",
            "Action::\"read\"",
            "Document::\"design\"",
            Some(bob)
        ))
        .allowed
    );
}

#[test]
fn errors_deny_and_invalid_requests_say_why() {
    let v = PolicyVersion::compile(example(), OnEvaluationError::Deny).unwrap();
    // Not in the schema: the request is refused, with the reason.
    let d = v.decide(&req(
        "Robot::\"r2\"",
        "Action::\"read\"",
        "Document::\"roadmap\"",
        None,
    ));
    assert!(!d.allowed);
    assert!(d.errors[0].contains("invalid request"), "{d:?}");
    // Entities that violate the schema are refused too.
    let bad = json!([{ "uid": { "type": "User", "id": "x" }, "attrs": { "clearance": "high" }, "parents": [] }]);
    let d = v.decide(&req(
        "User::\"x\"",
        "Action::\"read\"",
        "Document::\"roadmap\"",
        Some(bad),
    ));
    assert!(
        !d.allowed && d.errors[0].contains("invalid request entities"),
        "{d:?}"
    );
}

#[test]
fn an_erroring_forbid_fails_closed_unless_configured_otherwise() {
    let bundle = PolicyBundle {
        policies: vec![file(
            "p.cedar",
            "@id(\"allow-all\") permit(principal, action, resource);\n\
             @id(\"forbid-blocked\") forbid(principal, action, resource) when { principal.blocked };",
        )],
        ..Default::default()
    };
    // No schema: `principal.blocked` errors for a principal without it.
    let r = req("User::\"a\"", "Action::\"read\"", "Doc::\"1\"", None);
    let strict = PolicyVersion::compile(bundle.clone(), OnEvaluationError::Deny).unwrap();
    let d = strict.decide(&r);
    assert!(!d.allowed);
    assert_eq!(d.errors.len(), 1, "{d:?}");
    let cedar = PolicyVersion::compile(bundle, OnEvaluationError::Skip).unwrap();
    assert!(cedar.decide(&r).allowed);
}
