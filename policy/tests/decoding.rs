//! Property tests of request decoding: whatever the body, the API answers 200
//! or 400 with a JSON body and never panics; well-formed requests get the
//! same decision through AuthZEN, Cedar-native and the engine itself.
mod common;

use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z:\"_ ]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("User"),
            Just("Document"),
            Just("alice"),
            Just("read"),
            Just("User::\"alice\"")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("subject".to_string()),
                        Just("resource".to_string()),
                        Just("action".to_string()),
                        Just("context".to_string()),
                        Just("type".to_string()),
                        Just("id".to_string()),
                        Just("name".to_string()),
                        Just("properties".to_string()),
                        Just("evaluations".to_string()),
                        Just("options".to_string()),
                        Just("page".to_string()),
                        Just("principal".to_string()),
                        Just("entities".to_string()),
                        Just("requests".to_string()),
                        "[a-z_]{1,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const ENDPOINTS: [&str; 7] = [
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/access/v1/search/subject",
    "/access/v1/search/resource",
    "/access/v1/search/action",
    "/v1/is_authorized",
    "/v1/is_authorized/batch",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_json_body_is_answered_200_or_400(body in arb_json(), endpoint in 0..ENDPOINTS.len()) {
        let rt = runtime();
        rt.block_on(async {
            let api = common::api().await;
            let (status, bytes) = api.call("POST", ENDPOINTS[endpoint], body.to_string().into_bytes()).await;
            prop_assert!(status == 200 || status == 400, "{} answered {}", ENDPOINTS[endpoint], status);
            let v: Value = serde_json::from_slice(&bytes).expect("JSON body");
            if status == 400 {
                prop_assert!(v["error"]["message"].is_string());
            }
            Ok(())
        })?;
    }

    #[test]
    fn any_bytes_are_answered_200_or_400(body in prop::collection::vec(any::<u8>(), 0..512), endpoint in 0..ENDPOINTS.len()) {
        let rt = runtime();
        rt.block_on(async {
            let api = common::api().await;
            let (status, _) = api.call("POST", ENDPOINTS[endpoint], body).await;
            prop_assert!(status == 200 || status == 400);
            Ok(())
        })?;
    }

    #[test]
    fn authzen_cedar_and_engine_agree(
        who in prop_oneof![Just("alice"), Just("bob"), Just("carol"), Just("nobody")],
        what in prop_oneof![Just("read"), Just("write"), Just("delete"), Just("share")],
        on in prop_oneof![Just("roadmap"), Just("design"), Just("handbook"), Just("missing")],
        mfa in proptest::option::of(any::<bool>()),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let api = common::api().await;
            let context = match mfa { Some(m) => json!({ "mfa": m }), None => json!({}) };
            let authzen = json!({
                "subject": { "type": "User", "id": who },
                "action": { "name": what },
                "resource": { "type": "Document", "id": on },
                "context": context,
            });
            let (s1, b1) = api.call("POST", "/access/v1/evaluation", authzen.to_string().into_bytes()).await;
            let cedar = json!({
                "principal": format!("User::\"{who}\""),
                "action": { "type": "Action", "id": what },
                "resource": format!("Document::\"{on}\""),
                "context": context,
            });
            let (s2, b2) = api.call("POST", "/v1/is_authorized", cedar.to_string().into_bytes()).await;
            prop_assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
            let a: Value = serde_json::from_slice(&b1).unwrap();
            let c: Value = serde_json::from_slice(&b2).unwrap();
            let engine = api.pdp.policies().current().decide(&palisade_policy::DecisionRequest {
                principal: format!("User::\"{who}\"").parse().unwrap(),
                action: format!("Action::\"{what}\"").parse().unwrap(),
                resource: format!("Document::\"{on}\"").parse().unwrap(),
                context: Some(context.clone()),
                entities: None,
            });
            prop_assert_eq!(a["decision"].as_bool().unwrap(), engine.allowed);
            prop_assert_eq!(c["decision"] == "Allow", engine.allowed);
            prop_assert_eq!(&a["context"]["reasons"], &json!(engine.reasons));
            prop_assert_eq!(&c["diagnostics"]["reason"], &json!(engine.reasons));
            Ok(())
        })?;
    }
}
