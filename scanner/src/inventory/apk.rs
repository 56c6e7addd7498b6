//! Alpine's package database `/lib/apk/db/installed`.

use super::{Package, PackageKind};

/// Parses the installed database: records separated by blank lines, `P:` name, `V:` version, `o:` origin.
pub(crate) fn parse(path: &str, data: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for rec in text.split("\n\n") {
        let (mut name, mut version, mut origin, mut arch) = ("", "", "", "");
        for line in rec.lines() {
            match line.split_at_checked(2) {
                Some(("P:", v)) => name = v,
                Some(("V:", v)) => version = v,
                Some(("o:", v)) => origin = v,
                Some(("A:", v)) => arch = v,
                _ => {}
            }
        }
        if name.is_empty() || version.is_empty() {
            continue;
        }
        let mut p = Package::new(PackageKind::Apk, name, version, path);
        p.arch = arch.to_string();
        if !origin.is_empty() {
            p.src_name = origin.to_string();
        }
        out.push(p);
    }
    out
}
