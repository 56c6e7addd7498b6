//! `palisade backup` and `palisade restore`: the embedded store and the data directory's key material,
//! consistent while the server runs.
//!
//! A backup is one directory, `palisade-backup-<UTC time>`, holding
//! - `palisade.db`: a `VACUUM INTO` snapshot of the SQLite store (one read transaction: the store as of one
//!   commit, taken while the server goes on writing); the CA keys inside it are sealed by the CA's KEK;
//! - the data directory's files that are already safe to copy: the local secret store (encrypted),
//!   the trust bundle, the policy bundle and the compliance history;
//! - the plaintext key files (decision-log signing and masking keys, the admin token) sealed under the
//!   CA's key-encryption key (`ca.kek`) as `NAME.sealed.json`: no key leaves in plaintext;
//! - `manifest.json`, written last: every file with its SHA-256 and size, and what was left out and why.
//!
//! The local master key (`secrets.key` / `PALISADE_SECRETS_KEY`) is never in a backup: it opens the
//! sealed files, so it is kept apart (a secret manager, the Kubernetes Secret, an offline copy), like a
//! Vault unseal key. A backup is assembled in a hidden `.partial` directory and renamed into place, so a
//! directory with the backup prefix is always complete.
//!
//! `restore` checks every hash and the snapshot's integrity and opens every sealed file before it touches
//! the data directory, refuses a non-empty data directory without `--force` (which moves the old contents
//! aside, never deletes them) and refuses always while a process holds the store open.

use std::io::{Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::config::Config;

const FORMAT: &str = "palisade-backup/1";
const MANIFEST: &str = "manifest.json";
const PREFIX: &str = "palisade-backup-";
const STORE_FILE: &str = "palisade.db";
const SEALED_SUFFIX: &str = ".sealed.json";
/// A manifest larger than this is not one of ours.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Directory that receives the backups, each in its own `palisade-backup-<time>` directory.
    dest: PathBuf,
    /// Keep taking a backup at this interval (`30s`, `5m`, `1h`) until stopped (SIGTERM, Ctrl-C).
    #[arg(long, value_parser = parse_interval)]
    every: Option<Duration>,
    /// After each backup, keep only the newest N backups in DEST.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    keep: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup directory (`palisade-backup-<time>`).
    backup: PathBuf,
    /// Restore over a non-empty data directory: its contents are moved aside to
    /// `<data_dir>.before-restore-<time>`, not deleted.
    #[arg(long)]
    force: bool,
}

/// `30s`, `5m`, `2h`, `1d`.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: expected a number and a unit (30s, 5m, 1h, 1d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("`{s}`: the unit is s, m, h or d")),
    };
    if secs == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// What a backup does with an entry of the data directory.
enum Treatment {
    /// Copied as is (not secret, or already encrypted).
    Copy,
    /// A plaintext key: sealed under the KEK.
    Seal,
    /// Not in the backup, for this reason (reported in the manifest).
    Leave(&'static str),
    /// Not in the backup, not worth reporting (locks, temporary files, the live store's files).
    Ignore,
}

fn treatment(name: &str) -> Treatment {
    match name {
        "secrets.json" | "ca-bundle.pem" | "policies" | "compliance" => Treatment::Copy,
        "decision-log-signing.pk8" | "decision-log-mask.key" | "admin.token" => Treatment::Seal,
        "secrets.key" => Treatment::Leave(
            "the local master key opens the sealed files: keep it apart from the backups",
        ),
        "vulndb" => Treatment::Leave("the vulnerability database: `palisade db update` fetches it"),
        _ if name.starts_with(STORE_FILE) => Treatment::Ignore,
        _ if name.starts_with('.') || name.ends_with(".lock") || name.ends_with(".tmp") => {
            Treatment::Ignore
        }
        _ => Treatment::Leave("not a file Palisade keeps here"),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    /// RFC 3339 time the store snapshot was taken.
    created: String,
    palisade_version: String,
    /// The KEK that sealed the key files (`ca.kek`, described).
    kek: String,
    /// `sqlite` (snapshot in the backup) or `external` (PostgreSQL: backed up with its own tools).
    store: String,
    files: Vec<Entry>,
    left_out: Vec<LeftOut>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// Path inside the backup.
    path: String,
    /// `store`, `file` or `sealed`.
    kind: String,
    /// Where it goes, relative to the data directory (unused for the store).
    restore_to: String,
    sha256: String,
    bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LeftOut {
    path: String,
    reason: String,
}

pub fn run_backup(config: Config, a: BackupArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        std::fs::create_dir_all(&a.dest)
            .with_context(|| format!("cannot create {}", a.dest.display()))?;
        let kek = open_kek(&config).await?;
        let Some(every) = a.every else {
            let dir = backup_once(&config, kek.as_ref(), &a.dest).await?;
            println!("{}", dir.display());
            if let Some(keep) = a.keep {
                prune(&a.dest, keep as usize)?;
            }
            return Ok(ExitCode::SUCCESS);
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
            // A failed backup is reported and retried at the next tick; the scheduler keeps going.
            match backup_once(&config, kek.as_ref(), &a.dest).await {
                Ok(dir) => {
                    tracing::info!(backup = %dir.display(), "backup written");
                    if let Some(keep) = a.keep {
                        if let Err(e) = prune(&a.dest, keep as usize) {
                            tracing::error!(error = %format!("{e:#}"), "backup retention failed");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "backup failed"),
            }
        }
        tracing::info!("backup scheduler stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The CA's key-encryption key. With `ca.kek = "local"` the master key must already exist (file or
/// `PALISADE_SECRETS_KEY`): a new one would seal the backup under a key nobody kept.
async fn open_kek(config: &Config) -> anyhow::Result<Arc<dyn palisade_secrets::KeyWrapper>> {
    if config.ca.kek == "local" || config.ca.kek == "local:" {
        let file = config
            .secrets
            .open_options(config)
            .master_key_file
            .unwrap_or_else(|| config.data_dir.join("secrets.key"));
        let in_env =
            std::env::var_os(palisade_secrets::MASTER_KEY_ENV).is_some_and(|v| !v.is_empty());
        ensure!(
            in_env || file.exists(),
            "the local master key is needed to seal and open the key files: set {} or put the key \
             file at {} (secrets.master_key_file)",
            palisade_secrets::MASTER_KEY_ENV,
            file.display()
        );
    }
    config.ca.kek(config).await
}

fn now_stamp() -> anyhow::Result<(String, String)> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    ))?;
    Ok((
        stamp,
        now.format(&time::format_description::well_known::Rfc3339)?,
    ))
}

fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Writes `bytes` to a new file, mode 0600, flushed to disk.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.recursive(true)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn sync_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

/// Copies a file or a directory tree (regular files only; links are not followed) into the backup.
fn copy_tree(from: &Path, to: &Path, rel: &str, files: &mut Vec<Entry>) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        create_private_dir(to)?;
        let mut names: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            copy_tree(&e.path(), &to.join(&name), &format!("{rel}/{name}"), files)?;
        }
    } else if meta.is_file() {
        let bytes =
            std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
        write_new(to, &bytes)?;
        files.push(Entry {
            path: rel.to_owned(),
            kind: "file".into(),
            restore_to: rel.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
        });
    }
    Ok(())
}

/// One backup into a new directory under `dest`; returns its path.
async fn backup_once(
    config: &Config,
    kek: &dyn palisade_secrets::KeyWrapper,
    dest: &Path,
) -> anyhow::Result<PathBuf> {
    let (stamp, created) = now_stamp()?;
    let name = format!("{PREFIX}{stamp}");
    let partial = dest.join(format!(".{name}.partial"));
    create_private_dir(&partial)?;
    let result = write_backup(config, kek, &partial, created).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    let done = dest.join(&name);
    std::fs::rename(&partial, &done)?;
    sync_dir(dest)?;
    Ok(done)
}

async fn write_backup(
    config: &Config,
    kek: &dyn palisade_secrets::KeyWrapper,
    out: &Path,
    created: String,
) -> anyhow::Result<()> {
    let url = config.store_url();
    let mut files = Vec::new();
    let store = if palisade_store::sqlite_path(&url).is_some() {
        let db = out.join(STORE_FILE);
        palisade_store::snapshot_sqlite(&url, &db)
            .await
            .context("store snapshot")?;
        let (sha256, bytes) = sha256_file(&db)?;
        files.push(Entry {
            path: STORE_FILE.into(),
            kind: "store".into(),
            restore_to: String::new(),
            sha256,
            bytes,
        });
        "sqlite"
    } else {
        "external"
    };
    let mut left_out = Vec::new();
    if store == "external" {
        left_out.push(LeftOut {
            path: "(store)".into(),
            reason: "a shared PostgreSQL store is backed up with pg_basebackup and WAL archiving"
                .into(),
        });
    }
    let mut names: Vec<_> = match std::fs::read_dir(&config.data_dir) {
        Ok(rd) => rd.collect::<Result<_, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(e).context(format!("cannot read {}", config.data_dir.display())),
    };
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        match treatment(&name) {
            Treatment::Copy => copy_tree(&e.path(), &out.join(&name), &name, &mut files)?,
            Treatment::Seal => {
                let plain = Zeroizing::new(std::fs::read(e.path())?);
                let blob = palisade_secrets::seal(kek, &plain, &seal_context(&name)).await?;
                let path = format!("{name}{SEALED_SUFFIX}");
                let bytes = serde_json::to_vec_pretty(&blob)?;
                write_new(&out.join(&path), &bytes)?;
                files.push(Entry {
                    path,
                    kind: "sealed".into(),
                    restore_to: name,
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    bytes: bytes.len() as u64,
                });
            }
            Treatment::Leave(reason) => left_out.push(LeftOut {
                path: name,
                reason: reason.into(),
            }),
            Treatment::Ignore => {}
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        created,
        palisade_version: env!("CARGO_PKG_VERSION").into(),
        kek: kek.describe(),
        store: store.into(),
        files,
        left_out,
    };
    write_new(&out.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    sync_dir(out)?;
    Ok(())
}

/// Associated data of a sealed key file: it opens only as the file it was.
fn seal_context(name: &str) -> String {
    format!("backup/{name}")
}

/// Keeps the newest `keep` complete backups in `dest`.
fn prune(dest: &Path, keep: usize) -> anyhow::Result<()> {
    let mut done: Vec<PathBuf> = std::fs::read_dir(dest)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    done.sort();
    let excess = done.len().saturating_sub(keep);
    for old in &done[..excess] {
        std::fs::remove_dir_all(old).with_context(|| format!("cannot delete {}", old.display()))?;
        tracing::info!(backup = %old.display(), "old backup deleted (retention)");
    }
    Ok(())
}

/// A relative path without `..`, root or prefix components.
fn safe_relative(p: &str) -> anyhow::Result<&Path> {
    let path = Path::new(p);
    ensure!(
        !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))),
        "manifest names an unsafe path `{p}`"
    );
    Ok(path)
}

fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let f = std::fs::File::open(&path)
        .with_context(|| format!("{} is not a complete backup (no {MANIFEST})", dir.display()))?;
    let mut text = Vec::new();
    f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut text)?;
    ensure!(
        text.len() as u64 <= MAX_MANIFEST_BYTES,
        "{} is too large",
        path.display()
    );
    let m: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    ensure!(
        m.format == FORMAT,
        "{}: unknown backup format `{}`",
        path.display(),
        m.format
    );
    Ok(m)
}

/// Processes (pids) that hold `path` open, from /proc; empty where /proc is not readable.
fn holders(path: &Path) -> Vec<u32> {
    let Ok(target) = path.canonicalize() else {
        return vec![];
    };
    let me = std::process::id();
    let mut pids = vec![];
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let holds = std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if holds {
            pids.push(pid);
        }
    }
    pids
}

fn is_empty_dir(p: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(p) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).context(format!("cannot read {}", p.display())),
    }
}

pub fn run_restore(config: Config, a: RestoreArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(restore(config, a))
}

async fn restore(config: Config, a: RestoreArgs) -> anyhow::Result<ExitCode> {
    let m = read_manifest(&a.backup)?;
    // 1. Everything is checked before anything is touched.
    for e in &m.files {
        safe_relative(&e.path)?;
        if e.kind != "store" {
            safe_relative(&e.restore_to)?;
        }
        let (sha, n) = sha256_file(&a.backup.join(&e.path))?;
        ensure!(
            sha == e.sha256 && n == e.bytes,
            "{}: does not match the manifest (sha256 {sha}, {n} bytes; expected {}, {} bytes)",
            e.path,
            e.sha256,
            e.bytes
        );
    }
    let url = config.store_url();
    let store_path = palisade_store::sqlite_path(&url);
    let snapshot = m.files.iter().find(|e| e.kind == "store");
    match (&store_path, snapshot) {
        (Some(_), Some(e)) => palisade_store::check_sqlite(&a.backup.join(&e.path))
            .await
            .context("the backup's store snapshot")?,
        (Some(_), None) => bail!("the backup holds no store snapshot (taken from an external store), but store_url is SQLite"),
        (None, Some(_)) => bail!("the backup holds a SQLite snapshot, but store_url `{url}` is not SQLite: restore into a SQLite store"),
        (None, None) => {}
    }
    let kek = open_kek(&config).await?;
    let mut unsealed = Vec::new();
    for e in m.files.iter().filter(|e| e.kind == "sealed") {
        let blob: palisade_secrets::SealedBlob =
            serde_json::from_slice(&std::fs::read(a.backup.join(&e.path))?)
                .with_context(|| format!("{} is not a sealed file", e.path))?;
        let plain =
            palisade_secrets::open_sealed(kek.as_ref(), &blob, &seal_context(&e.restore_to))
                .await
                .with_context(|| format!("cannot open {} with KEK `{}`", e.path, kek.describe()))?;
        unsealed.push((e.restore_to.clone(), plain));
    }
    // 2. Never under a running server; never over data without --force.
    let data_dir = &config.data_dir;
    let store_outside = store_path.as_ref().filter(|p| {
        p.parent() != Some(data_dir.as_path()) || p.file_name() != Some(STORE_FILE.as_ref())
    });
    let occupied = !is_empty_dir(data_dir)? || store_outside.is_some_and(|p| p.exists());
    ensure!(
        !occupied || a.force,
        "the data directory {} (or the store) is not empty: restore --force moves its contents aside to {}.before-restore-<time>",
        data_dir.display(),
        data_dir.display()
    );
    if let Some(db) = &store_path {
        let pids = holders(db);
        ensure!(
            pids.is_empty(),
            "the store {} is open in process(es) {pids:?}: stop the server before restoring",
            db.display()
        );
    }
    // 3. Assemble beside the data directory, then swap it in.
    let (stamp, _) = now_stamp()?;
    let parent = data_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_name = data_dir
        .file_name()
        .context("the data directory has no name")?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".{dir_name}.restoring-{stamp}"));
    create_private_dir(&staging)?;
    let assembled = (|| -> anyhow::Result<()> {
        for e in m.files.iter().filter(|e| e.kind == "file") {
            let to = staging.join(safe_relative(&e.restore_to)?);
            if let Some(p) = to.parent() {
                create_private_dir(p)?;
            }
            write_new(&to, &std::fs::read(a.backup.join(&e.path))?)?;
        }
        for (name, plain) in &unsealed {
            write_new(&staging.join(safe_relative(name)?), plain)?;
        }
        // The master key stays with the data directory when that is where it lives.
        if let Some(mk) = config.secrets.open_options(&config).master_key_file {
            if mk.parent() == Some(data_dir.as_path()) && mk.is_file() {
                let name = mk.file_name().context("master key file name")?;
                write_new(&staging.join(name), &Zeroizing::new(std::fs::read(&mk)?))?;
            }
        }
        if store_outside.is_none() {
            if let Some(e) = snapshot {
                std::fs::copy(a.backup.join(&e.path), staging.join(STORE_FILE))?;
                std::fs::File::open(staging.join(STORE_FILE))?.sync_all()?;
            }
        }
        sync_dir(&staging)
    })();
    if let Err(e) = assembled {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if data_dir.exists() {
        if occupied {
            let aside = parent.join(format!("{dir_name}.before-restore-{stamp}"));
            std::fs::rename(data_dir, &aside)?;
            eprintln!("previous data directory moved to {}", aside.display());
        } else {
            std::fs::remove_dir(data_dir)?;
        }
    }
    std::fs::rename(&staging, data_dir)?;
    sync_dir(parent)?;
    if let (Some(db), Some(e)) = (store_outside, snapshot) {
        if db.exists() {
            let aside = db.with_extension(format!("before-restore-{stamp}"));
            std::fs::rename(db, &aside)?;
            eprintln!("previous store moved to {}", aside.display());
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        std::fs::copy(a.backup.join(&e.path), db)?;
    }
    println!(
        "restored {} files into {} (store as of {}); check the decision log with `palisade audit verify`",
        m.files.len(),
        data_dir.display(),
        m.created
    );
    for l in &m.left_out {
        println!("not in the backup: {} ({})", l.path, l.reason);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "5", "m", "0s", "5 m", "-1s", "5w"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_paths_cannot_leave_the_data_directory() {
        assert!(safe_relative("policies/app.cedar").is_ok());
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "./x"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_files_are_sealed_and_the_master_key_is_left_out() {
        assert!(matches!(
            treatment("decision-log-signing.pk8"),
            Treatment::Seal
        ));
        assert!(matches!(
            treatment("decision-log-mask.key"),
            Treatment::Seal
        ));
        assert!(matches!(treatment("admin.token"), Treatment::Seal));
        assert!(matches!(treatment("secrets.key"), Treatment::Leave(_)));
        assert!(matches!(treatment("secrets.json"), Treatment::Copy));
        assert!(matches!(treatment("palisade.db-wal"), Treatment::Ignore));
        assert!(matches!(treatment("root-key.pem"), Treatment::Leave(_)));
    }
}
