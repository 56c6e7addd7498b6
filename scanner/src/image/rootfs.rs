//! Plain directories: an unpacked root filesystem (`scan rootfs`) and a source tree (`scan fs`, honouring
//! `.gitignore`). Symlinks are recorded, never followed while walking.

use std::fs::File;
use std::path::Path;

use crate::inventory::{self, Inventory};
use crate::layers::{Limits, Tree};
use crate::ScanError;

fn rel(root: &Path, p: &Path) -> Option<String> {
    let r = p.strip_prefix(root).ok()?;
    let s = r.to_str()?;
    Some(s.replace(std::path::MAIN_SEPARATOR, "/"))
}

#[cfg(unix)]
fn executable(md: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

fn visit(
    tree: &mut Tree,
    root: &Path,
    path: &Path,
    md: &std::fs::Metadata,
    limits: &Limits,
    os_files: bool,
) {
    let Some(r) = rel(root, path) else {
        tree.warn(format!("{}: not UTF-8; skipped", path.display()));
        return;
    };
    if md.file_type().is_symlink() {
        if let Ok(t) = std::fs::read_link(path) {
            if let Some(t) = t.to_str() {
                tree.symlink(0, &r, t);
            }
        }
        return;
    }
    if !md.is_file() {
        return;
    }
    if let Some(kind) = inventory::wants(&r, md.len(), executable(md), os_files) {
        match File::open(path) {
            Ok(mut f) => tree.file(0, &r, kind, md.len(), &mut f, limits),
            Err(e) => tree.warn(format!("{r}: {e}")),
        }
    }
}

/// Scans an unpacked root filesystem (OS packages and language packages).
pub fn scan_rootfs(root: &Path, limits: &Limits) -> Result<Inventory, ScanError> {
    walk(root, limits, true, false)
}

/// Scans a source tree for lockfiles and manifests, honouring `.gitignore`.
pub fn scan_source_tree(root: &Path, limits: &Limits) -> Result<Inventory, ScanError> {
    walk(root, limits, false, true)
}

fn walk(
    root: &Path,
    limits: &Limits,
    os_files: bool,
    gitignore: bool,
) -> Result<Inventory, ScanError> {
    if !root.is_dir() {
        return Err(ScanError::Archive(format!(
            "{}: not a directory",
            root.display()
        )));
    }
    let mut tree = Tree::new(limits, os_files);
    let mut wb = ignore::WalkBuilder::new(root);
    wb.follow_links(false)
        .hidden(false)
        .parents(false)
        .git_ignore(gitignore)
        .git_exclude(gitignore)
        .git_global(false)
        .ignore(gitignore)
        .require_git(false)
        .max_depth(Some(256))
        .filter_entry(|e| e.file_name() != ".git");
    let mut count = 0u64;
    for e in wb.build() {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                tree.warn(format!("{err}"));
                continue;
            }
        };
        count += 1;
        if count > limits.max_entries * 4 {
            return Err(ScanError::Archive(format!(
                "{}: too many files",
                root.display()
            )));
        }
        if gitignore && e.file_name() == ".git" {
            continue;
        }
        match std::fs::symlink_metadata(e.path()) {
            Ok(md) => visit(&mut tree, root, e.path(), &md, limits, os_files),
            Err(err) => tree.warn(format!("{}: {err}", e.path().display())),
        }
    }
    let (results, warnings) = tree.finish();
    Ok(inventory::assemble(
        results.into_iter().map(|(p, _, a)| (p, None, a)).collect(),
        warnings,
    ))
}
