//! npm `package-lock.json`, lockfile versions 1 to 3. Development dependencies are left out, as Trivy does.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Package, PackageKind};

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: u32,
    #[serde(default)]
    packages: BTreeMap<String, Entry>,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Dep>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
}

#[derive(Deserialize)]
struct V1Dep {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Dep>,
}

fn walk_v1(deps: &BTreeMap<String, V1Dep>, path: &str, depth: usize, out: &mut Vec<Package>) {
    if depth > 64 {
        return;
    }
    for (name, d) in deps {
        if d.dev {
            continue;
        }
        if let Some(v) = &d.version {
            // git/file/url "versions" are not registry versions.
            if !v.contains(':') {
                out.push(Package::new(PackageKind::Npm, name, v, path));
            }
        }
        walk_v1(&d.dependencies, path, depth + 1, out);
    }
}

pub(crate) fn parse(path: &str, data: &[u8]) -> Result<Vec<Package>, String> {
    let lock: Lock = serde_json::from_slice(data).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    if lock.lockfile_version >= 2 || !lock.packages.is_empty() {
        for (key, e) in &lock.packages {
            if key.is_empty() || e.dev || e.link {
                continue;
            }
            let Some(i) = key.rfind("node_modules/") else {
                continue;
            };
            let name = e
                .name
                .clone()
                .unwrap_or_else(|| key[i + "node_modules/".len()..].to_string());
            if let Some(v) = &e.version {
                if !v.contains(':') {
                    out.push(Package::new(PackageKind::Npm, &name, v, path));
                }
            }
        }
    } else {
        walk_v1(&lock.dependencies, path, 0, &mut out);
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    Ok(out)
}
