//! Token verification against a real OpenID provider (npm `oidc-provider`,
//! started by `scripts/services/oidc.sh`): every rejection, the mapping to
//! principals, and a signing-key rotation while the verifier runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use palisade_identity::{
    IdentityConfig, IssuerConfig, PrincipalMapping, Rejection, TokenKind, TokenVerifier,
};
use palisade_testkit::OidcProvider;
use serde_json::{json, Value};

const AUD: &str = "urn:palisade";

/// The issuer configuration of the test provider.
fn issuer_config(p: &OidcProvider) -> IssuerConfig {
    IssuerConfig {
        issuer: p.issuer.clone(),
        audiences: vec![AUD.into(), "palisade-web".into()],
        principal: PrincipalMapping {
            attributes: vec!["client_id".into()],
            context: vec!["scope".into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Valid access-token claims of the test provider, to be altered by a test.
fn valid_claims(p: &OidcProvider) -> Value {
    let now = now();
    json!({ "iss": p.issuer, "sub": "svc-alice", "aud": AUD, "iat": now, "exp": now + 300,
            "groups": ["admins"] })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verifier(issuers: Vec<IssuerConfig>) -> TokenVerifier {
    TokenVerifier::new(&IdentityConfig {
        issuers,
        ..Default::default()
    })
    .unwrap()
}

/// A verifier trusting only `issuer`, and an access token naming it (signed
/// by the test provider's key, which `issuer` does not serve).
fn verifier_and_token_for(issuer: &str) -> (TokenVerifier, String) {
    let v = verifier(vec![IssuerConfig {
        issuer: issuer.to_owned(),
        audiences: vec![AUD.into()],
        ..Default::default()
    }]);
    let p = OidcProvider::shared();
    let mut claims = valid_claims(&p);
    claims["iss"] = json!(issuer);
    (v, p.sign("RS256", json!({"typ": "at+jwt"}), claims))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[tokio::test]
async fn access_tokens_verify_and_map_to_principals() {
    let p = OidcProvider::shared();
    let v = verifier(vec![issuer_config(&p)]);
    for resource in [None, Some("urn:palisade:es256")] {
        let token = p.token("svc-alice", resource);
        let verified = v.verify(&token).await.unwrap();
        assert_eq!(verified.kind, TokenKind::Access);
        assert_eq!(verified.claims["groups"], json!(["admins", "readers"]));
        let principal = v.principal(&verified).unwrap();
        let iss = &p.issuer;
        assert_eq!(
            principal.uid.to_string(),
            format!(r#"User::"{iss}|svc-alice""#)
        );
        assert_eq!(
            principal.entity["parents"],
            json!([{"type": "UserGroup", "id": format!("{iss}|admins")},
                   {"type": "UserGroup", "id": format!("{iss}|readers")}])
        );
        assert_eq!(principal.entity["attrs"], json!({"client_id": "svc-alice"}));
        assert_eq!(principal.authority, *iss);
    }
    // ID tokens (typ JWT, aud = the client id) from the same issuer.
    let mut claims = valid_claims(&p);
    claims["aud"] = json!("palisade-web");
    let id_token = p.sign("RS256", json!({"typ": "JWT"}), claims);
    assert_eq!(v.verify(&id_token).await.unwrap().kind, TokenKind::Id);
    // One fetch (discovery with its key set) served all of them.
    assert_eq!(v.key_fetches(&p.issuer), 1);
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused_with_its_reason() {
    let p = OidcProvider::shared();
    let v = verifier(vec![issuer_config(&p)]);
    let good = p.token("svc-bob", None);
    v.verify(&good).await.unwrap();
    let [h, c, s]: [String; 3] = parts(&good).try_into().unwrap();

    // alg: none, with the real claims.
    let none = format!("{}.{c}.", b64(br#"{"alg":"none","typ":"at+jwt"}"#));
    assert_eq!(v.verify(&none).await.unwrap_err(), Rejection::AlgNone);

    // HS256 keyed with the issuer's published public key (the classic confusion attack).
    let jwks: Value = openidconnect::reqwest::Client::new()
        .get(format!("{}/jwks", p.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let input = format!("{}.{c}", b64(br#"{"alg":"HS256","typ":"at+jwt"}"#));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
    mac.update(input.as_bytes());
    let hs = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
    assert_eq!(
        v.verify(&hs).await.unwrap_err(),
        Rejection::HmacAlgorithm("HS256".into())
    );

    // Tampered claims under the original signature; tampered signature.
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&c)
            .unwrap(),
    )
    .unwrap();
    claims["groups"] = json!(["admins"]);
    let forged = format!("{h}.{}.{s}", b64(&serde_json::to_vec(&claims).unwrap()));
    assert!(matches!(
        v.verify(&forged).await,
        Err(Rejection::BadSignature(_))
    ));
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&s)
        .unwrap();
    sig[10] ^= 1;
    let flipped = format!("{h}.{c}.{}", b64(&sig));
    assert!(matches!(
        v.verify(&flipped).await,
        Err(Rejection::BadSignature(_))
    ));

    // Audience of another resource server.
    let other = p.token("svc-bob", Some("urn:other"));
    assert!(matches!(
        v.verify(&other).await,
        Err(Rejection::WrongAudience(_))
    ));

    // Not yet valid, issued in the future (beyond the 30 s leeway); within the leeway is fine.
    let mut claims = valid_claims(&p);
    claims["nbf"] = json!(now() + 600);
    let t = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(matches!(v.verify(&t).await, Err(Rejection::NotYetValid(_))));
    let mut claims = valid_claims(&p);
    claims["iat"] = json!(now() + 600);
    claims["exp"] = json!(now() + 900);
    let t = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(matches!(
        v.verify(&t).await,
        Err(Rejection::IssuedInFuture(_))
    ));
    let mut claims = valid_claims(&p);
    claims["nbf"] = json!(now() + 5);
    let t = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    v.verify(&t).await.unwrap();

    // Expired long ago, and just now with no leeway (the provider's 1 s tokens).
    let mut claims = valid_claims(&p);
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    let t = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(matches!(v.verify(&t).await, Err(Rejection::Expired(_))));
    let strict = verifier(vec![IssuerConfig {
        leeway_seconds: 0,
        ..issuer_config(&p)
    }]);
    // The key set first, so that the 1 s token is checked as soon as it is
    // issued, however slow the machine.
    strict
        .verify(&p.sign("RS256", json!({"typ": "at+jwt"}), valid_claims(&p)))
        .await
        .unwrap();
    let short = p.token("svc-short", None);
    strict.verify(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        strict.verify(&short).await,
        Err(Rejection::Expired(_))
    ));

    // An issuer nobody configured (a second, real provider) and a made-up one.
    let stranger = OidcProvider::own();
    let t = stranger.token("svc-alice", None);
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        Rejection::UnknownIssuer(stranger.issuer.clone())
    );
    // The stranger's key, claiming to be our issuer.
    let both = verifier(vec![
        issuer_config(&p),
        IssuerConfig {
            issuer: stranger.issuer.clone(),
            ..issuer_config(&p)
        },
    ]);
    both.verify(&stranger.token("svc-bob", None)).await.unwrap();
    let mut claims = valid_claims(&p);
    claims["iss"] = json!(p.issuer);
    let t = stranger.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(
        matches!(both.verify(&t).await, Err(Rejection::WrongIssuer(_))),
        "{:?}",
        both.verify(&t).await
    );

    // ES256 where the issuer allows RS256 only.
    let rs_only = verifier(vec![IssuerConfig {
        algorithms: vec!["RS256".into()],
        ..issuer_config(&p)
    }]);
    let es = p.token("svc-bob", Some("urn:palisade:es256"));
    assert!(matches!(
        rs_only.verify(&es).await,
        Err(Rejection::DisallowedAlgorithm { .. })
    ));

    // Access tokens where only ID tokens are accepted.
    let id_only = verifier(vec![IssuerConfig {
        token_types: vec![TokenKind::Id],
        ..issuer_config(&p)
    }]);
    assert!(matches!(
        id_only.verify(&good).await,
        Err(Rejection::UnsupportedType(_))
    ));

    // Oversized: refused before parsing, even when properly signed.
    let mut claims = valid_claims(&p);
    claims["padding"] = json!("x".repeat(10_000));
    let big = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(matches!(
        v.verify(&big).await,
        Err(Rejection::Oversized { max: 8192, .. })
    ));
    assert_eq!(v.verify("  ").await.unwrap_err(), Rejection::Missing);
    assert!(matches!(
        v.verify("abc").await,
        Err(Rejection::Malformed(_))
    ));

    // The principal id claim must be there.
    let mut claims = valid_claims(&p);
    claims.as_object_mut().unwrap().remove("sub");
    let t = p.sign("RS256", json!({"typ": "at+jwt"}), claims);
    assert!(
        matches!(v.verify(&t).await, Err(Rejection::Malformed(_))),
        "{:?}",
        v.verify(&t).await
    );
}

#[tokio::test]
async fn signing_keys_rotate_while_the_verifier_runs() {
    let p = OidcProvider::own();
    let v = verifier(vec![IssuerConfig {
        jwks_min_refresh_seconds: 1,
        ..issuer_config(&p)
    }]);
    let before = p.token("svc-alice", None);
    v.verify(&before).await.unwrap();
    assert_eq!(v.key_fetches(&p.issuer), 1);

    // The provider rolls to a new key and keeps publishing the old one.
    let kids = p.rotate(false);
    assert_eq!(kids.len(), 4);
    let after = p.token("svc-alice", None);
    assert_ne!(parts(&after)[0], parts(&before)[0], "new kid in the header");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&after).await.unwrap();
    assert_eq!(
        v.key_fetches(&p.issuer),
        2,
        "the unknown kid fetched the key set once"
    );
    v.verify(&before).await.unwrap();

    // The old keys are retired: once the verifier has fetched the new set,
    // tokens signed with them are refused.
    p.rotate(true);
    let latest = p.token("svc-alice", None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&latest).await.unwrap();
    assert_eq!(v.key_fetches(&p.issuer), 3);
    assert!(matches!(
        v.verify(&before).await,
        Err(Rejection::UnknownKey { .. })
    ));
    // Verified (and remembered) under the previous key set: forgotten with it.
    assert!(matches!(
        v.verify(&after).await,
        Err(Rejection::UnknownKey { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_key_ids_fetches_the_key_set_at_most_once() {
    let p = OidcProvider::shared();
    let v = verifier(vec![issuer_config(&p)]);
    v.verify(&p.token("svc-bob", None)).await.unwrap();
    let fetched = v.key_fetches(&p.issuer);
    let mut tokens = Vec::new();
    for i in 0..40 {
        tokens.push(p.sign(
            "RS256",
            json!({"typ": "at+jwt", "kid": format!("bogus-{i}")}),
            valid_claims(&p),
        ));
    }
    // All at once: one fetch at a time, and no more than one per interval.
    let v = std::sync::Arc::new(v);
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let v = v.clone();
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(matches!(r, Err(Rejection::UnknownKey { .. })), "{r:?}");
    }
    assert!(v.key_fetches(&p.issuer) <= fetched + 1);
}

#[tokio::test]
async fn an_unreachable_issuer_fails_closed() {
    let issuer = format!("http://127.0.0.1:{}", palisade_testkit::closed_port());
    let (v, t) = verifier_and_token_for(&issuer);
    assert!(matches!(
        v.verify(&t).await,
        Err(Rejection::IssuerUnavailable { .. })
    ));
    assert!(matches!(
        v.verify(&t).await,
        Err(Rejection::IssuerUnavailable { .. })
    ));
    assert_eq!(
        v.key_fetches(&issuer),
        1,
        "the second attempt was rate-limited"
    );
}

#[tokio::test]
async fn audiences_required_claims_and_key_types_are_checked() {
    let p = OidcProvider::shared();
    let v = verifier(vec![IssuerConfig {
        token_types: vec![TokenKind::Access, TokenKind::Id],
        ..issuer_config(&p)
    }]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = valid_claims(&p);
        f(&mut c);
        c
    };
    // An access token for us and another resource is ours (RFC 9068); an
    // ID token naming an audience we do not trust is not (OIDC Core 3.1.3.7).
    let both = with(&|c| c["aud"] = json!([AUD, "urn:other"]));
    let at = p.sign("RS256", json!({"typ": "at+jwt"}), both.clone());
    v.verify(&at).await.unwrap();
    let id = p.sign("RS256", json!({"typ": "JWT"}), both);
    assert!(matches!(
        v.verify(&id).await,
        Err(Rejection::WrongAudience(_))
    ));
    let ours = p.sign(
        "RS256",
        json!({"typ": "JWT"}),
        with(&|c| c["aud"] = json!([AUD, "palisade-web"])),
    );
    assert_eq!(v.verify(&ours).await.unwrap().kind, TokenKind::Id);
    let none = p.sign(
        "RS256",
        json!({"typ": "at+jwt"}),
        with(&|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
    );
    assert!(matches!(
        v.verify(&none).await,
        Err(Rejection::WrongAudience(_))
    ));

    // exp and iat are required, and times are numbers.
    for claim in ["exp", "iat"] {
        let t = p.sign(
            "RS256",
            json!({"typ": "at+jwt"}),
            with(&|c| {
                c.as_object_mut().unwrap().remove(claim);
            }),
        );
        assert!(
            matches!(v.verify(&t).await, Err(Rejection::Malformed(ref m)) if m.contains(claim)),
            "{claim}: {:?}",
            v.verify(&t).await
        );
    }
    let t = p.sign(
        "RS256",
        json!({"typ": "at+jwt"}),
        with(&|c| c["exp"] = json!("tomorrow")),
    );
    assert!(matches!(v.verify(&t).await, Err(Rejection::Malformed(_))));
    // Fractional NumericDates are valid (RFC 7519 2).
    let t = p.sign(
        "RS256",
        json!({"typ": "at+jwt"}),
        with(&|c| c["exp"] = json!(now() as f64 + 300.5)),
    );
    v.verify(&t).await.unwrap();

    // Extensions the verifier would have to understand are refused.
    let t = p.sign(
        "RS256",
        json!({"typ": "at+jwt", "crit": ["b64"], "b64": false}),
        valid_claims(&p),
    );
    assert!(matches!(
        v.verify(&t).await,
        Err(Rejection::UnsupportedType(_))
    ));

    // An ES256 signature naming the RSA key's id: that key cannot have made it.
    let rsa_kid = {
        let [h, ..]: [String; 3] = parts(&p.token("svc-bob", None)).try_into().unwrap();
        let h: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let t = p.sign(
        "ES256",
        json!({"typ": "at+jwt", "kid": rsa_kid}),
        valid_claims(&p),
    );
    assert!(
        matches!(v.verify(&t).await, Err(Rejection::BadSignature(ref m)) if m.contains("not a key for")),
        "{:?}",
        v.verify(&t).await
    );
}

/// An issuer whose discovery document is valid but whose key set never ends
/// (no length, streamed until the connection closes): the verifier stops
/// reading at its bound and refuses, naming the reason.
#[tokio::test]
async fn an_oversized_key_set_is_refused_without_reading_it_all() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent_by_server = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let discovery = discovery.clone();
            let sent = sent_by_server.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let n = conn.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]).to_string();
                if head.starts_with("GET /.well-known/openid-configuration") {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{discovery}",
                        discovery.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                } else {
                    // A key set of 64 MiB, if anyone read it all.
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              connection: close\r\n\r\n{\"keys\":[",
                        )
                        .await;
                    let padding = vec![b' '; 64 * 1024];
                    for _ in 0..1024 {
                        if conn.write_all(&padding).await.is_err() {
                            break;
                        }
                        sent.fetch_add(padding.len(), std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });

    let (v, t) = verifier_and_token_for(&issuer);
    match v.verify(&t).await {
        Err(Rejection::IssuerUnavailable { reason, .. }) => assert!(
            reason.contains("larger than 1048576 bytes"),
            "unexpected reason: {reason}"
        ),
        other => panic!("an oversized key set must be refused, got {other:?}"),
    }
    assert!(
        sent.load(std::sync::atomic::Ordering::SeqCst) < 16 * 1024 * 1024,
        "the verifier kept reading the key set after its bound"
    );
}
