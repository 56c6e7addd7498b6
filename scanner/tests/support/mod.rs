//! Test support: building Trivy-format BoltDB files with `nut` (a bbolt-compatible writer) from Trivy's own
//! fixtures, and running the project's service/test-data scripts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A bucket tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Bucket(BTreeMap<Vec<u8>, Node>),
    Value(Vec<u8>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbSpec {
    pub root: BTreeMap<Vec<u8>, Node>,
}

fn merge_pairs(map: &mut BTreeMap<Vec<u8>, Node>, pairs: &serde_yaml::Value) {
    let Some(seq) = pairs.as_sequence() else {
        return;
    };
    for p in seq {
        if let Some(b) = p.get("bucket") {
            let name = yaml_key(b);
            let entry = map
                .entry(name)
                .or_insert_with(|| Node::Bucket(BTreeMap::new()));
            if let Node::Bucket(inner) = entry {
                if let Some(ps) = p.get("pairs") {
                    merge_pairs(inner, ps);
                }
            }
        } else if let Some(k) = p.get("key") {
            let v = p.get("value").cloned().unwrap_or(serde_yaml::Value::Null);
            let json =
                serde_json::to_vec(&serde_json::to_value(&v).expect("yaml to json")).unwrap();
            map.insert(yaml_key(k), Node::Value(json));
        }
    }
}

fn yaml_key(v: &serde_yaml::Value) -> Vec<u8> {
    match v {
        serde_yaml::Value::String(s) => s.as_bytes().to_vec(),
        other => serde_yaml::to_string(other)
            .unwrap()
            .trim()
            .as_bytes()
            .to_vec(),
    }
}

pub fn fixtures_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for c in [
        "../shared/data/trivy-db-fixtures",
        "scanner/tests/fixtures/trivy-db",
    ] {
        let p = root.join(c);
        if p.is_dir() {
            return p;
        }
    }
    panic!("Trivy fixtures not found (../shared/data/trivy-db-fixtures or scanner/tests/fixtures/trivy-db)");
}

impl DbSpec {
    /// Every YAML fixture in Trivy's fixture directory, merged.
    pub fn from_fixtures() -> DbSpec {
        let mut spec = DbSpec::default();
        let mut files: Vec<_> = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let y: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            merge_pairs(&mut spec.root, &y);
        }
        spec
    }

    /// Puts `value` (JSON) at bucket path `buckets` / `key`.
    pub fn put(&mut self, buckets: &[&str], key: &str, value: serde_json::Value) {
        let mut m = &mut self.root;
        for b in buckets {
            let e = m
                .entry(b.as_bytes().to_vec())
                .or_insert_with(|| Node::Bucket(BTreeMap::new()));
            m = match e {
                Node::Bucket(inner) => inner,
                Node::Value(_) => panic!("{b} is a value"),
            };
        }
        m.insert(
            key.as_bytes().to_vec(),
            Node::Value(serde_json::to_vec(&value).unwrap()),
        );
    }

    /// Writes the database with nut and returns its bytes.
    pub fn write(&self, path: &Path) -> Vec<u8> {
        let _ = std::fs::remove_file(path);
        {
            let mut db = nut::DBBuilder::new(path).build().expect("nut open");
            let mut tx = db.begin_rw_tx().expect("rw tx");
            for (k, n) in &self.root {
                let Node::Bucket(inner) = n else {
                    panic!("top-level values are not allowed")
                };
                let mut b = tx.create_bucket_if_not_exists(k).expect("bucket");
                write_bucket(&mut b, inner);
            }
            tx.commit().expect("commit");
        }
        std::fs::read(path).unwrap()
    }
}

fn write_bucket(b: &mut nut::Bucket, m: &BTreeMap<Vec<u8>, Node>) {
    for (k, n) in m {
        match n {
            Node::Value(v) => b.put(k, v.clone()).expect("put"),
            Node::Bucket(inner) => {
                let sub = b.create_bucket_if_not_exists(k).expect("sub-bucket");
                write_bucket(sub, inner);
            }
        }
    }
}

/// Reads a whole database back through palisade's reader as a tree.
pub fn read_back(
    file: &palisade_scanner::vulndb::BoltFile<Vec<u8>>,
) -> Result<BTreeMap<Vec<u8>, Node>, palisade_scanner::DbError> {
    fn walk(
        f: &palisade_scanner::vulndb::BoltFile<Vec<u8>>,
        b: palisade_scanner::vulndb::Bucket<'_>,
        depth: usize,
    ) -> Result<BTreeMap<Vec<u8>, Node>, palisade_scanner::DbError> {
        let mut out = BTreeMap::new();
        if depth > 16 {
            return Ok(out);
        }
        for (k, e) in f.prefixed(b, b"")? {
            match e {
                palisade_scanner::vulndb::Entry::Value(v) => {
                    out.insert(k.to_vec(), Node::Value(v.to_vec()));
                }
                palisade_scanner::vulndb::Entry::Bucket(sub) => {
                    out.insert(k.to_vec(), Node::Bucket(walk(f, sub, depth + 1)?));
                }
            }
        }
        Ok(out)
    }
    walk(file, file.root(), 0)
}

/// Runs a project script and parses its `KEY=VALUE` lines. Panics (fails the test) with the script's stderr.
pub fn run_script(rel: &str, args: &[&str]) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join(rel))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {rel}: {e}"));
    assert!(
        out.status.success(),
        "{rel} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
