//! Against a real registry (Debian `docker-registry` on 127.0.0.1, started by scripts/services/docker-registry.sh):
//! the Debian test image pushed with `skopeo copy` and scanned by reference gives the same findings as the
//! archive; `db update` pulls a database pushed by the test as an OCI artifact (Trivy's media types), verifies it
//! and installs it atomically.

mod support;

use std::io::Write;

use palisade_scanner::image::{Reference, RegistryClient};
use palisade_scanner::scan::{scan, ScanOptions, Target};
use palisade_scanner::VulnDb;
use sha2::{Digest, Sha256};
use support::*;

struct Registry {
    addr: String,
    pid: String,
    dir: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_registry() -> Registry {
    let env = run_script("scripts/services/docker-registry.sh", &[]);
    Registry {
        addr: env["PALISADE_REGISTRY"].clone(),
        pid: env["PALISADE_REGISTRY_PID"].clone(),
        dir: env["PALISADE_REGISTRY_DIR"].clone(),
    }
}

fn push_blob(addr: &str, repo: &str, data: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let resp = ureq::post(&format!("http://{addr}/v2/{repo}/blobs/uploads/"))
        .call()
        .unwrap();
    let loc = resp.header("Location").unwrap().to_string();
    let url = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{addr}{loc}")
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{url}{sep}digest={digest}"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(data)
        .unwrap();
    digest
}

fn db_archive(db: &[u8], metadata: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        for (name, data) in [("trivy.db", db), ("metadata.json", metadata)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        b.finish().unwrap();
    }
    gz.flush().unwrap();
    gz.finish().unwrap()
}

#[test]
fn registry_pull_scan_and_db_update() {
    let reg = start_registry();
    let env = test_image();
    let pkgs = dpkg_query(&env["PALISADE_TEST_ROOTFS"]);
    let dir = tempfile::tempdir().unwrap();
    let db_path = image_db(dir.path(), &pkgs);

    // --- the image, pushed with skopeo and scanned by reference
    let image_ref = format!("{}/palisade/bookworm:test", reg.addr);
    let st = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:bookworm", env["PALISADE_TEST_OCI"]),
            &format!("docker://{image_ref}"),
        ])
        .status()
        .expect("skopeo (installed by scripts/testdata/scanner-image.sh)");
    assert!(st.success());
    let db = VulnDb::open(dir.path()).unwrap();
    let remote = scan(
        &db,
        &Target::Image(image_ref.clone()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let local = scan(
        &db,
        &Target::Image(env["PALISADE_TEST_OCI"].clone()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(rows(&remote.findings), rows(&local.findings));
    assert!(remote.findings.len() > 10);
    assert_eq!(
        remote.layers, local.layers,
        "same layer digests and diff ids"
    );
    // An unknown tag is a clear error.
    let err = scan(
        &db,
        &Target::Image(format!("{}/palisade/bookworm:nope", reg.addr)),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");

    // --- the database, pushed as Trivy publishes it
    let repo = "aquasecurity/trivy-db";
    let db_bytes = std::fs::read(&db_path).unwrap();
    let metadata =
        br#"{"Version":2,"NextUpdate":"2099-01-02T00:00:00Z","UpdatedAt":"2099-01-01T00:00:00Z"}"#;
    let layer = db_archive(&db_bytes, metadata);
    let layer_digest = push_blob(&reg.addr, repo, &layer);
    let config = b"{}";
    let config_digest = push_blob(&reg.addr, repo, config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.aquasec.trivy.config.v1+json",
        "config": {"mediaType": "application/vnd.aquasec.trivy.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": "db.tar.gz"}}]
    });
    ureq::put(&format!("http://{}/v2/{repo}/manifests/2", reg.addr))
        .set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send_string(&manifest.to_string())
        .unwrap();

    let target_dir = dir.path().join("installed");
    // An old database in place: the update replaces it.
    std::fs::create_dir_all(&target_dir).unwrap();
    std::fs::write(target_dir.join("trivy.db"), b"old").unwrap();
    let r: Reference = format!("{}/{repo}:2", reg.addr).parse().unwrap();
    let installed = palisade_scanner::vulndb::update::update(
        &RegistryClient::new(None, false),
        &r,
        &target_dir,
    )
    .unwrap();
    assert_eq!(installed.layer_digest, layer_digest);
    assert_eq!(installed.db_bytes, db_bytes.len() as u64);
    assert_eq!(
        std::fs::read(target_dir.join("trivy.db")).unwrap(),
        db_bytes
    );
    let fresh = VulnDb::open(&target_dir).unwrap();
    let m = fresh.metadata().unwrap();
    assert_eq!(m.updated_at, "2099-01-01T00:00:00Z");
    assert!(!m.downloaded_at.is_empty(), "DownloadedAt is stamped");
    assert_eq!(fresh.bucket_names().unwrap(), db.bucket_names().unwrap());
    // No temporary directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&target_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");

    // A corrupt database is refused and the installed one stays.
    let bad_layer = db_archive(b"not a bolt file at all", metadata);
    let bad_digest = push_blob(&reg.addr, repo, &bad_layer);
    let mut bad_manifest = manifest.clone();
    bad_manifest["layers"][0]["digest"] = bad_digest.into();
    bad_manifest["layers"][0]["size"] = bad_layer.len().into();
    ureq::put(&format!("http://{}/v2/{repo}/manifests/bad", reg.addr))
        .set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send_string(&bad_manifest.to_string())
        .unwrap();
    let r: Reference = format!("{}/{repo}:bad", reg.addr).parse().unwrap();
    let err = palisade_scanner::vulndb::update::update(
        &RegistryClient::new(None, false),
        &r,
        &target_dir,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("corrupt") || err.to_string().contains("magic"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(target_dir.join("trivy.db")).unwrap(),
        db_bytes
    );
}
