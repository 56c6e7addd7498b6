//! The BoltDB reader against files written by `nut` (bbolt-compatible): Trivy's fixtures read back exactly,
//! large generated trees (branch pages, overflow pages, inline and nested buckets) round-trip, prefix seeks
//! find exactly the prefixed buckets, and corrupt or truncated files are errors, never panics.

mod support;

use std::collections::BTreeMap;

use palisade_scanner::vulndb::BoltFile;
use palisade_scanner::VulnDb;
use proptest::prelude::*;
use support::{read_back, DbSpec, Node};

#[test]
fn trivy_fixtures_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DbSpec::from_fixtures();
    let bytes = spec.write(&dir.path().join("trivy.db"));
    let file = BoltFile::new(bytes).unwrap();
    assert_eq!(read_back(&file).unwrap(), spec.root);

    let db = VulnDb::open(&dir.path().join("trivy.db")).unwrap();
    let names = db.bucket_names().unwrap();
    assert!(names.contains(&"debian 9".to_string()));
    // Prefix lookup merges every pip:: bucket.
    let werkzeug = db.advisories_by_prefix("pip::", "werkzeug").unwrap();
    let ids: Vec<_> = werkzeug.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["CVE-2019-14806", "CVE-2020-28724"]);
    assert_eq!(
        werkzeug[0].source_bucket,
        "pip::GitHub Security Advisory Pip"
    );
    assert_eq!(werkzeug[0].advisory.vulnerable_versions, vec!["< 0.15.3"]);
    // Red Hat's Entries form and the integer-as-float encoding.
    let bash = db.advisories("Red Hat", "bash").unwrap();
    assert_eq!(bash.len(), 1);
    assert_eq!(bash[0].advisory.entries[0].arches, vec!["x86_64"]);
    let deb = db.advisories("debian 9", "bash").unwrap();
    assert_eq!(deb[0].advisory.status, palisade_scanner::Status::EndOfLife);
    assert_eq!(deb[0].advisory.severity, palisade_scanner::Severity::Low);
    // Details and data sources.
    let v = db.vulnerability("CVE-2022-3715").unwrap().unwrap();
    assert_eq!(v.vendor_severity["nvd"], palisade_scanner::Severity::High);
    assert_eq!(db.data_source("debian 9").unwrap().unwrap().id, "debian");
    assert!(db.vulnerability("CVE-0000-0000").unwrap().is_none());
    assert!(db
        .advisories("debian 9", "no-such-package")
        .unwrap()
        .is_empty());
    assert!(db.advisories("no such bucket", "bash").unwrap().is_empty());
}

fn big_spec(buckets: usize, keys: usize, big_value: usize) -> DbSpec {
    let mut spec = DbSpec::default();
    for b in 0..buckets {
        let mut m = BTreeMap::new();
        for k in 0..keys {
            let v = if k % 97 == 0 {
                vec![b'x'; big_value]
            } else {
                format!("{{\"n\":{k}}}").into_bytes()
            };
            m.insert(format!("key-{k:06}").into_bytes(), Node::Value(v));
        }
        // a nested bucket small enough to be inline, and one that is not
        let mut small = BTreeMap::new();
        small.insert(b"a".to_vec(), Node::Value(b"1".to_vec()));
        m.insert(b"inline".to_vec(), Node::Bucket(small));
        let mut nested = BTreeMap::new();
        for k in 0..300 {
            nested.insert(format!("n{k:04}").into_bytes(), Node::Value(vec![b'y'; 40]));
        }
        m.insert(b"nested".to_vec(), Node::Bucket(nested));
        spec.root.insert(
            format!("{}::bucket {b:03}", ["pip", "npm", "go"][b % 3]).into_bytes(),
            Node::Bucket(m),
        );
    }
    spec
}

#[test]
fn large_trees_round_trip_and_prefix_seek() {
    let dir = tempfile::tempdir().unwrap();
    let spec = big_spec(60, 2000, 10_000);
    let bytes = spec.write(&dir.path().join("big.db"));
    assert!(
        bytes.len() > 4 << 20,
        "the test DB should span many pages ({} bytes)",
        bytes.len()
    );
    let file = BoltFile::new(bytes).unwrap();
    assert_eq!(read_back(&file).unwrap(), spec.root);
    let pip = file.prefixed(file.root(), b"pip::").unwrap();
    assert_eq!(pip.len(), 20);
    assert!(pip.iter().all(|(k, _)| k.starts_with(b"pip::")));
    // exact gets in a multi-level tree
    let b = file
        .bucket(file.root(), b"npm::bucket 004")
        .unwrap()
        .unwrap();
    match file.get(b, b"key-001941").unwrap().unwrap() {
        palisade_scanner::vulndb::Entry::Value(v) => assert_eq!(v, b"{\"n\":1941}"),
        _ => panic!("expected a value"),
    }
    assert!(file.get(b, b"key-999999").unwrap().is_none());
    assert!(file.get(b, b"").unwrap().is_none());
}

fn valid_db() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = DbSpec::from_fixtures();
    for (k, v) in big_spec(3, 400, 6000).root {
        spec.root.insert(k, v);
    }
    spec.write(&dir.path().join("t.db"))
}

fn exercise(bytes: Vec<u8>) {
    if let Ok(f) = BoltFile::new(bytes) {
        let _ = read_back(&f);
        let _ = f.prefixed(f.root(), b"pip::");
        let _ = f
            .bucket(f.root(), b"debian 9")
            .map(|b| b.map(|b| f.get(b, b"bash")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40)) {
        thread_local!(static DB: Vec<u8> = valid_db());
        let mut bytes = DB.with(|d| d.clone());
        let n = bytes.len();
        for (i, v) in flips {
            bytes[i.index(n)] = v;
        }
        exercise(bytes);
    }

    #[test]
    fn corrupted_page_headers_never_panic(page in 2usize..64, off in 0usize..32, v in any::<u8>()) {
        thread_local!(static DB: Vec<u8> = valid_db());
        let mut bytes = DB.with(|d| d.clone());
        let i = page * 4096 + off;
        if i < bytes.len() { bytes[i] = v; }
        exercise(bytes);
    }

    #[test]
    fn truncated_files_never_panic(cut in 0usize..200_000) {
        thread_local!(static DB: Vec<u8> = valid_db());
        let bytes = DB.with(|d| d[..cut.min(d.len())].to_vec());
        exercise(bytes);
    }

    #[test]
    fn random_files_are_errors(bytes in proptest::collection::vec(any::<u8>(), 0..20_000)) {
        prop_assert!(BoltFile::new(bytes).is_err());
    }
}

#[test]
fn meta_checksum_is_checked() {
    let mut bytes = valid_db();
    // Corrupt the txid of both metas without fixing the checksum: the file must be rejected.
    for page in [0usize, 4096] {
        bytes[page + 16 + 48] ^= 0xff;
    }
    let err = BoltFile::new(bytes).unwrap_err().to_string();
    assert!(err.contains("checksum"), "{err}");
}
