//! Layer digests are verified while the layers stream: a tampered copy of the real test image (one byte of a
//! file inside a layer changed) is refused with an error naming the layer, for a `docker save` archive (the
//! uncompressed layer against the config's diff_id) and for an OCI layout (the blob against the manifest).

mod support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use palisade_scanner::image::{Image, Platform};
use palisade_scanner::layers::Limits;

fn scan(path: &Path) -> Result<palisade_scanner::Inventory, palisade_scanner::ScanError> {
    Image::open_local(path, &Platform::default())?.inventory(&Limits::default(), &mut |_, _| {})
}

/// Offset (within `layer`, an uncompressed tar) of the first byte of the first non-empty regular file.
fn first_file_byte(layer: &[u8]) -> u64 {
    let mut ar = tar::Archive::new(layer);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Regular && e.size() > 0 {
            return e.raw_file_position();
        }
    }
    panic!("the layer has no regular file");
}

fn flip(b: &mut u8) {
    *b = if *b == b'x' { b'y' } else { b'x' };
}

#[test]
fn tampered_docker_archive_layer_is_refused_naming_the_layer() {
    let env = support::test_image();
    let original = PathBuf::from(&env["PALISADE_TEST_DOCKER_ARCHIVE"]);
    scan(&original).expect("the untampered archive scans");

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("docker.tar");
    std::fs::copy(&original, &copy).unwrap();
    // Where the second layer's tar lies inside the archive.
    let manifest: serde_json::Value = {
        let mut ar = tar::Archive::new(std::fs::File::open(&copy).unwrap());
        let mut m = ar
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
            .unwrap();
        let mut s = String::new();
        m.read_to_string(&mut s).unwrap();
        serde_json::from_str(&s).unwrap()
    };
    let layer_name = manifest[0]["Layers"][1].as_str().unwrap().to_string();
    let (pos, size) = {
        let mut ar = tar::Archive::new(std::fs::File::open(&copy).unwrap());
        let e = ar
            .entries_with_seek()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_str() == Some(layer_name.as_str()))
            .unwrap();
        (e.raw_file_position(), e.size())
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&copy)
        .unwrap();
    let mut layer = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(pos)).unwrap();
    f.read_exact(&mut layer).unwrap();
    let at = pos + first_file_byte(&layer);
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    flip(&mut b[0]);
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
    drop(f);

    let err = scan(&copy).unwrap_err().to_string();
    assert!(
        err.contains(&format!("layer 1 ({layer_name})")) && err.contains("diff_id"),
        "{err}"
    );
    assert!(err.contains("tampered"), "{err}");
}

#[test]
fn tampered_oci_layout_blob_is_refused_naming_the_layer() {
    let env = support::test_image();
    let original = PathBuf::from(&env["PALISADE_TEST_OCI"]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("oci");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&original)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    scan(&copy).expect("the untampered copy scans");

    let read_json = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&std::fs::read(copy.join("blobs/sha256").join(hex)).unwrap())
            .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
    let manifest = read_json(index["manifests"][0]["digest"].as_str().unwrap());
    let digest = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = copy
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    // A well-formed gzip of a well-formed tar, one byte of one file changed: only the digest tells.
    let mut layer = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&blob).unwrap())
        .read_to_end(&mut layer)
        .unwrap();
    let at = first_file_byte(&layer) as usize;
    flip(&mut layer[at]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&layer).unwrap();
    std::fs::write(&blob, gz.finish().unwrap()).unwrap();

    let err = scan(&copy).unwrap_err().to_string();
    let path = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
    assert!(
        err.contains(&format!("layer 1 ({path}) does not match the manifest")),
        "{err}"
    );
    assert!(err.contains(&digest), "{err}");

    // A truncated blob is refused the same way, not scanned as a shorter layer.
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    let err = scan(&copy).unwrap_err().to_string();
    assert!(err.contains("layer 1"), "{err}");
}
