//! `db update`: pull the database as an OCI artifact (as Trivy does), verify its digest, install atomically.

use std::io::Read;
use std::path::Path;

use super::{DbError, VulnDb};
use crate::image::{Reference, RegistryClient};

/// The media type of the database layer.
pub const DB_LAYER_MEDIA_TYPE: &str = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip";
const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.artifact.manifest.v1+json";
const MAX_DB_BYTES: u64 = 16 << 30;

/// What an update installed.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Manifest digest of the artifact.
    pub manifest_digest: String,
    /// Digest of the database layer.
    pub layer_digest: String,
    /// Size of `trivy.db`.
    pub db_bytes: u64,
}

/// Downloads `reference` into `dir` (creating it): `trivy.db` and `metadata.json` are written to a temporary
/// directory inside `dir`, checked (the BoltDB meta pages must validate), then renamed into place.
pub fn update(
    client: &RegistryClient,
    reference: &Reference,
    dir: &Path,
) -> Result<Installed, DbError> {
    let err = |m: String| DbError::Update(m);
    let (m, _, manifest_digest) = client
        .manifest(reference, &reference.reference, ACCEPT)
        .map_err(|e| err(e.to_string()))?;
    let layer = m
        .layers
        .iter()
        .find(|l| l.media_type == DB_LAYER_MEDIA_TYPE)
        .or_else(|| m.layers.first())
        .ok_or_else(|| err(format!("{reference}: the artifact has no layers")))?;
    let layer_digest = layer.digest.clone();
    std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    let tmp = tempdir_in(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    let result = (|| {
        let mut blob = client
            .blob_stream(reference, &layer_digest)
            .map_err(|e| err(e.to_string()))?;
        let mut found_db = false;
        let mut found_meta = false;
        {
            let gz = flate2::read::GzDecoder::new(&mut blob);
            let capped = crate::layers::Capped::new(gz, MAX_DB_BYTES, "database archive");
            let mut ar = tar::Archive::new(capped);
            for e in ar
                .entries()
                .map_err(|e| err(format!("database archive: {e}")))?
            {
                let mut e = e.map_err(|e| err(format!("database archive: {e}")))?;
                let name = crate::layers::normalize(&e.path_bytes()).unwrap_or_default();
                let target = match name.as_str() {
                    "trivy.db" => {
                        found_db = true;
                        tmp.join("trivy.db")
                    }
                    "metadata.json" => {
                        found_meta = true;
                        tmp.join("metadata.json")
                    }
                    _ => continue,
                };
                let mut f = std::fs::File::create(&target)
                    .map_err(|e| err(format!("{}: {e}", target.display())))?;
                std::io::copy(&mut (&mut e).take(MAX_DB_BYTES), &mut f)
                    .map_err(|e| err(format!("{}: {e}", target.display())))?;
                f.sync_all()
                    .map_err(|e| err(format!("{}: {e}", target.display())))?;
            }
        }
        blob.finish().map_err(|e| err(e.to_string()))?;
        if !found_db {
            return Err(err(format!("{reference}: the archive holds no trivy.db")));
        }
        // Validate before swapping in.
        let db = VulnDb::open(&tmp.join("trivy.db"))?;
        drop(db);
        if found_meta {
            let p = tmp.join("metadata.json");
            let bytes = std::fs::read(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
            let mut v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| err(format!("metadata.json: {e}")))?;
            if let Some(o) = v.as_object_mut() {
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                o.insert("DownloadedAt".into(), serde_json::Value::String(now));
            }
            std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap_or_default())
                .map_err(|e| err(format!("{}: {e}", p.display())))?;
        }
        let db_bytes = std::fs::metadata(tmp.join("trivy.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        if found_meta {
            std::fs::rename(tmp.join("metadata.json"), dir.join("metadata.json"))
                .map_err(|e| err(format!("install: {e}")))?;
        }
        std::fs::rename(tmp.join("trivy.db"), dir.join("trivy.db"))
            .map_err(|e| err(format!("install: {e}")))?;
        Ok(db_bytes)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let db_bytes = result?;
    Ok(Installed {
        manifest_digest,
        layer_digest,
        db_bytes,
    })
}

fn tempdir_in(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    for i in 0..100u32 {
        let p = dir.join(format!(".update-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary directory"))
}
