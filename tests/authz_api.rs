//! The decision APIs over real HTTP against a spawned `palisade serve`:
//! AuthZEN evaluation, batch and search, the AuthZEN metadata, and the
//! Cedar-native API.

mod common;

use std::collections::BTreeSet;

use common::{authzen, entity, uid, Server};
use serde_json::{json, Value};

fn reasons(v: &Value) -> Vec<String> {
    v["context"]["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no context.reasons in {v}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn decisions(batch: &Value) -> Vec<bool> {
    batch["evaluations"]
        .as_array()
        .unwrap_or_else(|| panic!("no evaluations in {batch}"))
        .iter()
        .map(|e| e["decision"].as_bool().unwrap())
        .collect()
}

#[test]
fn authzen_evaluation_permit_and_deny_name_their_reasons_and_version() {
    let s = Server::start();
    let etag = s.etag();

    let permit = s
        .post(
            "/access/v1/evaluation",
            &authzen("User:alice", "read", "Document:roadmap"),
        )
        .expect(200);
    assert!(permit
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let permit = permit.json();
    assert_eq!(permit["decision"], true, "{permit}");
    assert_eq!(
        reasons(&permit),
        ["owners-full-access", "staff-read-by-clearance"]
    );
    assert_eq!(permit["context"]["policy_version"], etag.as_str());
    assert!(permit["context"].get("error").is_none(), "{permit}");

    // A deny is a 200 too, with no determining policy.
    let deny = s.evaluate("User:bob", "read", "Document:design");
    assert_eq!(deny["decision"], false, "{deny}");
    assert!(reasons(&deny).is_empty(), "{deny}");
    assert_eq!(deny["context"]["policy_version"], etag.as_str());

    // A forbid names itself.
    let forbid = s.evaluate("User:alice", "delete", "Document:roadmap");
    assert_eq!(forbid["decision"], false);
    assert_eq!(reasons(&forbid), ["delete-needs-mfa"]);

    // Context is the Cedar context.
    let mut req = authzen("User:alice", "delete", "Document:roadmap");
    req["context"] = json!({ "mfa": true });
    let mfa = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(mfa["decision"], true, "{mfa}");
    assert_eq!(reasons(&mfa), ["owners-full-access"]);

    // The template link decides for carol.
    let linked = s.evaluate("User:carol", "write", "Document:design");
    assert_eq!(linked["decision"], true);
    assert_eq!(reasons(&linked), ["carol-edits-engineering"]);

    // /readyz reports the same version.
    assert_eq!(
        s.get("/readyz").expect(200).json()["policy_version"],
        etag.as_str()
    );
}

#[test]
fn request_id_is_echoed_or_generated() {
    let s = Server::start();
    let body = authzen("User:alice", "read", "Document:roadmap");
    let r = common::Server::send(
        s.client
            .post(s.url("/access/v1/evaluation"))
            .header("x-request-id", "e2e-request-42")
            .json(&body),
    )
    .expect(200);
    assert_eq!(r.header("x-request-id").as_deref(), Some("e2e-request-42"));

    let a = s.post("/access/v1/evaluation", &body).expect(200);
    let b = s.post("/access/v1/evaluation", &body).expect(200);
    let (a, b) = (a.header("x-request-id"), b.header("x-request-id"));
    let a = a.expect("a request id is generated when none is sent");
    let b = b.expect("a request id is generated when none is sent");
    assert!(!a.is_empty());
    assert_ne!(a, b, "generated request ids must differ");

    // Also on errors, and on the other APIs.
    let r = common::Server::send(
        s.client
            .post(s.url("/access/v1/evaluation"))
            .header("x-request-id", "bad-body-1")
            .header("content-type", "application/json")
            .body("{"),
    );
    assert_eq!(r.header("x-request-id").as_deref(), Some("bad-body-1"));
    r.expect_error(400);
    let r = common::Server::send(
        s.client
            .post(s.url("/v1/is_authorized"))
            .header("x-request-id", "cedar-1")
            .json(&json!({
                "principal": uid("User:alice"),
                "action": uid("Action:read"),
                "resource": uid("Document:roadmap"),
            })),
    )
    .expect(200);
    assert_eq!(r.header("x-request-id").as_deref(), Some("cedar-1"));
}

#[test]
fn unknown_fields_are_ignored() {
    let s = Server::start();
    let body = json!({
        "subject": { "type": "User", "id": "alice", "extension": { "x": 1 } },
        "action": { "name": "read", "properties": { "method": "GET" }, "more": [1, 2] },
        "resource": { "type": "Document", "id": "roadmap", "tenant": "t1" },
        "vendor_field": "anything",
        "another": null,
    });
    let r = s.post("/access/v1/evaluation", &body).expect(200).json();
    assert_eq!(r["decision"], true, "{r}");
    assert_eq!(
        reasons(&r),
        ["owners-full-access", "staff-read-by-clearance"]
    );
}

#[test]
fn subject_and_resource_properties_are_attributes() {
    let s = Server::builder()
        .policies(|dir| {
            std::fs::write(
                dir.join("auditors.cedar"),
                "@id(\"auditors-read\")\n\
                 permit (principal, action == Action::\"read\", resource is Document)\n\
                 when { principal has department && principal.department == \"audit\" };\n",
            )
            .unwrap();
        })
        .start();

    // A subject the store does not know, described by its properties, on a
    // stored resource.
    let mut req = authzen("User:erin", "read", "Document:design");
    req["subject"]["properties"] = json!({ "department": "audit", "clearance": 0 });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], true, "{r}");
    assert_eq!(reasons(&r), ["auditors-read"]);

    req["subject"]["properties"] = json!({ "department": "ops", "clearance": 0 });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], false, "{r}");

    // Properties are laid over a stored subject; its groups are kept.
    assert_eq!(
        s.evaluate("User:bob", "read", "Document:design")["decision"],
        false
    );
    let mut req = authzen("User:bob", "read", "Document:design");
    req["subject"]["properties"] = json!({ "clearance": 3 });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], true, "{r}");
    assert_eq!(reasons(&r), ["staff-read-by-clearance"]);

    // ... and over a stored resource.
    let mut req = authzen("User:bob", "read", "Document:design");
    req["resource"]["properties"] = json!({ "classification": 1 });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], true, "{r}");
    assert_eq!(reasons(&r), ["staff-read-by-clearance"]);

    // An entity-valued property: the unknown subject becomes the owner.
    let mut req = authzen("User:erin", "share", "Document:roadmap");
    req["subject"]["properties"] = json!({ "department": "ops", "clearance": 0 });
    req["resource"]["properties"] = json!({ "owner": { "type": "User", "id": "erin" } });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], true, "{r}");
    assert_eq!(reasons(&r), ["owners-full-access"]);

    // A property of the wrong type (under the schema) is a deny that says why.
    let mut req = authzen("User:bob", "read", "Document:handbook");
    req["subject"]["properties"] = json!({ "clearance": "top secret" });
    let r = s.post("/access/v1/evaluation", &req).expect(200).json();
    assert_eq!(r["decision"], false, "{r}");
    assert!(
        r["context"]["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{r}"
    );
}

#[test]
fn malformed_evaluation_requests_are_400_with_a_json_error() {
    let s = Server::start();
    let good = authzen("User:alice", "read", "Document:roadmap");
    let path = "/access/v1/evaluation";

    s.post_raw(path, "{\"subject\": {\"type\": \"User\"")
        .expect_error(400);
    s.post_raw(path, "").expect_error(400);
    s.post_raw(path, "not json at all").expect_error(400);

    for missing in ["subject", "action", "resource"] {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(missing);
        let msg = s.post(path, &body).expect_error(400);
        assert!(msg.contains(missing), "{missing}: {msg}");
    }
    let mut body = good.clone();
    body["subject"].as_object_mut().unwrap().remove("type");
    s.post(path, &body).expect_error(400);
    let mut body = good.clone();
    body["action"].as_object_mut().unwrap().remove("name");
    s.post(path, &body).expect_error(400);

    for (field, value) in [
        ("subject", json!("User::\"alice\"")),
        ("subject", json!({ "type": "User", "id": 7 })),
        ("subject", json!({ "type": ["User"], "id": "alice" })),
        ("action", json!("read")),
        ("action", json!({ "name": true })),
        ("resource", json!(null)),
        (
            "resource",
            json!({ "type": "Document", "id": "roadmap", "properties": [1] }),
        ),
        ("context", json!([])),
        ("context", json!("mfa")),
    ] {
        let mut body = good.clone();
        body[field] = value.clone();
        let msg = s.post(path, &body).expect_error(400);
        assert!(
            msg.starts_with("invalid request body"),
            "{field}={value}: {msg}"
        );
    }
    for body in [json!([]), json!(null), json!(42), json!("x")] {
        s.post(path, &body).expect_error(400);
    }

    // A request that decodes but names an id-less subject is evaluated as a
    // deny that says why (fail closed), not an error status.
    let mut body = good.clone();
    body["subject"].as_object_mut().unwrap().remove("id");
    let r = s.post(path, &body).expect(200).json();
    assert_eq!(r["decision"], false);
    assert!(
        r["context"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subject.id"),
        "{r}"
    );
}

#[test]
fn batch_semantics_defaults_and_failing_items() {
    let s = Server::start();
    let etag = s.etag();
    let path = "/access/v1/evaluations";
    // permit, deny, permit
    let items = json!([
        authzen("User:alice", "read", "Document:roadmap"),
        authzen("User:bob", "read", "Document:design"),
        authzen("User:carol", "read", "Document:handbook"),
    ]);

    let all = s
        .post(path, &json!({ "evaluations": items }))
        .expect(200)
        .json();
    assert_eq!(decisions(&all), [true, false, true], "{all}");
    assert_eq!(
        reasons(&all["evaluations"][0]),
        ["owners-full-access", "staff-read-by-clearance"]
    );
    assert_eq!(reasons(&all["evaluations"][2]), ["public-read"]);
    for e in all["evaluations"].as_array().unwrap() {
        assert_eq!(e["context"]["policy_version"], etag.as_str());
    }
    let explicit = s
        .post(
            path,
            &json!({ "evaluations": items, "options": { "evaluations_semantic": "execute_all" } }),
        )
        .expect(200)
        .json();
    assert_eq!(decisions(&explicit), [true, false, true]);

    let dofd = s
        .post(
            path,
            &json!({ "evaluations": items, "options": { "evaluations_semantic": "deny_on_first_deny" } }),
        )
        .expect(200)
        .json();
    assert_eq!(decisions(&dofd), [true, false], "{dofd}");

    // deny, permit, deny
    let items2 = json!([
        authzen("User:bob", "read", "Document:design"),
        authzen("User:carol", "read", "Document:handbook"),
        authzen("User:carol", "share", "Document:design"),
    ]);
    let pofp = s
        .post(
            path,
            &json!({ "evaluations": items2, "options": { "evaluations_semantic": "permit_on_first_permit" } }),
        )
        .expect(200)
        .json();
    assert_eq!(decisions(&pofp), [false, true], "{pofp}");
    assert_eq!(reasons(&pofp["evaluations"][1]), ["public-read"]);
    // No permit at all: every item is evaluated.
    let none = s
        .post(
            path,
            &json!({ "evaluations": [items2[0], items2[2]], "options": { "evaluations_semantic": "permit_on_first_permit" } }),
        )
        .expect(200)
        .json();
    assert_eq!(decisions(&none), [false, false]);
    s.post(
        path,
        &json!({ "evaluations": items, "options": { "evaluations_semantic": "first_wins" } }),
    )
    .expect_error(400);

    // Top-level defaults, overridden per item.
    let defaults = s
        .post(
            path,
            &json!({
                "subject": entity("User:alice"),
                "action": { "name": "delete" },
                "resource": entity("Document:roadmap"),
                "context": { "mfa": false },
                "evaluations": [
                    {},
                    { "context": { "mfa": true } },
                    { "subject": entity("User:bob"), "context": { "mfa": true } },
                    { "action": { "name": "read" }, "resource": entity("Document:design") },
                    { "subject": entity("User:bob"), "action": { "name": "read" } },
                ]
            }),
        )
        .expect(200)
        .json();
    assert_eq!(
        decisions(&defaults),
        [false, true, false, true, false],
        "{defaults}"
    );
    assert_eq!(reasons(&defaults["evaluations"][0]), ["delete-needs-mfa"]);
    assert_eq!(reasons(&defaults["evaluations"][1]), ["owners-full-access"]);

    // Failing items are denies with an error; the others are still decided.
    let mixed = s
        .post(
            path,
            &json!({
                "action": { "name": "read" },
                "evaluations": [
                    { "subject": entity("User:alice"), "resource": entity("Document:roadmap") },
                    { "subject": { "type": "not a type!", "id": "x" }, "resource": entity("Document:roadmap") },
                    { "subject": entity("User:alice") },
                    { "subject": { "type": "Robot", "id": "r2" }, "resource": entity("Document:roadmap") },
                    { "subject": entity("User:carol"), "resource": entity("Document:handbook") },
                ]
            }),
        )
        .expect(200)
        .json();
    assert_eq!(
        decisions(&mixed),
        [true, false, false, false, true],
        "{mixed}"
    );
    for (i, hint) in [(1, "not a valid entity type"), (2, "resource")] {
        let e = &mixed["evaluations"][i];
        let msg = e["context"]["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("item {i} has no error: {e}"));
        assert!(msg.contains(hint), "item {i}: {msg}");
    }
    assert!(
        mixed["evaluations"][3]["context"]["error"]["message"].is_string(),
        "an entity type unknown to the schema is an error: {mixed}"
    );
    for i in [0, 4] {
        assert!(mixed["evaluations"][i]["context"].get("error").is_none());
    }

    // Without items, the request is a single evaluation (AuthZEN 1.0 keeps
    // this backwards compatible): the answer has the single-evaluation shape.
    let single = s
        .post(path, &authzen("User:carol", "read", "Document:handbook"))
        .expect(200)
        .json();
    assert_eq!(single["decision"], true, "{single}");
    assert!(single.get("evaluations").is_none(), "{single}");
    let empty = s
        .post(
            path,
            &json!({
                "subject": entity("User:carol"),
                "action": { "name": "delete" },
                "resource": entity("Document:handbook"),
                "evaluations": [],
            }),
        )
        .expect(200)
        .json();
    assert_eq!(empty["decision"], false, "{empty}");
    // ... and then they must be complete.
    s.post(
        path,
        &json!({ "subject": entity("User:carol"), "action": { "name": "read" } }),
    )
    .expect_error(400);
}

#[test]
fn batch_over_max_batch_is_400() {
    let s = Server::start();
    let item = authzen("User:alice", "read", "Document:roadmap");
    // The default max_batch is 1000.
    let ok = s
        .post(
            "/access/v1/evaluations",
            &json!({ "evaluations": vec![item.clone(); 1000] }),
        )
        .expect(200)
        .json();
    assert_eq!(decisions(&ok).len(), 1000);
    assert!(decisions(&ok).iter().all(|d| *d));
    let msg = s
        .post(
            "/access/v1/evaluations",
            &json!({ "evaluations": vec![item.clone(); 1001] }),
        )
        .expect_error(400);
    assert!(msg.contains("1001"), "{msg}");
    let cedar = json!({
        "principal": uid("User:alice"), "action": uid("Action:read"), "resource": uid("Document:roadmap")
    });
    s.post(
        "/v1/is_authorized/batch",
        &json!({ "requests": vec![cedar; 1001] }),
    )
    .expect_error(400);
}

/// 25 more documents, so that pagination has something to walk.
fn many_documents(dir: &std::path::Path) {
    let docs: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "uid": { "type": "Document", "id": format!("doc-{i:02}") },
                "attrs": {
                    "owner": { "type": "User", "id": if i % 5 == 0 { "bob" } else { "alice" } },
                    "classification": i % 4,
                    "public": i % 3 == 0,
                },
                "parents": if i % 7 == 0 { json!([{ "type": "Folder", "id": "engineering" }]) } else { json!([]) },
            })
        })
        .collect();
    std::fs::write(
        dir.join("more.entities.json"),
        serde_json::to_string_pretty(&docs).unwrap(),
    )
    .unwrap();
}

fn ids(results: &Value) -> Vec<String> {
    results
        .as_array()
        .unwrap_or_else(|| panic!("results is not an array: {results}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn all_documents() -> Vec<String> {
    let mut v: Vec<String> = (0..25).map(|i| format!("doc-{i:02}")).collect();
    v.extend(["design", "handbook", "roadmap"].map(String::from));
    v
}

#[test]
fn search_subject_resource_and_action() {
    let s = Server::builder().policies(many_documents).start();

    let subjects = s
        .post(
            "/access/v1/search/subject",
            &json!({
                "subject": { "type": "User" },
                "action": { "name": "read" },
                "resource": entity("Document:roadmap"),
            }),
        )
        .expect(200)
        .json();
    assert_eq!(ids(&subjects["results"]), ["alice", "carol"], "{subjects}");
    for r in subjects["results"].as_array().unwrap() {
        assert_eq!(r["type"], "User");
    }
    assert_eq!(subjects["page"]["count"], 2);
    assert_eq!(subjects["page"]["next_token"], "");

    // Resource search agrees with one evaluation per document.
    for user in ["alice", "bob", "carol"] {
        let found = s
            .post(
                "/access/v1/search/resource",
                &json!({
                    "subject": entity(&format!("User:{user}")),
                    "action": { "name": "read" },
                    "resource": { "type": "Document" },
                    "page": { "limit": 1000 },
                }),
            )
            .expect(200)
            .json();
        let found: BTreeSet<String> = ids(&found["results"]).into_iter().collect();
        let expected: BTreeSet<String> = all_documents()
            .into_iter()
            .filter(|d| {
                s.evaluate(&format!("User:{user}"), "read", &format!("Document:{d}"))["decision"]
                    == true
            })
            .collect();
        assert_eq!(found, expected, "resources {user} may read");
        assert!(!found.is_empty());
    }

    let actions = s
        .post(
            "/access/v1/search/action",
            &json!({ "subject": entity("User:alice"), "resource": entity("Document:roadmap") }),
        )
        .expect(200)
        .json();
    let names: BTreeSet<&str> = actions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["read", "share", "write"]),
        "{actions}"
    );
    let actions = s
        .post(
            "/access/v1/search/action",
            &json!({
                "subject": entity("User:alice"),
                "resource": entity("Document:roadmap"),
                "context": { "mfa": true },
            }),
        )
        .expect(200)
        .json();
    let names: BTreeSet<&str> = actions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["delete", "read", "share", "write"]),
        "{actions}"
    );

    // Incomplete searches are 400.
    s.post(
        "/access/v1/search/subject",
        &json!({ "action": { "name": "read" }, "resource": entity("Document:roadmap") }),
    )
    .expect_error(400);
    s.post(
        "/access/v1/search/resource",
        &json!({ "subject": entity("User:alice"), "resource": { "type": "Document" } }),
    )
    .expect_error(400);
    s.post(
        "/access/v1/search/action",
        &json!({ "subject": entity("User:alice") }),
    )
    .expect_error(400);
    s.post(
        "/access/v1/search/resource",
        &json!({ "subject": entity("User:alice"), "action": { "name": "read" }, "resource": { "type": "Document" }, "page": { "token": "bm90LWEtdG9rZW4" } }),
    )
    .expect_error(400);
}

/// Walks every page of a resource search with `limit`, passing the token
/// under `token_key`; returns the ids in order.
fn walk(s: &Server, user: &str, limit: u32, token_key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..=all_documents().len() + 1 {
        let mut page = json!({ "limit": limit });
        if !token.is_empty() {
            page[token_key] = json!(token);
        }
        let r = s
            .post(
                "/access/v1/search/resource",
                &json!({
                    "subject": entity(&format!("User:{user}")),
                    "action": { "name": "read" },
                    "resource": { "type": "Document" },
                    "page": page,
                }),
            )
            .expect(200)
            .json();
        let got = ids(&r["results"]);
        assert!(got.len() <= limit as usize, "page over its limit: {r}");
        assert_eq!(r["page"]["count"], got.len(), "{r}");
        out.extend(got);
        token = r["page"]["next_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no page.next_token: {r}"))
            .to_owned();
        if token.is_empty() {
            return out;
        }
    }
    panic!("pagination did not end");
}

#[test]
fn search_pagination_walks_to_the_same_set_as_one_page() {
    let s = Server::builder().policies(many_documents).start();
    for user in ["alice", "bob"] {
        let one = walk(&s, user, 1000, "token");
        assert!(one.len() > 5, "{user}: {one:?}");
        for (limit, key) in [(1, "token"), (3, "token"), (4, "next_token"), (7, "token")] {
            let paged = walk(&s, user, limit, key);
            assert_eq!(paged, one, "{user}, limit {limit}, token as `{key}`");
        }
    }
}

#[test]
fn authzen_configuration_lists_the_endpoints() {
    let s = Server::start();
    let c = s
        .get("/.well-known/authzen-configuration")
        .expect(200)
        .json();
    assert_eq!(c["policy_decision_point"], s.base.as_str(), "{c}");
    for (key, path) in [
        ("access_evaluation_endpoint", "/access/v1/evaluation"),
        ("access_evaluations_endpoint", "/access/v1/evaluations"),
        ("search_subject_endpoint", "/access/v1/search/subject"),
        ("search_resource_endpoint", "/access/v1/search/resource"),
        ("search_action_endpoint", "/access/v1/search/action"),
    ] {
        assert_eq!(c[key], s.url(path), "{key}: {c}");
    }
    // The advertised evaluation endpoint works.
    let r = s
        .client
        .post(c["access_evaluation_endpoint"].as_str().unwrap())
        .json(&authzen("User:alice", "read", "Document:roadmap"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn cedar_reasons(r: &Value) -> Vec<String> {
    r["diagnostics"]["reason"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics.reason: {r}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn cedar_errors(r: &Value) -> Vec<String> {
    r["diagnostics"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics.errors: {r}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn cedar_native_single_decisions() {
    let s = Server::start();
    let etag = s.etag();
    let path = "/v1/is_authorized";

    // Uids as strings.
    let r = s
        .post(
            path,
            &json!({
                "principal": uid("User:alice"),
                "action": uid("Action:read"),
                "resource": uid("Document:roadmap"),
            }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Allow", "{r}");
    assert_eq!(
        cedar_reasons(&r),
        ["owners-full-access", "staff-read-by-clearance"]
    );
    assert!(cedar_errors(&r).is_empty());
    assert_eq!(r["policy_version"], etag.as_str());

    // Uids as {type, id} (and the __entity form).
    let r = s
        .post(
            path,
            &json!({
                "principal": { "type": "User", "id": "carol" },
                "action": { "__entity": { "type": "Action", "id": "write" } },
                "resource": { "type": "Document", "id": "design" },
            }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Allow", "{r}");
    assert_eq!(cedar_reasons(&r), ["carol-edits-engineering"]);

    let r = s
        .post(
            path,
            &json!({
                "principal": { "type": "User", "id": "bob" },
                "action": { "type": "Action", "id": "read" },
                "resource": { "type": "Document", "id": "design" },
            }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Deny", "{r}");
    assert!(cedar_reasons(&r).is_empty());

    // Context.
    let delete = |ctx: Value| {
        s.post(
            path,
            &json!({
                "principal": uid("User:alice"),
                "action": uid("Action:delete"),
                "resource": uid("Document:roadmap"),
                "context": ctx,
            }),
        )
        .expect(200)
        .json()
    };
    let r = delete(json!({}));
    assert_eq!(
        (r["decision"].as_str(), cedar_reasons(&r)),
        (Some("Deny"), vec!["delete-needs-mfa".to_owned()])
    );
    let r = delete(json!({ "mfa": true }));
    assert_eq!(
        (r["decision"].as_str(), cedar_reasons(&r)),
        (Some("Allow"), vec!["owners-full-access".to_owned()])
    );
    // A context that does not fit the schema: a deny with the error.
    let r = delete(json!({ "mfa": "yes" }));
    assert_eq!(r["decision"], "Deny");
    assert!(
        cedar_errors(&r).iter().any(|e| e.contains("context")),
        "{r}"
    );

    // Request-scoped entities: a user the store does not know.
    let dave = json!([{
        "uid": { "type": "User", "id": "dave" },
        "attrs": { "department": "ops", "clearance": 2 },
        "parents": [{ "type": "Group", "id": "staff" }],
    }]);
    let r = s
        .post(
            path,
            &json!({
                "principal": uid("User:dave"),
                "action": uid("Action:read"),
                "resource": uid("Document:roadmap"),
                "entities": dave,
            }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Allow", "{r}");
    assert_eq!(cedar_reasons(&r), ["staff-read-by-clearance"]);
    // ... which override the stored ones: bob with a higher clearance.
    let r = s
        .post(
            path,
            &json!({
                "principal": uid("User:bob"),
                "action": uid("Action:read"),
                "resource": uid("Document:design"),
                "entities": [{
                    "uid": { "type": "User", "id": "bob" },
                    "attrs": { "department": "sales", "clearance": 3 },
                    "parents": [{ "type": "Group", "id": "staff" }],
                }],
            }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Allow", "{r}");

    // Errors are reported, as denies.
    for (body, hint) in [
        (
            json!({ "principal": "not a uid", "action": uid("Action:read"), "resource": uid("Document:roadmap") }),
            "principal",
        ),
        (
            json!({ "principal": uid("User:alice"), "action": 42, "resource": uid("Document:roadmap") }),
            "action",
        ),
        (
            json!({ "principal": uid("User:alice"), "action": uid("Action:fly"), "resource": uid("Document:roadmap") }),
            "fly",
        ),
        (
            json!({ "principal": uid("User:alice"), "action": uid("Action:read"), "resource": uid("Document:roadmap"), "entities": {} }),
            "entities",
        ),
        (
            json!({ "principal": uid("User:alice"), "action": uid("Action:read"), "resource": uid("Document:roadmap"), "context": [1] }),
            "context",
        ),
        (
            json!({ "principal": uid("User:dave"), "action": uid("Action:read"), "resource": uid("Document:roadmap"),
                    "entities": [{ "uid": { "type": "User", "id": "dave" }, "attrs": { "clearance": "high" }, "parents": [] }] }),
            "entities",
        ),
    ] {
        let r = s.post(path, &body).expect(200).json();
        assert_eq!(r["decision"], "Deny", "{body}: {r}");
        let errors = cedar_errors(&r);
        assert!(
            errors.iter().any(|e| e.contains(hint)),
            "{body}: expected an error mentioning `{hint}`: {r}"
        );
        assert_eq!(r["policy_version"], etag.as_str());
    }

    // A body that is not a request is 400.
    s.post(path, &json!({ "principal": uid("User:alice") }))
        .expect_error(400);
    s.post_raw(path, "{").expect_error(400);
}

#[test]
fn cedar_native_batch_answers_in_order() {
    let s = Server::start();
    let etag = s.etag();
    let req = |p: &str, a: &str, r: &str| json!({ "principal": uid(p), "action": uid(a), "resource": uid(r) });
    let batch = s
        .post(
            "/v1/is_authorized/batch",
            &json!({ "requests": [
                req("User:alice", "Action:read", "Document:roadmap"),
                req("User:bob", "Action:read", "Document:design"),
                { "principal": { "type": "User", "id": "alice" }, "action": uid("Action:delete"),
                  "resource": uid("Document:roadmap"), "context": { "mfa": true } },
                { "principal": "garbage", "action": uid("Action:read"), "resource": uid("Document:roadmap") },
                req("User:carol", "Action:read", "Document:handbook"),
            ] }),
        )
        .expect(200)
        .json();
    let responses = batch["responses"].as_array().unwrap();
    let got: Vec<&str> = responses
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Allow", "Deny", "Allow", "Deny", "Allow"], "{batch}");
    assert_eq!(cedar_reasons(&responses[2]), ["owners-full-access"]);
    assert!(!cedar_errors(&responses[3]).is_empty());
    assert_eq!(cedar_reasons(&responses[4]), ["public-read"]);
    for r in responses {
        assert_eq!(r["policy_version"], etag.as_str());
    }
    let empty = s
        .post("/v1/is_authorized/batch", &json!({ "requests": [] }))
        .expect(200)
        .json();
    assert_eq!(empty["responses"], json!([]));
    s.post("/v1/is_authorized/batch", &json!({ "requests": "all" }))
        .expect_error(400);
    s.post("/v1/is_authorized/batch", &json!({}))
        .expect_error(400);
}
