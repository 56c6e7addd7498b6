//! Python: installed distributions (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`), `poetry.lock` and pinned
//! `requirements*.txt` lines.

use serde::Deserialize;

use super::{Package, PackageKind};

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

pub(crate) fn parse_metadata(path: &str, data: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(&data[..data.len().min(1 << 20)]);
    let (mut name, mut version) = ("", "");
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = v.trim();
        }
    }
    if name.is_empty() || version.is_empty() {
        return vec![];
    }
    vec![Package::new(PackageKind::Pip, name, version, path)]
}

#[derive(Deserialize)]
struct Poetry {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
}

pub(crate) fn parse_poetry(path: &str, data: &[u8]) -> Result<Vec<Package>, String> {
    let text = std::str::from_utf8(data).map_err(|_| format!("{path}: not UTF-8"))?;
    let lock: Poetry = toml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| Package::new(PackageKind::Pip, &p.name, &p.version, path))
        .collect())
}

pub(crate) fn parse_requirements(path: &str, data: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let line = line.split(';').next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with(['#', '-']) {
            continue;
        }
        let (name, version) = match line.split_once("===").or_else(|| line.split_once("==")) {
            Some(nv) => nv,
            None => continue,
        };
        let name = name.split('[').next().unwrap_or_default().trim();
        let version = version
            .split([',', ' ', '\\'])
            .next()
            .unwrap_or_default()
            .trim();
        if name.is_empty() || version.is_empty() || version.contains('*') {
            continue;
        }
        out.push(Package::new(PackageKind::Pip, name, version, path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_requirements() {
        assert_eq!(normalize("Flask_SQLAlchemy"), "flask-sqlalchemy");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        let r = parse_requirements("r.txt", b"# c\nrequests[socks]==2.31.0 ; python_version>'3'\nflask>=2\n-r other.txt\nDjango===4.2.1 # pinned\n");
        let v: Vec<_> = r
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(v, vec![("requests", "2.31.0"), ("Django", "4.2.1")]);
    }
}
