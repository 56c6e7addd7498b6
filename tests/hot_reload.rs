//! Hot reload against a spawned `palisade serve`: the watched directory,
//! SIGHUP, the admin API, and flips under concurrent load.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{authzen, entity, poll_until, replace_file, uid, Server};
use reqwest::Method;
use serde_json::{json, Value};

const NO_WATCH: &str = "[policy]\nwatch = false\n";

fn documents() -> String {
    std::fs::read_to_string(common::examples_dir().join("documents.cedar")).unwrap()
}

fn sharing() -> String {
    std::fs::read_to_string(common::examples_dir().join("sharing.cedar")).unwrap()
}

/// documents.cedar without the `public-read` policy.
fn documents_without_public_read() -> String {
    let text = documents();
    let start = text.find("// Anyone may read a public document.").unwrap();
    let end = text.find("// Nobody deletes").unwrap();
    let out = format!("{}{}", &text[..start], &text[end..]);
    assert!(!out.contains("public-read"));
    out
}

fn failures(s: &Server) -> f64 {
    s.metric("palisade_policy_reloads_total", &[("result", "failure")])
}

fn history_sources(s: &Server) -> Vec<(String, String)> {
    let v = Server::send(s.admin(Method::GET, "/admin/v1/versions"))
        .expect(200)
        .json();
    v.as_array()
        .unwrap_or_else(|| panic!("versions is not a list: {v}"))
        .iter()
        .map(|e| {
            (
                e["etag"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn editing_a_policy_file_serves_the_new_version() {
    let s = Server::start();
    let before = s.etag();
    let r = s.evaluate("User:carol", "read", "Document:handbook");
    assert_eq!(r["decision"], true);
    assert_eq!(r["context"]["policy_version"], before.as_str());

    replace_file(
        &s.policy_dir.join("documents.cedar"),
        &documents_without_public_read(),
    );
    let after = poll_until("the edited policy file to be served", || {
        let e = s.etag();
        (e != before).then_some(e)
    });
    let r = s.evaluate("User:carol", "read", "Document:handbook");
    assert_eq!(r["decision"], false, "{r}");
    assert_eq!(r["context"]["policy_version"], after.as_str());
    assert!(
        history_sources(&s).contains(&(after.clone(), "file-change".into())),
        "{:?}",
        history_sources(&s)
    );

    // A new file is picked up too.
    std::fs::write(
        s.policy_dir.join("handbook.cedar"),
        "@id(\"handbook-for-all\")\npermit (principal, action == Action::\"read\", resource == Document::\"handbook\");\n",
    )
    .unwrap();
    poll_until("the new policy file to be served", || {
        let r = s.evaluate("User:carol", "read", "Document:handbook");
        (r["decision"] == true).then_some(r)
    });
    let r = s.evaluate("User:carol", "read", "Document:handbook");
    assert_eq!(r["context"]["reasons"], json!(["handbook-for-all"]));
    assert_ne!(r["context"]["policy_version"], after.as_str());
}

#[test]
fn an_invalid_policy_file_keeps_the_old_version_serving() {
    let s = Server::start();
    let before = s.etag();
    let failed_before = failures(&s);
    let probes = [
        ("User:carol", "read", "Document:handbook", true),
        ("User:bob", "read", "Document:design", false),
        ("User:alice", "write", "Document:roadmap", true),
    ];

    std::fs::write(
        s.policy_dir.join("broken.cedar"),
        "permit (principal, action, resource)\nwhen { principal.clearance >>> 3 };\n",
    )
    .unwrap();
    poll_until("the failed reload to be counted", || {
        (failures(&s) > failed_before).then_some(())
    });
    assert_eq!(s.etag(), before, "a bad file must not change the version");
    for (p, a, r, expected) in probes {
        let d = s.evaluate(p, a, r);
        assert_eq!(d["decision"], expected, "{p} {a} {r}: {d}");
        assert_eq!(d["context"]["policy_version"], before.as_str());
    }

    // A file that parses but does not validate against the schema is refused too.
    let failed = failures(&s);
    replace_file(
        &s.policy_dir.join("broken.cedar"),
        "permit (principal, action, resource) when { principal.shoe_size > 3 };\n",
    );
    poll_until("the second failed reload to be counted", || {
        (failures(&s) > failed).then_some(())
    });
    assert_eq!(s.etag(), before);

    // Removing it brings the directory back to what is served.
    std::fs::remove_file(s.policy_dir.join("broken.cedar")).unwrap();
    let ok = s.metric("palisade_policy_reloads_total", &[("result", "success")]);
    poll_until("a successful reload after the fix", || {
        (s.metric("palisade_policy_reloads_total", &[("result", "success")]) > ok).then_some(())
    });
    assert_eq!(s.etag(), before);
    for (p, a, r, expected) in probes {
        assert_eq!(s.evaluate(p, a, r)["decision"], expected);
    }
}

#[test]
fn sighup_reloads_the_directory() {
    let s = Server::builder().config(NO_WATCH).start();
    let before = s.etag();
    replace_file(
        &s.policy_dir.join("documents.cedar"),
        &documents_without_public_read(),
    );
    // Not watching: nothing changes until the signal.
    assert_eq!(s.etag(), before);
    assert_eq!(
        s.evaluate("User:carol", "read", "Document:handbook")["decision"],
        true
    );

    s.signal("HUP");
    let after = poll_until("SIGHUP to load the new version", || {
        let e = s.etag();
        (e != before).then_some(e)
    });
    let r = s.evaluate("User:carol", "read", "Document:handbook");
    assert_eq!(r["decision"], false, "{r}");
    assert_eq!(r["context"]["policy_version"], after.as_str());
    assert!(history_sources(&s).contains(&(after.clone(), "sighup".into())));

    // A bad directory on SIGHUP is refused; the process keeps serving.
    let failed = failures(&s);
    std::fs::write(s.policy_dir.join("broken.cedar"), "permit (").unwrap();
    s.signal("HUP");
    poll_until("the failed SIGHUP reload to be counted", || {
        (failures(&s) > failed).then_some(())
    });
    assert_eq!(s.etag(), after);
    assert_eq!(
        s.evaluate("User:carol", "read", "Document:handbook")["decision"],
        false
    );
}

#[test]
fn admin_api_updates_policies_and_entities() {
    let mut s = Server::builder().config(NO_WATCH).start();
    let initial = s.etag();
    let without_public = format!("{}\n{}", documents_without_public_read(), sharing());

    // Authentication. Without a client certificate, the TLS listener's rule
    // for the admin routes refuses.
    let no_cert = common::tls_client(&s.bundle(), None);
    Server::send(no_cert.get(s.url("/admin/v1/policy"))).expect_error(401);
    // A bearer token, when sent, is the credential: a wrong one is a 401,
    // client certificate or not.
    let wrong = Server::send(
        s.client
            .put(s.url("/admin/v1/policies"))
            .header("authorization", "Bearer wrong-token")
            .header("content-type", "text/plain")
            .body(without_public.clone()),
    );
    assert_eq!(wrong.header("www-authenticate").as_deref(), Some("Bearer"));
    wrong.expect_error(401);
    Server::send(
        s.client
            .put(s.url("/admin/v1/entities"))
            .bearer_auth(format!("{}x", s.admin_token()))
            .body("[]"),
    )
    .expect_error(401);
    // Otherwise the harness's client certificate (spiffe://example.org/e2e-client)
    // identifies a workload that the shipped admin policy does not list: 403.
    for auth in ["Basic YWRtaW46YWRtaW4=", "Bearer", ""] {
        Server::send(
            s.client
                .put(s.url("/admin/v1/policies"))
                .header("authorization", auth)
                .header("content-type", "text/plain")
                .body(without_public.clone()),
        )
        .expect_error(403);
    }
    Server::send(s.client.post(s.url("/admin/v1/reload"))).expect_error(403);
    assert_eq!(s.etag(), initial, "refused requests change nothing");

    // A good update: 200 with the new etag, served at once.
    let r = s.put_policies(&without_public, None).expect(200);
    let v1 = r.json()["etag"].as_str().unwrap().to_owned();
    assert_eq!(r.header("etag"), Some(format!("\"{v1}\"")));
    assert_ne!(v1, initial);
    assert_eq!(s.etag(), v1);
    let d = s.evaluate("User:carol", "read", "Document:handbook");
    assert_eq!(d["decision"], false, "{d}");
    assert_eq!(d["context"]["policy_version"], v1.as_str());
    // The template link still works: links were kept.
    assert_eq!(
        s.evaluate("User:carol", "write", "Document:design")["context"]["reasons"],
        json!(["carol-edits-engineering"])
    );

    // A bad update: 422 naming file, line and column; nothing changes.
    let failed = failures(&s);
    let bad = "@id(\"ok\")\npermit (principal, action, resource);\nforbid (principal action, resource);\n";
    let r = s.put_policies(bad, None).expect(422);
    let body = r.json();
    assert_eq!(body["error"]["status"], 422);
    let diags = body["diagnostics"].as_array().expect("diagnostics");
    let d = diags
        .iter()
        .find(|d| d["file"] == "admin-api.cedar")
        .unwrap_or_else(|| panic!("no diagnostic for admin-api.cedar: {body}"));
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(19)),
        "{d}"
    );
    assert!(d["message"].as_str().unwrap().contains("action"), "{d}");
    assert_eq!(s.etag(), v1);
    assert!(failures(&s) > failed);
    // A policy that does not validate is located too.
    let r = s
        .put_policies(
            &format!("{}\n@id(\"shoes\")\npermit (principal, action, resource)\n  when {{ principal.shoe_size > 3 }};\n", sharing()),
            None,
        )
        .expect(422);
    let body = r.json();
    let d = &body["diagnostics"][0];
    assert_eq!(d["file"], "admin-api.cedar", "{body}");
    // sharing.cedar is 3 lines, then a blank one: `principal.shoe_size` is at 7:10.
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(7), Some(10)),
        "{body}"
    );
    assert!(d["message"].as_str().unwrap().contains("shoes"), "{body}");

    // If-Match: a stale etag is 412, the current one (quoted or not) and * pass.
    s.put_policies(&documents(), Some(&format!("\"{initial}\"")))
        .expect_error(412);
    assert_eq!(s.etag(), v1);
    let with_public = format!("{}\n{}", documents(), sharing());
    let v2 = s
        .put_policies(&with_public, Some(&format!("\"{v1}\"")))
        .expect(200)
        .json()["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.evaluate("User:carol", "read", "Document:handbook")["decision"],
        true
    );
    let v3 = s
        .put_policies(&without_public, Some(&v2))
        .expect(200)
        .json()["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(v3, v1, "the etag is the content hash");
    s.put_policies(&with_public, Some("*")).expect(200);
    assert_eq!(s.etag(), v2);

    // JSON form: several files.
    let r = Server::send(
        s.admin(Method::PUT, "/admin/v1/policies").json(&json!({
            "files": [
                { "name": "documents.cedar", "text": documents_without_public_read() },
                { "name": "sharing.cedar", "text": sharing() },
            ],
            "links": [{ "name": "links.json", "text": std::fs::read_to_string(common::examples_dir().join("links.json")).unwrap() }],
        })),
    )
    .expect(200);
    assert_eq!(r.json()["files"].as_array().unwrap().len(), 5, "{}", r.text);
    assert_eq!(
        s.evaluate("User:carol", "read", "Document:handbook")["decision"],
        false
    );

    // Entities.
    assert_eq!(
        s.evaluate("User:bob", "read", "Document:design")["decision"],
        false
    );
    let mut ents: Value = serde_json::from_str(
        &std::fs::read_to_string(common::examples_dir().join("entities.json")).unwrap(),
    )
    .unwrap();
    for e in ents.as_array_mut().unwrap() {
        if e["uid"]["id"] == "bob" {
            e["attrs"]["clearance"] = json!(3);
        }
    }
    let before_entities = s.etag();
    let r = Server::send(
        s.admin(Method::PUT, "/admin/v1/entities")
            .header("content-type", "application/json")
            .body(ents.to_string()),
    )
    .expect(200);
    let v4 = r.json()["etag"].as_str().unwrap().to_owned();
    assert_ne!(v4, before_entities);
    let d = s.evaluate("User:bob", "read", "Document:design");
    assert_eq!(d["decision"], true, "{d}");
    assert_eq!(d["context"]["policy_version"], v4.as_str());
    // Bad entities: 422 with a location; nothing changes.
    let r = Server::send(
        s.admin(Method::PUT, "/admin/v1/entities")
            .body("[\n  { \"uid\": { \"type\": \"User\", \"id\": \"zed\" },\n    \"attrs\": { \"clearance\": \"high\" }, \"parents\": [] }\n]"),
    )
    .expect(422);
    let body = r.json();
    assert_eq!(
        body["diagnostics"][0]["file"], "admin-api.entities.json",
        "{body}"
    );
    assert!(body["diagnostics"][0]["line"].as_u64().is_some(), "{body}");
    assert_eq!(s.etag(), v4);
    Server::send(
        s.admin(Method::PUT, "/admin/v1/entities")
            .header("if-match", format!("\"{initial}\""))
            .body("[]"),
    )
    .expect_error(412);

    // POST /admin/v1/reload goes back to the directory: the initial version.
    let r = Server::send(s.admin(Method::POST, "/admin/v1/reload")).expect(200);
    assert_eq!(r.json()["etag"], initial.as_str());
    assert_eq!(s.etag(), initial);
    assert_eq!(
        s.evaluate("User:carol", "read", "Document:handbook")["decision"],
        true
    );
    assert_eq!(
        s.evaluate("User:bob", "read", "Document:design")["decision"],
        false
    );

    let sources: Vec<String> = history_sources(&s).into_iter().map(|(_, s)| s).collect();
    assert!(sources.iter().any(|s| s == "admin-api"), "{sources:?}");
    assert!(sources.iter().any(|s| s == "startup"), "{sources:?}");

    // An admin update survives nothing but itself: after a restart the
    // directory is served again.
    s.put_policies(&without_public, None).expect(200);
    assert!(s.stop().success());
    s.spawn();
    assert_eq!(s.etag(), initial);
}

/// Version A is the example; version B drops `public-read` and adds
/// `b-only`. Two questions whose answers swap between them.
fn version_a() -> String {
    format!("{}\n{}", documents(), sharing())
}

fn version_b() -> String {
    format!(
        "{}\n{}\n@id(\"b-only\")\npermit (principal == User::\"bob\", action == Action::\"write\", resource == Document::\"roadmap\");\n",
        documents_without_public_read(),
        sharing()
    )
}

/// (carol read handbook, bob write roadmap) and their reasons, per version.
fn expected(is_b: bool) -> [(bool, Vec<&'static str>); 2] {
    if is_b {
        [(false, vec![]), (true, vec!["b-only"])]
    } else {
        [(true, vec!["public-read"]), (false, vec![])]
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec![format!("not a list: {v}")])
}

/// Checks one response; returns the etag it reports.
fn check_response(
    kind: usize,
    status: u16,
    body: &str,
    versions: &BTreeMap<String, bool>,
) -> Result<String, String> {
    if status != 200 {
        return Err(format!("request kind {kind}: status {status}: {body}"));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    // (etag, [(question index, decision, reasons)])
    let (etag, answers): (String, Vec<(usize, bool, Vec<String>)>) = match kind {
        0 => (
            v["context"]["policy_version"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            vec![(0, v["decision"] == true, strs(&v["context"]["reasons"]))],
        ),
        1 => {
            let items = v["evaluations"].as_array().cloned().unwrap_or_default();
            if items.len() != 2 {
                return Err(format!("batch answered {} items: {v}", items.len()));
            }
            let etags: Vec<&str> = items
                .iter()
                .map(|i| i["context"]["policy_version"].as_str().unwrap_or(""))
                .collect();
            if etags[0] != etags[1] {
                return Err(format!("one batch, two versions: {v}"));
            }
            (
                etags[0].to_owned(),
                items
                    .iter()
                    .enumerate()
                    .map(|(q, i)| (q, i["decision"] == true, strs(&i["context"]["reasons"])))
                    .collect(),
            )
        }
        2 => (
            v["policy_version"].as_str().unwrap_or("").to_owned(),
            vec![(
                1,
                v["decision"] == "Allow",
                strs(&v["diagnostics"]["reason"]),
            )],
        ),
        _ => {
            let items = v["responses"].as_array().cloned().unwrap_or_default();
            if items.len() != 2 {
                return Err(format!("cedar batch answered {} items: {v}", items.len()));
            }
            let etags: Vec<&str> = items
                .iter()
                .map(|i| i["policy_version"].as_str().unwrap_or(""))
                .collect();
            if etags[0] != etags[1] {
                return Err(format!("one cedar batch, two versions: {v}"));
            }
            (
                etags[0].to_owned(),
                items
                    .iter()
                    .enumerate()
                    .map(|(q, i)| {
                        (
                            q,
                            i["decision"] == "Allow",
                            strs(&i["diagnostics"]["reason"]),
                        )
                    })
                    .collect(),
            )
        }
    };
    let Some(&is_b) = versions.get(&etag) else {
        return Err(format!("unknown policy_version `{etag}`: {v}"));
    };
    let exp = expected(is_b);
    for (q, decision, reasons) in answers {
        let (want, want_reasons) = &exp[q];
        if decision != *want || reasons != *want_reasons {
            return Err(format!(
                "version {etag} ({}) answered question {q} with {decision} {reasons:?}, expected {want} {want_reasons:?}: {v}",
                if is_b { "B" } else { "A" }
            ));
        }
    }
    Ok(etag)
}

#[test]
fn flipping_versions_under_load_never_mixes_them() {
    const CLIENTS: usize = 4;
    const FLIPS: usize = 200;
    let s = Arc::new(Server::builder().config(NO_WATCH).start());

    // Learn the etags of both versions before the load starts.
    let initial = s.etag();
    let etag_b = s.put_policies(&version_b(), None).expect(200).json()["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let etag_a = s.put_policies(&version_a(), None).expect(200).json()["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(etag_a, etag_b);
    let versions: Arc<BTreeMap<String, bool>> = Arc::new(BTreeMap::from([
        (initial, false),
        (etag_a.clone(), false),
        (etag_b.clone(), true),
    ]));

    let q_authzen = [
        authzen("User:carol", "read", "Document:handbook"),
        authzen("User:bob", "write", "Document:roadmap"),
    ];
    let q_cedar = [
        json!({ "principal": uid("User:carol"), "action": uid("Action:read"), "resource": uid("Document:handbook") }),
        json!({ "principal": { "type": "User", "id": "bob" }, "action": uid("Action:write"), "resource": entity("Document:roadmap") }),
    ];
    let requests: Arc<Vec<(&str, Value)>> = Arc::new(vec![
        ("/access/v1/evaluation", q_authzen[0].clone()),
        (
            "/access/v1/evaluations",
            json!({ "evaluations": q_authzen.clone() }),
        ),
        ("/v1/is_authorized", q_cedar[1].clone()),
        (
            "/v1/is_authorized/batch",
            json!({ "requests": q_cedar.clone() }),
        ),
    ]);

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (s, stop, errors, seen, total, versions, requests) = (
                s.clone(),
                stop.clone(),
                errors.clone(),
                seen.clone(),
                total.clone(),
                versions.clone(),
                requests.clone(),
            );
            std::thread::spawn(move || {
                let client = s.client.clone();
                let mut i = c;
                // At least one round; then until the flips are done (bounded).
                loop {
                    let kind = i % requests.len();
                    let (path, body) = &requests[kind];
                    match client.post(s.url(path)).json(body).send() {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let text = r.text().unwrap_or_default();
                            match check_response(kind, status, &text, &versions) {
                                Ok(etag) => *seen.lock().unwrap().entry(etag).or_default() += 1,
                                Err(e) => errors.lock().unwrap().push(e),
                            }
                        }
                        Err(e) => errors.lock().unwrap().push(format!("{path}: {e}")),
                    }
                    total.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    if (i >= c + requests.len() && stop.load(Ordering::Relaxed)) || i > 1_000_000 {
                        break;
                    }
                }
            })
        })
        .collect();

    for flip in 0..FLIPS {
        let is_b = flip % 2 == 0;
        let (text, want) = if is_b {
            (version_b(), &etag_b)
        } else {
            (version_a(), &etag_a)
        };
        let r = s.put_policies(&text, None).expect(200);
        assert_eq!(r.json()["etag"], want.as_str(), "flip {flip}");
        // Read your write: the next request sees the new version.
        let d = s.evaluate("User:carol", "read", "Document:handbook");
        assert_eq!(d["context"]["policy_version"], want.as_str(), "flip {flip}");
        assert_eq!(d["decision"], !is_b, "flip {flip}: {d}");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread panicked");
    }
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} of {} requests failed or were inconsistent; first ones:\n{}",
        errors.len(),
        total.load(Ordering::Relaxed),
        errors
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let total = total.load(Ordering::Relaxed);
    assert!(total >= CLIENTS * 4, "only {total} requests were made");
    eprintln!(
        "{total} requests over {FLIPS} flips, by version: {:?}",
        seen.lock().unwrap()
    );
    let history = history_sources(&s);
    assert!(history.len() >= 3, "{history:?}");
}
