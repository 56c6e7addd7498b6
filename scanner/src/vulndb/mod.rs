//! The Trivy vulnerability database (trivy-db v2): a BoltDB file of JSON values, read in place.

mod bolt;
pub mod matching;
mod mmap;
pub mod schema;
pub mod update;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use bolt::{BoltFile, Bucket, Entry, Meta};
use schema::{parse_lenient, Advisory, DataSource, Metadata, Vulnerability};

/// Errors reading or updating the vulnerability database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The file could not be opened or read.
    #[error("cannot read the vulnerability database {path}: {source} (run `palisade db update`, or pass --db)")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid BoltDB file.
    #[error("the vulnerability database is corrupt: {0} (run `palisade db update` to replace it)")]
    Corrupt(String),
    /// A value is not valid JSON of the expected shape.
    #[error("bad JSON in the vulnerability database at {bucket}/{key}: {source}")]
    Value {
        /// Bucket path.
        bucket: String,
        /// Key.
        key: String,
        /// Parse error.
        source: serde_json::Error,
    },
    /// Downloading or installing a new database failed.
    #[error("database update failed: {0}")]
    Update(String),
}

enum Backing {
    Mapped(mmap::Mapped),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Backing {
    fn as_ref(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m.as_ref(),
            Backing::Owned(v) => v,
        }
    }
}

/// An open Trivy database.
pub struct VulnDb {
    file: BoltFile<Backing>,
    metadata: Option<Metadata>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for VulnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulnDb")
            .field("path", &self.path)
            .field("meta", &self.file.meta())
            .finish()
    }
}

/// One advisory found for a package, with the bucket it came from.
#[derive(Debug, Clone)]
pub struct FoundAdvisory {
    /// The root bucket (data source) name, e.g. `debian 12` or `pip::GitHub Security Advisory pip`.
    pub source_bucket: String,
    /// Vulnerability id.
    pub id: String,
    /// The advisory.
    pub advisory: Advisory,
}

impl VulnDb {
    /// Opens `trivy.db` (or a directory holding `trivy.db` and `metadata.json`), mapped read-only.
    pub fn open(path: &Path) -> Result<VulnDb, DbError> {
        let db_path = if path.is_dir() {
            path.join("trivy.db")
        } else {
            path.to_path_buf()
        };
        let io = |source| DbError::Io {
            path: db_path.clone(),
            source,
        };
        let file = File::open(&db_path).map_err(io)?;
        let mapped = mmap::Mapped::open(&file).map_err(io)?;
        let file = BoltFile::new(Backing::Mapped(mapped))?;
        let metadata = db_path
            .parent()
            .map(|d| d.join("metadata.json"))
            .and_then(|m| std::fs::read(m).ok())
            .and_then(|b| parse_lenient::<Metadata>(&b).ok());
        Ok(VulnDb {
            file,
            metadata,
            path: Some(db_path),
        })
    }

    /// A database held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<VulnDb, DbError> {
        Ok(VulnDb {
            file: BoltFile::new(Backing::Owned(bytes))?,
            metadata: None,
            path: None,
        })
    }

    /// `metadata.json`, when it was found next to the file.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// The BoltDB meta page in force.
    pub fn meta(&self) -> Meta {
        self.file.meta()
    }

    /// Names of all top-level buckets.
    pub fn bucket_names(&self) -> Result<Vec<String>, DbError> {
        Ok(self
            .file
            .prefixed(self.file.root(), b"")?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect())
    }

    fn advisories_in(
        &self,
        source: &str,
        src_bucket: Bucket<'_>,
        pkg: &str,
        out: &mut Vec<FoundAdvisory>,
    ) -> Result<(), DbError> {
        let Some(pkg_bucket) = self.file.bucket(src_bucket, pkg.as_bytes())? else {
            return Ok(());
        };
        for (k, e) in self.file.prefixed(pkg_bucket, b"")? {
            let Entry::Value(v) = e else { continue };
            let id = String::from_utf8_lossy(k).into_owned();
            let advisory = parse_lenient::<Advisory>(v).map_err(|source| DbError::Value {
                bucket: format!("{source_name}/{pkg}", source_name = source),
                key: id.clone(),
                source,
            })?;
            out.push(FoundAdvisory {
                source_bucket: source.to_string(),
                id,
                advisory,
            });
        }
        Ok(())
    }

    /// Advisories for package `pkg` in the data source bucket named exactly `source` (OS buckets).
    pub fn advisories(&self, source: &str, pkg: &str) -> Result<Vec<FoundAdvisory>, DbError> {
        let mut out = Vec::new();
        if let Some(b) = self.file.bucket(self.file.root(), source.as_bytes())? {
            self.advisories_in(source, b, pkg, &mut out)?;
        }
        Ok(out)
    }

    /// Advisories for `pkg` in every data source bucket whose name starts with `prefix` (language buckets,
    /// e.g. `pip::`), merged in bucket order.
    pub fn advisories_by_prefix(
        &self,
        prefix: &str,
        pkg: &str,
    ) -> Result<Vec<FoundAdvisory>, DbError> {
        let mut out = Vec::new();
        for (name, e) in self.file.prefixed(self.file.root(), prefix.as_bytes())? {
            let Entry::Bucket(b) = e else { continue };
            let name = String::from_utf8_lossy(name).into_owned();
            self.advisories_in(&name, b, pkg, &mut out)?;
        }
        Ok(out)
    }

    fn json_in<T: for<'de> serde::Deserialize<'de> + Default>(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<T>, DbError> {
        let Some(b) = self.file.bucket(self.file.root(), bucket.as_bytes())? else {
            return Ok(None);
        };
        match self.file.get(b, key.as_bytes())? {
            Some(Entry::Value(v)) => {
                parse_lenient::<T>(v)
                    .map(Some)
                    .map_err(|source| DbError::Value {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        source,
                    })
            }
            _ => Ok(None),
        }
    }

    /// Red Hat: the CPE indices of the given content sets (repositories), from `Red Hat CPE/repository`.
    pub fn red_hat_cpe_indices(&self, content_sets: &[String]) -> Result<Vec<i64>, DbError> {
        let mut out = Vec::new();
        let Some(cpe) = self.file.bucket(self.file.root(), b"Red Hat CPE")? else {
            return Ok(out);
        };
        let Some(repos) = self.file.bucket(cpe, b"repository")? else {
            return Ok(out);
        };
        for set in content_sets {
            if let Some(Entry::Value(v)) = self.file.get(repos, set.as_bytes())? {
                let idx: Vec<i64> = parse_lenient(v).map_err(|source| DbError::Value {
                    bucket: "Red Hat CPE/repository".into(),
                    key: set.clone(),
                    source,
                })?;
                out.extend(idx);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Details of vulnerability `id`.
    pub fn vulnerability(&self, id: &str) -> Result<Option<Vulnerability>, DbError> {
        self.json_in("vulnerability", id)
    }

    /// The data source behind bucket `bucket`.
    pub fn data_source(&self, bucket: &str) -> Result<Option<DataSource>, DbError> {
        self.json_in("data-source", bucket)
    }
}
