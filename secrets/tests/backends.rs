//! The `SecretStore` contract against every backend, each a real server:
//! the local encrypted file, OpenBao (dev server, KV v2 + Transit) and AWS
//! Secrets Manager (moto), plus the failure modes a user meets.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use palisade_secrets::{
    open, open_key_wrapper, open_sealed, seal, AwsOptions, AwsSecretsManager, LocalFileStore,
    LocalKek, MasterKey, OpenOptions, SecretStore, SecretsError, TransitKek, VaultOptions,
};
use zeroize::Zeroizing;

/// What every backend must do. `prefix` keeps runs apart on shared servers.
async fn contract(store: &dyn SecretStore, prefix: &str) {
    let name = format!("{prefix}/db/password");
    let other = format!("{prefix}/api/token");
    let missing = store.get(&name, None).await.unwrap_err();
    assert!(
        matches!(missing, SecretsError::NotFound { .. }),
        "{missing}"
    );

    let v1 = store.put(&name, "first".into()).await.unwrap();
    let v2 = store
        .put(&name, b"second\x00\xff".as_slice().into())
        .await
        .unwrap();
    assert_ne!(v1, v2, "each put is a new version");
    store.put(&other, "t".into()).await.unwrap();

    let latest = store.get(&name, None).await.unwrap();
    assert_eq!(
        latest.value.expose(),
        b"second\x00\xff",
        "binary values round-trip"
    );
    assert_eq!(latest.version, v2);
    let old = store.get(&name, Some(&v1)).await.unwrap();
    assert_eq!(old.value.expose(), b"first");

    assert_eq!(
        store.list(&format!("{prefix}/")).await.unwrap(),
        [other.clone(), name.clone()]
    );
    assert_eq!(
        store.list(&format!("{prefix}/db")).await.unwrap(),
        std::slice::from_ref(&name)
    );

    store.delete(&name).await.unwrap();
    assert!(matches!(
        store.get(&name, None).await,
        Err(SecretsError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&name).await,
        Err(SecretsError::NotFound { .. })
    ));
    assert_eq!(
        store.list(&format!("{prefix}/")).await.unwrap(),
        std::slice::from_ref(&other)
    );

    // Bad names are refused before anything is sent.
    assert!(matches!(
        store.put("../escape", "x".into()).await,
        Err(SecretsError::InvalidName { .. })
    ));
    // Debug output of a secret never shows the value.
    let s = store.get(&other, None).await.unwrap();
    assert!(!format!("{s:?}").contains("\"t\""));
    store.delete(&other).await.unwrap();
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

#[tokio::test]
async fn local_store_contract_and_file_properties() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let key = MasterKey::generate();
    let store = LocalFileStore::open(&path, key.clone()).unwrap();
    contract(&store, "t").await;

    store
        .put("ca/root", "TOP-SECRET-VALUE".into())
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the store file is private");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("TOP-SECRET"), "values are encrypted at rest");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");

    // Versions are never reused, even after a delete.
    store.delete("ca/root").await.unwrap();
    let v = store.put("ca/root", "again".into()).await.unwrap();
    assert_eq!(v, "2");

    // A second handle (another process would do the same) sees the data.
    let again = LocalFileStore::open(&path, key).unwrap();
    assert_eq!(
        again.get("ca/root", None).await.unwrap().value.expose(),
        b"again"
    );
}

#[tokio::test]
async fn local_store_wrong_key_and_corruption_are_clear_errors_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let store = LocalFileStore::open(&path, MasterKey::generate()).unwrap();
    store.put("a", "value".into()).await.unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = LocalFileStore::open(&path, MasterKey::generate()).unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey(_)), "{err}");
    assert!(err.to_string().contains("master key"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");

    std::fs::write(&path, b"{not json").unwrap();
    let err = LocalFileStore::open(&path, MasterKey::generate()).unwrap_err();
    assert!(matches!(err, SecretsError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn local_store_concurrent_writers_get_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(LocalFileStore::open(dir.path().join("s.json"), MasterKey::generate()).unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.put("k", format!("v{i}").as_str().into()).await.unwrap() })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().parse::<u64>().unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=16).collect::<Vec<_>>());
}

#[tokio::test]
async fn url_selection_and_master_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("local:{}", dir.path().join("s.json").display());
    let opts = OpenOptions {
        master_key_file: Some(dir.path().join("master.key")),
        ..Default::default()
    };
    let store = open(&url, &opts).await.unwrap();
    store.put("x", "1".into()).await.unwrap();
    let mode = std::fs::metadata(dir.path().join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Reopening with the same key file reads the value back.
    let store = open(&url, &opts).await.unwrap();
    assert_eq!(store.get("x", None).await.unwrap().value.expose(), b"1");

    for bad in ["ftp://x", "local:", "aws-sm://", "openbao+http:///secret"] {
        let err = open(bad, &opts).await.unwrap_err();
        assert!(
            matches!(err, SecretsError::InvalidUrl { .. }),
            "{bad}: {err}"
        );
    }
}

fn bao() -> (String, String) {
    let env = support::service("openbao");
    (env["OPENBAO_ADDR"].clone(), env["OPENBAO_TOKEN"].clone())
}

#[tokio::test]
async fn openbao_kv_v2_contract() {
    let (addr, token) = bao();
    let url = format!("openbao+{addr}/secret");
    let opts = OpenOptions {
        vault_token: Some(Zeroizing::new(token)),
        ..Default::default()
    };
    let store = open(&url, &opts).await.unwrap();
    contract(store.as_ref(), &unique("kv")).await;
}

#[tokio::test]
async fn openbao_errors_are_clear() {
    let (addr, _token) = bao();
    // Wrong token: the server's refusal, named.
    let store =
        palisade_secrets::VaultKv::new(&VaultOptions::new(&addr, "wrong-token"), "secret").unwrap();
    let err = store.get("a", None).await.unwrap_err();
    assert!(matches!(err, SecretsError::Backend { .. }), "{err}");
    assert!(err.to_string().contains("403"), "{err}");
    // Unreachable server.
    let dead = format!("http://127.0.0.1:{}", support::closed_port());
    let store = palisade_secrets::VaultKv::new(&VaultOptions::new(&dead, "t"), "secret").unwrap();
    let err = store.put("a", "v".into()).await.unwrap_err();
    assert!(matches!(err, SecretsError::Backend { .. }), "{err}");
    assert!(err.to_string().contains(&dead), "{err}");
}

#[tokio::test]
async fn openbao_transit_envelope_encryption() {
    let (addr, token) = bao();
    let opts = VaultOptions::new(&addr, token.as_str());
    let key_name = unique("kek");
    let kek = TransitKek::connect(&opts, "transit", &key_name)
        .await
        .unwrap();
    let blob = seal(&kek, b"-----BEGIN PRIVATE KEY-----", "ca/intermediate")
        .await
        .unwrap();
    assert!(blob.kek.starts_with("transit:"), "{}", blob.kek);
    let wrapped = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &blob.wrapped_key,
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        wrapped.starts_with("vault:v1:"),
        "the data key is wrapped by Transit"
    );
    let plain = open_sealed(&kek, &blob, "ca/intermediate").await.unwrap();
    assert_eq!(&plain[..], b"-----BEGIN PRIVATE KEY-----");

    // Another Transit key cannot unwrap it; neither can a local KEK.
    let other = TransitKek::connect(&opts, "transit", &unique("other"))
        .await
        .unwrap();
    let err = open_sealed(&other, &blob, "ca/intermediate")
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey(_)), "{err}");
    let local = LocalKek::new(&MasterKey::generate());
    assert!(open_sealed(&local, &blob, "ca/intermediate").await.is_err());

    // By URL.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("transit+{addr}/transit/{key_name}");
    let kek2 = open_key_wrapper(
        &url,
        &OpenOptions {
            vault_token: Some(Zeroizing::new(token)),
            ..Default::default()
        },
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(
        &open_sealed(kek2.as_ref(), &blob, "ca/intermediate")
            .await
            .unwrap()[..],
        b"-----BEGIN PRIVATE KEY-----"
    );
}

fn moto_options() -> AwsOptions {
    let env = support::service("moto");
    AwsOptions {
        region: "us-east-1".into(),
        endpoint: Some(env["MOTO_ENDPOINT"].clone()),
        prefix: "palisade-test/".into(),
        credentials: Some(("test".into(), Zeroizing::new("test".into()))),
        timeout: None,
    }
}

#[tokio::test]
async fn aws_secrets_manager_contract() {
    let store = AwsSecretsManager::connect(&moto_options()).await.unwrap();
    contract(&store, &unique("sm")).await;
}

#[tokio::test]
async fn aws_secrets_manager_unreachable_is_a_clear_error() {
    let opts = AwsOptions {
        endpoint: Some(format!("http://127.0.0.1:{}", support::closed_port())),
        ..moto_options()
    };
    let store = AwsSecretsManager::connect(&opts).await.unwrap();
    let err = store.get("a", None).await.unwrap_err();
    assert!(matches!(err, SecretsError::Backend { .. }), "{err}");
}
