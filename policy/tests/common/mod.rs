//! A decision API wired in-process over the example bundle.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade_policy::decision_log::{AuditKeys, DecisionLog, DecisionLogConfig};
use palisade_policy::{
    AdminGuard, AuthzenMapping, DecisionLimits, DecisionPoint, HttpOptions, OnEvaluationError,
    PolicyMetrics, PolicyStore,
};
use tower::ServiceExt;

pub fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies")
}

pub struct Api {
    pub router: axum::Router,
    pub pdp: Arc<DecisionPoint>,
    _dir: tempfile::TempDir,
}

pub async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = palisade_store::open(&url).await.unwrap();
    let metrics = PolicyMetrics::new();
    let policies = Arc::new(
        PolicyStore::open(
            &example_dir(),
            store.clone(),
            metrics.clone(),
            OnEvaluationError::Deny,
        )
        .await
        .unwrap(),
    );
    let keys = Arc::new(AuditKeys::load_or_create(dir.path()).unwrap());
    let log = Arc::new(
        DecisionLog::start(store, keys, &DecisionLogConfig::default(), metrics.clone())
            .await
            .unwrap(),
    );
    let pdp = Arc::new(DecisionPoint::new(
        policies,
        log,
        metrics,
        AuthzenMapping::default(),
        DecisionLimits::default(),
    ));
    let router = palisade_policy::router(
        pdp.clone(),
        HttpOptions {
            max_body_bytes: 64 * 1024,
            // The static token is break-glass (identity and Cedar are
            // tested end to end with the binary).
            admin: Some(Arc::new(AdminGuard::new(
                Some(pdp.clone()),
                None,
                Some("test-token"),
            ))),
            public_url: "http://pdp.test".into(),
            ..Default::default()
        },
    );
    // The token-based endpoints, with an authenticator that accepts no
    // token (the real one is palisade-identity, tested end to end there).
    let router = router.merge(palisade_policy::token_router(
        pdp.clone(),
        Arc::new(RefuseAll),
        64 * 1024,
    ));
    Api {
        router,
        pdp,
        _dir: dir,
    }
}

/// Refuses every token.
#[derive(Debug)]
pub struct RefuseAll;

impl palisade_policy::TokenAuthenticator for RefuseAll {
    fn authenticate<'a>(
        &'a self,
        _token: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        palisade_policy::VerifiedPrincipal,
                        palisade_policy::Unauthenticated,
                    >,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async { Err(palisade_policy::Unauthenticated) })
    }
}

impl Api {
    pub async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes)
    }
}
