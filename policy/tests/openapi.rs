//! The served OpenAPI document describes the API the server really has.
mod common;

use serde_json::Value;

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let api = common::api().await;
    let (status, body) = api.call("GET", "/openapi.json", vec![]).await;
    assert_eq!(status, 200);
    let spec: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 18, "{} paths", paths.len());
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let (status, _) = api.call(&method.to_uppercase(), path, b"{}".to_vec()).await;
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answers {status}"
            );
        }
    }
    // And an undocumented path is not routed.
    let (status, _) = api.call("POST", "/access/v1/nope", b"{}".to_vec()).await;
    assert_eq!(status, 404);
}
