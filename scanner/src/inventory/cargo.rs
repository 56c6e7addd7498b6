//! `Cargo.lock` (v1-v4).

use serde::Deserialize;

use super::{Package, PackageKind};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
}

pub(crate) fn parse(path: &str, data: &[u8]) -> Result<Vec<Package>, String> {
    let text = std::str::from_utf8(data).map_err(|_| format!("{path}: not UTF-8"))?;
    let lock: Lock = toml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| Package::new(PackageKind::Cargo, &p.name, &p.version, path))
        .collect())
}
