//! The `[scanner]` section of Palisade's configuration file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::layers::Limits;

/// Scanner settings (`[scanner]` in the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerSettings {
    /// Where the vulnerability database lives (`trivy.db`, `metadata.json`); default `<data_dir>/vulndb`.
    pub db_dir: Option<PathBuf>,
    /// The OCI artifact `palisade db update` pulls.
    pub db_repository: String,
    /// Talk plain HTTP to registries (always on for loopback addresses).
    pub registry_plain_http: bool,
    /// Most bytes one layer may decompress to.
    pub max_layer_bytes: u64,
    /// Largest file an analyzer reads.
    pub max_file_bytes: u64,
    /// Largest file `scan config` (and `gate --config-path`) reads, parses and searches for secrets.
    pub config_max_file_bytes: u64,
    /// Largest file searched for secrets in image layers and in `scan fs` / `scan rootfs` trees.
    pub secret_max_file_bytes: u64,
    /// Warn when the database is older than this many hours (`db status`, scans).
    pub db_max_age_hours: u64,
}

impl Default for ScannerSettings {
    fn default() -> Self {
        let l = Limits::default();
        ScannerSettings {
            db_dir: None,
            db_repository: "ghcr.io/aquasecurity/trivy-db:2".into(),
            registry_plain_http: false,
            max_layer_bytes: l.max_layer_bytes,
            max_file_bytes: l.max_file_bytes,
            config_max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
            secret_max_file_bytes: crate::secrets::DEFAULT_MAX_FILE_BYTES,
            db_max_age_hours: 48,
        }
    }
}

impl ScannerSettings {
    /// The database directory, defaulting under `data_dir`.
    pub fn db_dir(&self, data_dir: &Path) -> PathBuf {
        self.db_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("vulndb"))
    }

    /// Checks the values: every size cap must be at least one byte.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("max_layer_bytes", self.max_layer_bytes),
            ("max_file_bytes", self.max_file_bytes),
            ("config_max_file_bytes", self.config_max_file_bytes),
            ("secret_max_file_bytes", self.secret_max_file_bytes),
        ] {
            if v == 0 {
                return Err(format!("[scanner] {key} must be at least 1 (bytes)"));
            }
        }
        Ok(())
    }

    /// The built-in secret scanner under `secret_max_file_bytes`.
    pub fn secret_scanner(&self) -> crate::secrets::SecretScanner {
        crate::secrets::SecretScanner::builtin().with_max_file_bytes(self.secret_max_file_bytes)
    }

    /// Archive limits from these settings.
    pub fn limits(&self) -> Limits {
        Limits {
            max_layer_bytes: self.max_layer_bytes,
            max_file_bytes: self.max_file_bytes,
            ..Limits::default()
        }
    }
}
