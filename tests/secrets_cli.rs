//! `palisade secrets` from the shell on the embedded default (the local
//! encrypted store): values go in through standard input and come out only
//! with `--reveal`; every change leaves its metadata (never the value) in
//! Palisade's store, where `list --long` reads it.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use common::*;

const VALUE: &str = "correct horse battery staple";

/// `palisade --data-dir DIR [--config FILE] secrets ARGS...` with `stdin`.
fn run_secrets(data_dir: &Path, config: Option<&Path>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = palisade();
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .arg("secrets")
        .args(args)
        .env("USER", "release-bot")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// [`run_secrets`] on the default configuration; asserts success.
fn secrets(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let out = run_secrets(data_dir, None, args, stdin);
    assert!(out.status.success(), "secrets {args:?}: {}", describe(&out));
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn values_stay_hidden_and_every_change_leaves_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let put = secrets(data, &["put", "db/password"], VALUE);
    assert_eq!(stdout(&put).trim(), "db/password\tversion 1");
    let put = secrets(data, &["put", "db/password"], &format!("{VALUE} 2"));
    assert_eq!(stdout(&put).trim(), "db/password\tversion 2");
    secrets(data, &["put", "api/key"], "k");

    // Shown without its value unless asked.
    let get = stdout(&secrets(data, &["get", "db/password"], ""));
    assert!(get.starts_with("db/password\tversion 2\t"), "{get}");
    assert!(!get.contains(VALUE), "{get}");
    let reveal = secrets(
        data,
        &["get", "db/password", "--version", "1", "--reveal"],
        "",
    );
    assert_eq!(reveal.stdout, VALUE.as_bytes());

    // The inventory: versions written, latest, when and by whom.
    let long = stdout(&secrets(data, &["list", "--long"], ""));
    let rows: Vec<Vec<&str>> = long.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["NAME", "VERSIONS", "LATEST", "UPDATED", "BY"]);
    assert_eq!(rows.len(), 3, "{long}");
    assert_eq!(rows[1][0], "api/key");
    assert_eq!(rows[2][0], "db/password");
    assert_eq!(rows[2][1..3], ["2", "2"]);
    assert!(rows[2][3].starts_with("20"), "an RFC 3339 time: {long}");
    assert_eq!(rows[2][4], "release-bot");

    secrets(data, &["delete", "api/key"], "");
    let names = stdout(&secrets(data, &["list"], ""));
    assert_eq!(names.trim(), "db/password");

    // The metadata is in the store; the value is nowhere in it.
    let db = std::fs::read(data.join("palisade.db")).unwrap();
    let wal = std::fs::read(data.join("palisade.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
            "a secret value reached the store"
        );
    }
    let url = format!("sqlite://{}", data.join("palisade.db").display());
    let events: Vec<(String, Option<String>, String)> =
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let rows = sqlx::query_as(
                    "SELECT name, version, operation FROM secret_events ORDER BY id",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                pool.close().await;
                rows
            });
    let expect =
        |n: &str, v: Option<&str>, op: &str| (n.to_owned(), v.map(str::to_owned), op.to_owned());
    assert_eq!(
        events,
        vec![
            expect("db/password", Some("1"), "put"),
            expect("db/password", Some("2"), "put"),
            expect("api/key", Some("1"), "put"),
            expect("api/key", None, "delete"),
        ]
    );
}

#[test]
fn a_change_is_refused_when_its_metadata_cannot_be_kept() {
    let dir = tempfile::tempdir().unwrap();
    // A store that cannot be opened: nothing is written to the backend.
    let config = dir.path().join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "store_url = \"postgres://palisade@127.0.0.1:{}/none\"\n",
            palisade_testkit::closed_port()
        ),
    )
    .unwrap();
    let out = run_secrets(dir.path(), Some(&config), &["put", "db/password"], VALUE);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(VALUE), "{err}");
    assert!(
        err.contains("postgres://"),
        "the error names the store: {err}"
    );
    let listed = secrets(dir.path(), &["list"], "");
    assert_eq!(stdout(&listed).trim(), "", "nothing was written");
}
