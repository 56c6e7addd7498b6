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

/// The repository root (this file is used by the scanner's tests and by the binary's CLI tests).
pub fn repo_root() -> PathBuf {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !p.join("scripts/testdata").is_dir() {
        assert!(
            p.pop(),
            "repository root not found above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    p
}

pub fn fixtures_dir() -> PathBuf {
    let root = repo_root();
    let p = root.join("scanner/tests/fixtures/trivy-db");
    assert!(p.is_dir(), "Trivy fixtures not found in {}", p.display());
    p
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
    let root = repo_root();
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

/// The cached real Debian test image (built by scripts/testdata/scanner-image.sh on first use).
pub fn test_image() -> BTreeMap<String, String> {
    static ONCE: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| run_script("scripts/testdata/scanner-image.sh", &[]))
        .clone()
}

/// One installed Debian package as `dpkg-query` (the oracle) reports it.
#[derive(Debug, Clone)]
pub struct DebPkg {
    pub name: String,
    pub version: String,
    pub src: String,
    pub src_version: String,
}

/// The image's packages according to dpkg itself.
pub fn dpkg_query(rootfs: &str) -> Vec<DebPkg> {
    let out = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={rootfs}/var/lib/dpkg"))
        .args([
            "-W",
            "-f",
            "${Package}\t${Version}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n",
        ])
        .output()
        .expect("dpkg-query is required");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.ends_with("ii "))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            DebPkg {
                name: f[0].into(),
                version: f[1].into(),
                src: f[2].into(),
                src_version: f[3].into(),
            }
        })
        .collect()
}

/// The scanner's test database: Trivy's fixtures plus advisories for packages really in the Debian image.
pub fn image_db(dir: &Path, pkgs: &[DebPkg]) -> PathBuf {
    let path = write_db(dir, &image_db_spec(pkgs));
    // `palisade bench scan` can use the same database: PALISADE_KEEP_TEST_DB=DIR keeps a copy.
    if let Some(keep) = std::env::var_os("PALISADE_KEEP_TEST_DB") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&path, keep.join("trivy.db")).unwrap();
        std::fs::copy(dir.join("metadata.json"), keep.join("metadata.json")).unwrap();
    }
    path
}

/// Writes `spec` as `dir/trivy.db` with its `metadata.json`, as `palisade db update` leaves them.
pub fn write_db(dir: &Path, spec: &DbSpec) -> PathBuf {
    let path = dir.join("trivy.db");
    spec.write(&path);
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"Version":2,"NextUpdate":"2099-01-01T00:00:00Z","UpdatedAt":"2099-01-01T00:00:00Z","DownloadedAt":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    path
}

/// The contents of [`image_db`].
pub fn image_db_spec(pkgs: &[DebPkg]) -> DbSpec {
    use serde_json::json;
    let zlib = pkgs
        .iter()
        .find(|p| p.src == "zlib")
        .expect("zlib in the image");
    let mut spec = DbSpec::from_fixtures();
    let d = "debian 12";
    spec.put(&["data-source"], d, json!({"ID": "debian", "Name": "Debian Security Tracker", "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"}));
    // glibc: fixed upstream in 2.37 (vulnerable), and an old fix (not vulnerable); package-specific LOW severity.
    spec.put(
        &[d, "glibc"],
        "CVE-2099-1001",
        json!({"FixedVersion": "2.37-1", "Severity": 1.0, "VendorIDs": ["DSA-9999-1"]}),
    );
    spec.put(
        &[d, "glibc"],
        "CVE-2010-1002",
        json!({"FixedVersion": "2.28-1"}),
    );
    // util-linux: no fix, will_not_fix; every binary package of the source is affected.
    spec.put(&[d, "util-linux"], "CVE-2099-1003", json!({"Status": 5}));
    // libcap2: epochs: 1:2.67-1 is newer than 1:2.66-4..., 2.70-1 (epoch 0) is older.
    spec.put(
        &[d, "libcap2"],
        "CVE-2099-1004",
        json!({"FixedVersion": "1:2.67-1", "Status": 3.0}),
    );
    spec.put(
        &[d, "libcap2"],
        "CVE-2099-1005",
        json!({"FixedVersion": "2.70-1"}),
    );
    // zlib: a ~ suffix sorts before the installed version, a + suffix after it.
    spec.put(
        &[d, "zlib"],
        "CVE-2099-1006",
        json!({"FixedVersion": format!("{}~bpo12+1", zlib.src_version)}),
    );
    spec.put(
        &[d, "zlib"],
        "CVE-2099-1007",
        json!({"FixedVersion": format!("{}+deb12u99", zlib.src_version)}),
    );
    // bash: not affected: never reported.
    spec.put(&[d, "bash"], "CVE-2099-1008", json!({"Status": 1}));
    spec.put(&["vulnerability"], "CVE-2099-1001", json!({"Title": "glibc: test overflow", "VendorSeverity": {"nvd": 4, "debian": 3}, "CVSS": {"nvd": {"V3Score": 9.8, "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}, "References": ["https://example.org/glibc"], "CweIDs": ["CWE-787"]}));
    spec.put(
        &["vulnerability"],
        "CVE-2099-1003",
        json!({"Title": "util-linux: test", "VendorSeverity": {"debian": 2.0, "nvd": 3.0}}),
    );
    spec.put(
        &["vulnerability"],
        "CVE-2099-1004",
        json!({"Title": "libcap2: test", "VendorSeverity": {"nvd": 3}}),
    );
    spec.put(
        &["vulnerability"],
        "CVE-2099-1007",
        json!({"Title": "zlib: test", "Severity": "CRITICAL", "VendorSeverity": null}),
    );
    spec
}

/// (id, package, installed, fixed, status, severity, severity source, layer index or None, path)
pub type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<usize>,
    String,
);

/// The exact findings expected in the Debian image, derived from dpkg's own view of the packages.
pub fn expected_os_rows(pkgs: &[DebPkg], layer: Option<usize>) -> Vec<Row> {
    let zlib = pkgs.iter().find(|p| p.src == "zlib").unwrap();
    let mut rows = Vec::new();
    for p in pkgs {
        let r = |id: &str, fixed: String, status: &str, sev: &str, src: &str| -> Row {
            (
                id.into(),
                p.name.clone(),
                p.version.clone(),
                fixed,
                status.into(),
                sev.into(),
                src.into(),
                layer,
                String::new(),
            )
        };
        match p.src.as_str() {
            "glibc" => rows.push(r(
                "CVE-2099-1001",
                "2.37-1".into(),
                "fixed",
                "LOW",
                "debian",
            )),
            "util-linux" => rows.push(r(
                "CVE-2099-1003",
                String::new(),
                "will_not_fix",
                "MEDIUM",
                "debian",
            )),
            "libcap2" => rows.push(r(
                "CVE-2099-1004",
                "1:2.67-1".into(),
                "fixed",
                "HIGH",
                "nvd",
            )),
            "zlib" => rows.push(r(
                "CVE-2099-1007",
                format!("{}+deb12u99", zlib.src_version),
                "fixed",
                "CRITICAL",
                "",
            )),
            _ => {}
        }
    }
    rows.sort();
    rows
}

pub fn rows(findings: &[palisade_scanner::Finding]) -> Vec<Row> {
    let mut v: Vec<Row> = findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.pkg_name.clone(),
                f.installed_version.clone(),
                f.fixed_version.clone(),
                f.status.0.as_str().to_string(),
                f.severity.0.as_str().to_string(),
                f.severity_source.clone(),
                f.layer.as_ref().map(|l| l.index),
                f.pkg_path.clone(),
            )
        })
        .collect();
    v.sort();
    v
}
