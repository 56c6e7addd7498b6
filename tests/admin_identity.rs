//! Palisade's own APIs behind identity and Cedar, with real peers: a real
//! OpenID provider (`oidc-provider`, `scripts/services/oidc.sh`), curl and
//! OpenSSL over TLS 1.3 with client certificates from Palisade's CA.
//!
//! - admin routes: an OIDC admin-group member is allowed, a non-member gets
//!   403, no identity 401; mTLS workloads listed in the admin policy are
//!   allowed; every admin decision is in the decision log with the caller;
//! - decision endpoints in `mtls` mode: a client certificate is required and
//!   the peer is the subject (`Workload` with trust domain and segments);
//! - token → first SVID exchange: token + CSR → certificate → an mTLS call
//!   decided as that workload; unsafe claim values refused.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use palisade_testkit::OidcProvider;
use serde_json::{json, Value};

/// Waits for a decision log record of `principal` doing `action`.
fn logged(data_dir: &Path, principal: &str, action: &str) -> Value {
    poll_until(&format!("a log record of {principal} {action}"), || {
        decision_records(data_dir)
            .into_iter()
            .find(|r| r["principal"] == principal && r["action"] == action)
    })
}

/// A TLS server on a fresh CA (trust domain example.org), an OIDC issuer
/// whose `admins` group is the admin group, decisions mTLS-only, the
/// token exchange on; no break-glass token.
fn tls_server(p: &OidcProvider) -> Server {
    let iss = &p.issuer;
    Server::builder()
        .without_break_glass()
        .config(&format!(
            r#"
[server]
decisions = "mtls"

[ca]
tls = true

[ca.client_auth]
admin = "optional"

[[identity.issuers]]
issuer = "{iss}"
audiences = ["urn:palisade"]
principal = {{ shared_groups = {{ admins = "palisade-admins" }} }}

[identity.exchange]
spiffe_id_template = "spiffe://{{trust_domain}}/oidc/{{claim:sub}}"
"#
        ))
        .policies(|dir| {
            let data_dir = dir.parent().unwrap().join("data");
            cli(&data_dir, &["ca", "init", "--trust-domain", "example.org"]);
            // Workloads may read documents in this test bundle.
            let schema = dir.join("app.cedarschema");
            let text = std::fs::read_to_string(&schema).unwrap().replace(
                "action read, write, delete, share appliesTo {\n  principal: [User],",
                "action read, write, delete, share appliesTo {\n  principal: [User, Workload],",
            );
            std::fs::write(&schema, text).unwrap();
            std::fs::write(
                dir.join("workloads.cedar"),
                r#"@id("oidc-workloads-read")
permit (principal is Workload, action == Action::"read", resource is Document)
when { principal.trust_domain == "example.org" && principal.segments.contains("oidc") };
"#,
            )
            .unwrap();
        })
        .start()
}

/// A certificate and key for `spiffe_id`, issued by the local admin CLI.
fn workload_cert(s: &Server, name: &str, spiffe_id: &str) -> (String, String) {
    let (cert, key) = s.issue_cert(name, spiffe_id);
    (cert.display().to_string(), key.display().to_string())
}

fn https(s: &Server, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", s.addr.port())
}

fn bundle(s: &Server) -> String {
    s.data_dir.join("ca-bundle.pem").display().to_string()
}

#[test]
fn admin_routes_take_oidc_or_mtls_callers_and_ask_cedar() {
    let p = OidcProvider::own();
    let s = tls_server(&p);
    let bundle = bundle(&s);
    let policy = https(&s, "/admin/v1/policy");
    let get = |extra: &[&str]| {
        let mut args = vec!["--cacert", bundle.as_str()];
        args.extend_from_slice(extra);
        args.push(&policy);
        curl(&args)
    };

    // No identity: 401. A token that does not verify: 401.
    let (_, status, body) = get(&[]);
    assert_eq!(status, "401", "{body}");
    let (_, status, body) = get(&["-H", "authorization: Bearer not.a.token"]);
    assert_eq!(status, "401", "{body}");
    // No break-glass token exists.
    assert!(!s.data_dir.join("admin.token").exists());

    // A member of the admin group (svc-alice is in `admins`): allowed.
    let alice = format!("authorization: Bearer {}", p.token("svc-alice", None));
    let (_, status, body) = get(&["-H", &alice]);
    assert_eq!(status, "200", "{body}");
    let reload = https(&s, "/admin/v1/reload");
    let (_, status, body) = curl(&["--cacert", &bundle, "-X", "POST", "-H", &alice, &reload]);
    assert_eq!(status, "200", "{body}");
    // A non-member (svc-bob, `readers` only): 403, for reads and updates.
    let bob = format!("authorization: Bearer {}", p.token("svc-bob", None));
    let (_, status, body) = get(&["-H", &bob]);
    assert_eq!(status, "403", "{body}");
    let (_, status, body) = curl(&["--cacert", &bundle, "-X", "POST", "-H", &bob, &reload]);
    assert_eq!(status, "403", "{body}");

    // mTLS: the workload listed in the admin policy is allowed, another is not.
    let (admin_cert, admin_key) = workload_cert(&s, "ops", "spiffe://example.org/palisade/admin");
    let (web_cert, web_key) = workload_cert(&s, "web", "spiffe://example.org/web");
    let (_, status, body) = get(&["--cert", &admin_cert, "--key", &admin_key]);
    assert_eq!(status, "200", "{body}");
    let (_, status, body) = get(&["--cert", &web_cert, "--key", &web_key]);
    assert_eq!(status, "403", "{body}");

    // CA revocation is an admin action too: the web certificate's serial.
    let listed = cli(
        &s.data_dir,
        &[
            "ca",
            "list",
            "--spiffe-id",
            "spiffe://example.org/web",
            "--json",
        ],
    );
    let first: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    let serial = first["serial"].as_str().unwrap().to_owned();
    let revoke = https(&s, "/ca/v1/revoke");
    let revoke_body = json!({ "serial": serial, "reason": "keyCompromise" }).to_string();
    let post_revoke = |auth: &str| {
        curl(&[
            "--cacert",
            &bundle,
            "-H",
            "content-type: application/json",
            "-H",
            auth,
            "-d",
            &revoke_body,
            &revoke,
        ])
    };
    let (_, status, body) = post_revoke(&bob);
    assert_eq!(status, "403", "{body}");
    let (_, status, body) = post_revoke(&alice);
    assert_eq!(status, "200", "{body}");

    // The decision log names every caller, allowed or not.
    let iss = &p.issuer;
    let a = logged(
        &s.data_dir,
        &format!(r#"User::"{iss}|svc-alice""#),
        r#"Action::"admin:ca.revoke""#,
    );
    assert_eq!(a["decision"], "allow", "{a}");
    assert_eq!(a["api"], "admin");
    assert_eq!(a["resource"], r#"AdminApi::"/ca/v1/revoke""#);
    assert_eq!(a["context"]["credential"], "oidc");
    assert_eq!(a["attributes"]["authority"], iss.as_str());
    let b = logged(
        &s.data_dir,
        &format!(r#"User::"{iss}|svc-bob""#),
        r#"Action::"admin:policy.update""#,
    );
    assert_eq!(b["decision"], "deny", "{b}");
    let w = logged(
        &s.data_dir,
        r#"Workload::"spiffe://example.org/web""#,
        r#"Action::"admin:policy.read""#,
    );
    assert_eq!(w["decision"], "deny", "{w}");
    assert_eq!(w["context"]["credential"], "mtls");
    let o = logged(
        &s.data_dir,
        r#"Workload::"spiffe://example.org/palisade/admin""#,
        r#"Action::"admin:policy.read""#,
    );
    assert_eq!(o["decision"], "allow", "{o}");
}

#[test]
fn a_token_buys_a_first_svid_that_then_decides_over_mtls() {
    let p = OidcProvider::own();
    let s = tls_server(&p);
    let bundle = bundle(&s);
    let dir = s.root.path();
    let key = dir.join("alice.key");
    let csr = openssl_csr_with(dir, "alice", None);
    let exchange = https(&s, "/ca/v1/exchange");
    let post = |body: Value| {
        curl(&[
            "--cacert",
            &bundle,
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
            &exchange,
        ])
    };

    // Token + CSR → a certificate for the ID the token's claims name.
    let (_, status, body) = post(json!({ "token": p.token("svc-alice", None), "csr": csr }));
    assert_eq!(status, "200", "{body}");
    let issued: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(issued["spiffe_id"], "spiffe://example.org/oidc/svc-alice");
    let chain = dir.join("alice.pem");
    std::fs::write(&chain, issued["chain"].as_str().unwrap()).unwrap();
    // OpenSSL agrees it chains to the bundle.
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", &bundle, "-untrusted"])
        .arg(&chain)
        .arg(&chain)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl verify: {}", describe(&out));

    // The new workload calls the mTLS-only decision endpoint as itself.
    let eval = https(&s, "/access/v1/peer/evaluation");
    let ask = |extra: &[&str], action: &str| {
        let body = json!({ "action": {"name": action},
                           "resource": {"type": "Document", "id": "roadmap"} })
        .to_string();
        let mut args = vec![
            "--cacert",
            bundle.as_str(),
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ];
        args.extend_from_slice(extra);
        args.push(&eval);
        curl(&args)
    };
    let (chain_s, key_s) = (chain.display().to_string(), key.display().to_string());
    let (_, status, body) = ask(&["--cert", &chain_s, "--key", &key_s], "read");
    assert_eq!(status, "200", "{body}");
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["decision"], true, "{d}");
    assert_eq!(d["context"]["reasons"], json!(["oidc-workloads-read"]));
    let (_, status, body) = ask(&["--cert", &chain_s, "--key", &key_s], "write");
    assert_eq!(status, "200", "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["decision"],
        false
    );
    // Decisions are mTLS-only here: without a certificate, 401, on the
    // peer endpoint and on the plain AuthZEN one.
    let (_, status, body) = ask(&[], "read");
    assert_eq!(status, "401", "{body}");
    let (_, status, body) = curl(&[
        "--cacert",
        &bundle,
        "-H",
        "content-type: application/json",
        "-d",
        &authzen("User::\"alice\"", "read", "Document::\"roadmap\"").to_string(),
        &https(&s, "/access/v1/evaluation"),
    ]);
    assert_eq!(status, "401", "{body}");
    let d = logged(
        &s.data_dir,
        r#"Workload::"spiffe://example.org/oidc/svc-alice""#,
        r#"Action::"read""#,
    );
    assert_eq!(
        d["attributes"]["principal"]["attrs"]["segments"],
        json!(["oidc", "svc-alice"])
    );
    // The issuance itself was decided by ca:issue with the token's principal.
    let iss = &p.issuer;
    let i = logged(
        &s.data_dir,
        &format!(r#"User::"{iss}|svc-alice""#),
        r#"Action::"ca:issue""#,
    );
    assert_eq!(i["decision"], "allow", "{i}");
    assert_eq!(i["context"]["method"], "oidc");

    // Refusals: a token that does not verify (401); claims that cannot name
    // an identity, signed by the real provider key (403), never issued.
    let (_, status, body) = post(json!({ "token": "x.y.z", "csr": csr }));
    assert_eq!(status, "401", "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for evil in ["../admin", "a/b", "..", "x y", "%2e%2e"] {
        let token = p.sign(
            "RS256",
            json!({"typ": "at+jwt"}),
            json!({
                "iss": iss, "sub": evil, "aud": "urn:palisade", "client_id": "svc-alice",
                "iat": now, "exp": now + 300, "jti": format!("t-{evil}"),
            }),
        );
        let (_, status, body) = post(json!({ "token": token, "csr": csr }));
        assert_eq!(status, "403", "{evil:?}: {body}");
        assert!(body.contains("sub"), "{body}");
    }
    // Only the one legitimate exchange is in the ledger.
    let listed = cli(&s.data_dir, &["ca", "list", "--json"]);
    let oidc: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("spiffe://example.org/oidc/"))
        .collect();
    assert_eq!(oidc.len(), 1, "{listed}");
}
