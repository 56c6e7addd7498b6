//! Runtime evidence: the configuration the binary runs with (admin API
//! protection, TLS), the secrets backend, and the data directory's key files.
//!
//! The key scan never opens SQLite database files (the store and its `-wal`,
//! `-shm`, `-journal` companions): SQLite's locks are POSIX record locks,
//! which a process drops on *every* descriptor of a file as soon as it
//! closes *any* descriptor of it. Reading the store's files from the server
//! process would release the server's own locks, and the next process that
//! closed the database (any `palisade` command) would checkpoint and delete
//! the write-ahead log the server still writes to: silently lost writes.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::Evidence;

/// Facts about the running configuration, filled in by the binary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuntimeFacts {
    /// Whether the admin API is mounted.
    pub admin_api: bool,
    /// The admin bearer token file, if configured.
    pub admin_token_file: Option<PathBuf>,
    /// Whether the API is served over TLS from the internal CA.
    pub tls: bool,
    /// The TLS versions the listener accepts (`TLSv1.3`).
    pub tls_versions: Vec<String>,
    /// Whether client certificates are required on the admin and issuance routes.
    pub client_auth_required: bool,
    /// The secrets backend URL (never with credentials).
    pub secrets_backend: String,
    /// The CA's key-encryption key (`local`, `transit+http://...`).
    pub ca_kek: String,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// Most files looked at in the data directory.
const MAX_FILES: usize = 10_000;
/// Deepest directory level walked.
const MAX_DEPTH: usize = 6;
/// Bytes read from the start of each file.
const HEAD_BYTES: usize = 64 * 1024;

pub(super) fn collect(r: &RuntimeFacts, at: &str) -> Vec<Evidence> {
    let token_present = r
        .admin_token_file
        .as_deref()
        .is_some_and(|p| std::fs::read_to_string(p).is_ok_and(|t| !t.trim().is_empty()));
    let mut out = vec![Evidence::new(
        "runtime.config",
        "runtime.config",
        "server configuration",
        at.to_owned(),
        at,
        json!({
            "admin_api": r.admin_api,
            "admin_token_file": r.admin_token_file.as_ref().map(|p| p.display().to_string()),
            "admin_token_present": token_present,
            "tls": r.tls,
            "tls_versions": r.tls_versions,
            "client_auth_required": r.client_auth_required,
        }),
    )];
    let kind = backend_kind(&r.secrets_backend);
    out.push(Evidence::new(
        "runtime.secrets",
        "runtime.secrets",
        format!("secrets backend: {kind}"),
        at.to_owned(),
        at,
        json!({ "backend": r.secrets_backend, "kind": kind, "ca_kek": r.ca_kek }),
    ));
    let mut scan = KeyScan::default();
    scan.walk(&r.data_dir, &r.data_dir, 0);
    out.push(Evidence::new(
        "runtime.data-dir",
        "runtime.data-dir",
        format!(
            "data directory: {} file(s) looked at, {} plaintext PEM key(s), {} key file(s) readable by others",
            scan.files,
            scan.pem_keys.len(),
            scan.open_key_files.len()
        ),
        at.to_owned(),
        at,
        json!({
            "files_examined": scan.files,
            "database_files_not_opened": scan.databases_skipped,
            "truncated": scan.truncated,
            "plaintext_pem_keys": scan.pem_keys,
            "key_files": scan.key_files,
            "key_files_readable_by_others": scan.open_key_files,
        }),
    ));
    out
}

/// What kind of backend a secrets URL names.
fn backend_kind(url: &str) -> &'static str {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "local" => "local-encrypted",
        s if s.starts_with("openbao") => "openbao",
        s if s.starts_with("vault") => "vault",
        "aws-sm" => "aws-secrets-manager",
        _ => "unknown",
    }
}

pub(crate) fn backend_is_encrypting(kind: &str) -> bool {
    matches!(
        kind,
        "local-encrypted" | "openbao" | "vault" | "aws-secrets-manager"
    )
}

#[derive(Default)]
struct KeyScan {
    files: usize,
    truncated: bool,
    pem_keys: Vec<String>,
    key_files: Vec<String>,
    open_key_files: Vec<String>,
    databases_skipped: usize,
}

/// Whether `name` is a SQLite database or one of its companion files (by
/// name: the file must not be opened, see the module comment).
fn is_sqlite_file(name: &str) -> bool {
    let base = ["-wal", "-shm", "-journal"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    [".db", ".sqlite", ".sqlite3"]
        .iter()
        .any(|ext| base.ends_with(ext))
}

impl KeyScan {
    fn walk(&mut self, root: &Path, dir: &Path, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if self.files >= MAX_FILES {
                self.truncated = true;
                return;
            }
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                self.walk(root, &path, depth + 1);
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if is_sqlite_file(&name) {
                self.databases_skipped += 1;
                continue;
            }
            self.files += 1;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if let Ok(head) = read_head(&path) {
                if has_plaintext_pem_key(&head) {
                    self.pem_keys.push(rel.clone());
                }
            }
            if name.ends_with(".pk8") || name.ends_with(".key") || name.ends_with(".pem") {
                self.key_files.push(rel.clone());
                if readable_by_others(&path) {
                    self.open_key_files.push(rel);
                }
            }
        }
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn has_plaintext_pem_key(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("-----BEGIN ") && l.ends_with("PRIVATE KEY-----") && !l.contains("ENCRYPTED")
    })
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::is_sqlite_file;

    #[test]
    fn sqlite_files_are_recognised_by_name() {
        for n in [
            "palisade.db",
            "palisade.db-wal",
            "palisade.db-shm",
            "palisade.db-journal",
            "x.sqlite",
            "x.sqlite3-wal",
        ] {
            assert!(is_sqlite_file(n), "{n}");
        }
        for n in [
            "admin.token",
            "ca.key",
            "trust.pem",
            "db",
            "notes.dbx",
            "wal",
        ] {
            assert!(!is_sqlite_file(n), "{n}");
        }
    }
}
