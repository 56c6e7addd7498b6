//! Where image files live: a directory (OCI layout) or a tar archive (`docker save`, OCI archive) indexed once
//! so that blobs are read by seeking, never extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::layers::normalize;
use crate::ScanError;

/// Read access to the files of an image layout.
pub(crate) trait BlobStore: Send {
    /// Opens `path` (relative, `/`-separated) for streaming.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ScanError>;
    /// True when `path` exists.
    fn exists(&self, path: &str) -> bool;
    /// Human-readable location for messages.
    fn location(&self) -> String;
}

/// Reads a small JSON document (at most `cap` bytes).
pub(crate) fn read_json<T: for<'de> serde::Deserialize<'de>>(
    store: &dyn BlobStore,
    path: &str,
    cap: u64,
) -> Result<T, ScanError> {
    let mut buf = Vec::new();
    store
        .open(path)?
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ScanError::Archive(format!("{}: reading {path}: {e}", store.location())))?;
    if buf.len() as u64 > cap {
        return Err(ScanError::Archive(format!(
            "{}: {path} is larger than {cap} bytes",
            store.location()
        )));
    }
    serde_json::from_slice(&buf).map_err(|e| {
        ScanError::Archive(format!(
            "{}: {path} is not valid JSON: {e}",
            store.location()
        ))
    })
}

/// An image layout directory.
pub(crate) struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub(crate) fn new(root: &Path) -> DirStore {
        DirStore {
            root: root.to_path_buf(),
        }
    }

    fn path(&self, rel: &str) -> Result<PathBuf, ScanError> {
        let n = normalize(rel.as_bytes())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ScanError::Archive(format!(
                    "{}: path {rel:?} escapes the layout",
                    self.location()
                ))
            })?;
        Ok(self.root.join(n))
    }
}

impl BlobStore for DirStore {
    fn open(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, ScanError> {
        let p = self.path(rel)?;
        let md = std::fs::symlink_metadata(&p)
            .map_err(|e| ScanError::Archive(format!("{}: {e}", p.display())))?;
        if !md.is_file() {
            return Err(ScanError::Archive(format!(
                "{}: not a regular file",
                p.display()
            )));
        }
        let f = File::open(&p).map_err(|e| ScanError::Archive(format!("{}: {e}", p.display())))?;
        Ok(Box::new(f))
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).map(|p| p.is_file()).unwrap_or(false)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

/// A tar archive, indexed: path -> (data offset, size); symlinks and hard links between members resolved.
pub(crate) struct TarStore {
    file: PathBuf,
    index: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl TarStore {
    pub(crate) fn open(path: &Path) -> Result<TarStore, ScanError> {
        let f =
            File::open(path).map_err(|e| ScanError::Archive(format!("{}: {e}", path.display())))?;
        let mut ar = tar::Archive::new(f);
        let mut index = HashMap::new();
        let mut links = HashMap::new();
        let entries = ar.entries_with_seek().map_err(|e| {
            ScanError::Archive(format!("{}: not a tar archive: {e}", path.display()))
        })?;
        for (n, e) in entries.enumerate() {
            if n > 1_000_000 {
                return Err(ScanError::Archive(format!(
                    "{}: too many members",
                    path.display()
                )));
            }
            let e = e.map_err(|e| {
                ScanError::Archive(format!(
                    "{}: corrupt or truncated archive: {e}",
                    path.display()
                ))
            })?;
            let Some(name) = normalize(&e.path_bytes()) else {
                continue;
            };
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    index.insert(name, (e.raw_file_position(), e.size()));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = e
                        .link_name_bytes()
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    let t = if e.header().entry_type() == tar::EntryType::Symlink
                        && !target.starts_with(b"/")
                    {
                        let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        let mut j = dir.as_bytes().to_vec();
                        j.push(b'/');
                        j.extend_from_slice(&target);
                        normalize(&j)
                    } else {
                        normalize(&target)
                    };
                    if let Some(t) = t {
                        links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        for (name, (off, size)) in &index {
            if off.checked_add(*size).is_none_or(|end| end > len) {
                return Err(ScanError::Archive(format!(
                    "{}: member {name} is truncated",
                    path.display()
                )));
            }
        }
        Ok(TarStore {
            file: path.to_path_buf(),
            index,
            links,
        })
    }

    fn lookup(&self, rel: &str) -> Option<(u64, u64)> {
        let mut name = normalize(rel.as_bytes())?;
        for _ in 0..16 {
            if let Some(v) = self.index.get(&name) {
                return Some(*v);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

impl BlobStore for TarStore {
    fn open(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>, ScanError> {
        let (off, size) = self
            .lookup(rel)
            .ok_or_else(|| ScanError::Archive(format!("{}: no member {rel}", self.location())))?;
        let mut f = File::open(&self.file)
            .map_err(|e| ScanError::Archive(format!("{}: {e}", self.location())))?;
        f.seek(SeekFrom::Start(off))
            .map_err(|e| ScanError::Archive(format!("{}: {e}", self.location())))?;
        Ok(Box::new(f.take(size)))
    }

    fn exists(&self, rel: &str) -> bool {
        self.lookup(rel).is_some()
    }

    fn location(&self) -> String {
        self.file.display().to_string()
    }
}
