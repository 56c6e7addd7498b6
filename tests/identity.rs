//! `palisade serve` with an OIDC issuer (a real `oidc-provider` started by
//! `scripts/services/oidc.sh`): the token-based decision endpoints, the
//! generic 401 with the precise reason in the log, and a signing-key
//! rotation at the provider while the server runs.

mod common;

use common::{poll_until, Server};
use palisade_testkit::OidcProvider;
use serde_json::json;

/// A TLS server trusting the provider: `admins` may write, `readers` read
/// (their own `client_id` only).
fn server(p: &OidcProvider) -> Server {
    let iss = p.issuer.clone();
    Server::builder()
        .config(&format!(
            r#"
[[identity.issuers]]
issuer = "{iss}"
audiences = ["urn:palisade"]
jwks_min_refresh_seconds = 1
principal = {{ attributes = ["client_id"], context = ["client_id"] }}
"#
        ))
        .policies(move |dir| {
            for e in std::fs::read_dir(dir).unwrap() {
                std::fs::remove_file(e.unwrap().path()).unwrap();
            }
            std::fs::write(
                dir.join("tokens.cedar"),
                format!(
                    r#"
@id("admins-write")
permit (principal in UserGroup::"{iss}|admins", action == Action::"write", resource);
@id("readers-read")
permit (principal in UserGroup::"{iss}|readers", action == Action::"read", resource)
when {{ context.token.client_id == principal.client_id }};
"#
                ),
            )
            .unwrap();
        })
        .start()
}

fn authzen(server: &Server, token: &str, action: &str) -> common::Resp {
    server.post(
        "/access/v1/token/evaluation",
        &json!({ "subject_token": token, "action": {"name": action},
                 "resource": {"type": "Document", "id": "roadmap"} }),
    )
}

#[test]
fn token_subjects_are_verified_mapped_and_decided() {
    let p = OidcProvider::own();
    let server = server(&p);
    let alice = p.token("svc-alice", None);
    let bob = p.token("svc-bob", None);

    // Groups from the token decide; claims reach context.token.
    assert_eq!(
        authzen(&server, &alice, "write").expect(200).json()["decision"],
        true
    );
    assert_eq!(
        authzen(&server, &bob, "write").expect(200).json()["decision"],
        false
    );
    let read = authzen(&server, &bob, "read").expect(200).json();
    assert_eq!(read["decision"], true, "{read}");
    assert_eq!(read["context"]["reasons"], json!(["readers-read"]));

    // Cedar-native, like IsAuthorizedWithToken.
    let r = server
        .post(
            "/v1/is_authorized_with_token",
            &json!({ "access_token": alice, "action": r#"Action::"write""#,
                     "resource": {"type": "Document", "id": "x"} }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Allow", "{r}");
    // The principal comes from the token: a request cannot redefine it
    // (here: to add a group) nor fake its claims.
    let iss = &p.issuer;
    let r = server
        .post(
            "/v1/is_authorized_with_token",
            &json!({ "access_token": bob, "action": r#"Action::"write""#,
                     "resource": {"type": "Document", "id": "x"},
                     "entities": [{"uid": {"type": "User", "id": format!("{iss}|svc-bob")},
                                   "attrs": {}, "parents": [{"type": "UserGroup", "id": format!("{iss}|admins")}]}] }),
        )
        .expect(200)
        .json();
    assert_eq!(r["decision"], "Deny", "{r}");
    let r = server
        .post(
            "/access/v1/token/evaluation",
            &json!({ "subject_token": alice, "action": {"name": "read"},
                     "resource": {"type": "Document", "id": "roadmap"},
                     "context": {"token": {"client_id": "svc-bob"}} }),
        )
        .expect(200)
        .json();
    assert_eq!(
        r["decision"], true,
        "the verified claims replace the caller's: {r}"
    );

    // Bad tokens: a generic 401, the reason only in the log.
    let mut forged: Vec<String> = bob.split('.').map(str::to_owned).collect();
    forged[1] = alice.split('.').nth(1).unwrap().to_owned();
    for bad in [
        forged.join("."),
        "not-a-token".to_owned(),
        "x".repeat(20_000),
    ] {
        let r = authzen(&server, &bad, "write");
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        let body = r.expect(401).json();
        assert_eq!(body["error"]["message"], "invalid or missing credentials");
    }
    let r = server.post(
        "/v1/is_authorized_with_token",
        &json!({ "action": r#"Action::"write""#, "resource": r#"Document::"x""# }),
    );
    r.expect_error(400);
    poll_until("the refusals in the log", || {
        let logs = server.logs();
        (logs.contains("bad_signature") && logs.contains("malformed") && logs.contains("oversized"))
            .then_some(())
    });
    assert!(!server.logs().contains(&bob), "tokens are never logged");
}

#[test]
fn a_key_rotation_at_the_provider_is_picked_up_while_serving() {
    let p = OidcProvider::own();
    let server = server(&p);
    let before = p.token("svc-alice", None);
    assert_eq!(
        authzen(&server, &before, "write").expect(200).json()["decision"],
        true
    );
    p.rotate(true);
    let after = p.token("svc-alice", None);
    assert_ne!(
        before.split('.').next(),
        after.split('.').next(),
        "a new kid"
    );
    // Within the refresh interval the new key may be refused once; then it is fetched.
    poll_until("a token signed with the new key to verify", || {
        (authzen(&server, &after, "write").status == 200).then_some(())
    });
    assert_eq!(authzen(&server, &after, "write").json()["decision"], true);
    // The retired key is gone from the fetched set.
    authzen(&server, &before, "write").expect(401);
}
