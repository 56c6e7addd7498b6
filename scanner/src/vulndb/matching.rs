//! Matching an inventory against the database with Trivy's semantics.
//!
//! - OS packages are looked up by SOURCE package name in `"<family> <version>"` (Debian: major version; Ubuntu:
//!   full version; Alpine: major.minor). An advisory without a fixed version is an unfixed finding; otherwise the
//!   installed (source) version must sort before the fixed version with the distribution's comparator.
//! - Language packages are looked up in every bucket starting with the ecosystem prefix (`pip::`, `npm::`,
//!   `cargo::`, `go::`): vulnerable when the version matches a vulnerable range (or none is given) and matches no
//!   patched/unaffected range.
//! - Severity: the package-specific severity (Debian), then the data source's own vendor severity, then GHSA for
//!   GHSA ids, then NVD, then the legacy severity string.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::schema::{Advisory, Cvss, DataSource, Severity, Status, Vulnerability};
use super::{DbError, FoundAdvisory, VulnDb};
use crate::inventory::{db_name, Inventory, LayerInfo, OsInfo, Package, PackageKind};
use crate::version::Scheme;

/// One vulnerable package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Vulnerability id (`CVE-2024-1234`, `GHSA-...`).
    #[serde(rename = "VulnerabilityID")]
    pub id: String,
    /// Vendor advisory ids.
    #[serde(rename = "VendorIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_ids: Vec<String>,
    /// Package name (binary package for OS packages).
    #[serde(rename = "PkgName")]
    pub pkg_name: String,
    /// The file the package was found in.
    #[serde(rename = "PkgPath", default, skip_serializing_if = "String::is_empty")]
    pub pkg_path: String,
    /// Package URL.
    #[serde(rename = "PURL", default)]
    pub purl: String,
    /// Ecosystem.
    #[serde(rename = "PkgType")]
    pub kind: PackageKind,
    /// Installed version.
    #[serde(rename = "InstalledVersion")]
    pub installed_version: String,
    /// Fixed version(s), empty when unfixed.
    #[serde(rename = "FixedVersion", default)]
    pub fixed_version: String,
    /// Fix status.
    #[serde(rename = "Status")]
    pub status: StatusName,
    /// The layer the package came from.
    #[serde(rename = "Layer", default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerInfo>,
    /// Where the severity came from (`debian`, `nvd`, `ghsa`, ...).
    #[serde(rename = "SeveritySource", default)]
    pub severity_source: String,
    /// Link for humans.
    #[serde(rename = "PrimaryURL", default)]
    pub primary_url: String,
    /// The data source the advisory came from.
    #[serde(
        rename = "DataSource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub data_source: Option<DataSource>,
    /// Title.
    #[serde(rename = "Title", default)]
    pub title: String,
    /// Description.
    #[serde(rename = "Description", default)]
    pub description: String,
    /// Severity chosen for the finding.
    #[serde(rename = "Severity")]
    pub severity: SeverityName,
    /// CWE ids.
    #[serde(rename = "CweIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub cwe_ids: Vec<String>,
    /// Severity per vendor.
    #[serde(
        rename = "VendorSeverity",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub vendor_severity: BTreeMap<String, SeverityName>,
    /// CVSS per source.
    #[serde(rename = "CVSS", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cvss: BTreeMap<String, Cvss>,
    /// References.
    #[serde(rename = "References", default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Publication date.
    #[serde(
        rename = "PublishedDate",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub published_date: String,
    /// Last modification date.
    #[serde(
        rename = "LastModifiedDate",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub last_modified_date: String,
}

/// A [`Severity`] that serialises as its name (`HIGH`) and parses names back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeverityName(pub Severity);

impl Serialize for SeverityName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for SeverityName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SeverityName(Severity::parse(&s).unwrap_or_default()))
    }
}

/// A [`Status`] that serialises as its name (`fixed`) and parses names back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusName(pub Status);

impl Serialize for StatusName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for StatusName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(StatusName(Status::parse(&s)))
    }
}

/// The OS bucket name for a detected OS, or why it is not supported.
pub fn os_bucket(os: &OsInfo) -> Result<(String, Scheme), String> {
    let v = os.version.trim();
    let major = v.split('.').next().unwrap_or_default();
    let major_minor = v.split('.').take(2).collect::<Vec<_>>().join(".");
    Ok(match os.family.as_str() {
        "debian" => (format!("debian {major}"), Scheme::Dpkg),
        "ubuntu" => (format!("ubuntu {major_minor}"), Scheme::Dpkg),
        "alpine" => (format!("alpine {major_minor}"), Scheme::Apk),
        "wolfi" => ("wolfi".to_string(), Scheme::Apk),
        "chainguard" => ("chainguard".to_string(), Scheme::Apk),
        other => {
            return Err(format!(
                "OS {other} {v} is not supported yet; its OS packages are not scanned"
            ))
        }
    })
}

fn lang(kind: PackageKind) -> Option<(&'static str, Scheme)> {
    Some(match kind {
        PackageKind::Cargo => ("cargo::", Scheme::Semver),
        PackageKind::Npm => ("npm::", Scheme::Semver),
        PackageKind::Pip => ("pip::", Scheme::Pep440),
        PackageKind::GoModule | PackageKind::GoBinary => ("go::", Scheme::Go),
        _ => return None,
    })
}

/// Trivy's `IsVulnerable` for language advisories.
pub fn is_vulnerable(scheme: Scheme, version: &str, adv: &Advisory) -> bool {
    if adv
        .vulnerable_versions
        .iter()
        .chain(&adv.patched_versions)
        .any(|v| v.is_empty())
    {
        return true;
    }
    let mut matched = false;
    if !adv.vulnerable_versions.is_empty() {
        match scheme.satisfies(version, &adv.vulnerable_versions.join(" || ")) {
            Ok(true) => matched = true,
            _ => return false,
        }
    }
    let secure: Vec<&String> = adv
        .patched_versions
        .iter()
        .chain(&adv.unaffected_versions)
        .collect();
    if secure.is_empty() {
        return matched;
    }
    let joined = secure
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" || ");
    match scheme.satisfies(version, &joined) {
        Ok(m) => !m,
        Err(_) => false,
    }
}

/// Trivy's `createFixedVersions`.
pub fn fixed_versions(adv: &Advisory) -> String {
    if !adv.patched_versions.is_empty() {
        return adv.patched_versions.join(", ");
    }
    let mut out = Vec::new();
    for v in &adv.vulnerable_versions {
        for s in v.split(',') {
            let s = s.trim();
            if !s.starts_with("<=") {
                if let Some(x) = s.strip_prefix('<') {
                    out.push(x.trim().to_string());
                }
            }
        }
    }
    out.join(", ")
}

struct Candidate<'a> {
    pkg: &'a Package,
    adv: FoundAdvisory,
    fixed: String,
    pkg_severity: Option<Severity>,
}

/// Matches `inv` against `db`. Warnings (unsupported OS, unparsable versions) are appended to `warnings`.
pub fn detect(
    db: &VulnDb,
    inv: &Inventory,
    warnings: &mut Vec<String>,
) -> Result<Vec<Finding>, DbError> {
    let mut cands: Vec<Candidate<'_>> = Vec::new();
    let os_bucket = match &inv.os {
        Some(os) => match os_bucket(os) {
            Ok(b) => Some(b),
            Err(w) => {
                if inv.packages.iter().any(|p| p.kind.is_os()) {
                    warnings.push(w);
                }
                None
            }
        },
        None => None,
    };
    let mut cache: HashMap<(String, String), Vec<FoundAdvisory>> = HashMap::new();
    for pkg in &inv.packages {
        if pkg.kind.is_os() {
            let Some((bucket, scheme)) = &os_bucket else {
                continue;
            };
            let key = (bucket.clone(), pkg.src_name.clone());
            if !cache.contains_key(&key) {
                let advs = db.advisories(bucket, &pkg.src_name)?;
                cache.insert(key.clone(), advs);
            }
            let installed = if pkg.kind == PackageKind::Deb {
                &pkg.src_version
            } else {
                &pkg.version
            };
            for adv in &cache[&key] {
                let a = &adv.advisory;
                if a.status == Status::NotAffected {
                    continue;
                }
                let pkg_severity = (pkg.kind == PackageKind::Deb
                    && a.severity != Severity::Unknown)
                    .then_some(a.severity);
                if a.fixed_version.is_empty() {
                    cands.push(Candidate {
                        pkg,
                        adv: adv.clone(),
                        fixed: String::new(),
                        pkg_severity,
                    });
                    continue;
                }
                match scheme.compare(installed, &a.fixed_version) {
                    Ok(std::cmp::Ordering::Less) => cands.push(Candidate {
                        pkg,
                        adv: adv.clone(),
                        fixed: a.fixed_version.clone(),
                        pkg_severity,
                    }),
                    Ok(_) => {}
                    Err(e) => warnings.push(format!("{} {}: {e}", pkg.name, adv.id)),
                }
            }
        } else if let Some((prefix, scheme)) = lang(pkg.kind) {
            let name = db_name(pkg.kind, &pkg.name);
            let key = (prefix.to_string(), name.clone());
            if !cache.contains_key(&key) {
                let advs = db.advisories_by_prefix(prefix, &name)?;
                cache.insert(key.clone(), advs);
            }
            for adv in &cache[&key] {
                if is_vulnerable(scheme, &pkg.version, &adv.advisory) {
                    cands.push(Candidate {
                        pkg,
                        adv: adv.clone(),
                        fixed: fixed_versions(&adv.advisory),
                        pkg_severity: None,
                    });
                }
            }
        }
    }
    let mut sources: HashMap<String, Option<DataSource>> = HashMap::new();
    let mut vulns: HashMap<String, Vulnerability> = HashMap::new();
    let mut out: Vec<Finding> = Vec::new();
    for c in cands {
        if !sources.contains_key(&c.adv.source_bucket) {
            let ds = db.data_source(&c.adv.source_bucket)?;
            sources.insert(c.adv.source_bucket.clone(), ds);
        }
        let ds = sources[&c.adv.source_bucket].clone();
        if !vulns.contains_key(&c.adv.id) {
            let v = db.vulnerability(&c.adv.id)?.unwrap_or_default();
            vulns.insert(c.adv.id.clone(), v);
        }
        let v = &vulns[&c.adv.id];
        let source_id = ds.as_ref().map(|d| d.id.clone()).unwrap_or_default();
        let (severity, severity_source) = if let Some(s) = c.pkg_severity {
            (
                s,
                if source_id.is_empty() {
                    "debian".to_string()
                } else {
                    source_id.clone()
                },
            )
        } else if let Some(s) = v
            .vendor_severity
            .get(&source_id)
            .filter(|_| !source_id.is_empty())
        {
            (*s, source_id.clone())
        } else if let Some(s) = v
            .vendor_severity
            .get("ghsa")
            .filter(|_| c.adv.id.starts_with("GHSA-"))
        {
            (*s, "ghsa".to_string())
        } else if let Some(s) = v.vendor_severity.get("nvd") {
            (*s, "nvd".to_string())
        } else if let Some(s) = Severity::parse(&v.severity).filter(|_| !v.severity.is_empty()) {
            (s, String::new())
        } else {
            (Severity::Unknown, String::new())
        };
        let mut vendor_severity: BTreeMap<String, SeverityName> = v
            .vendor_severity
            .iter()
            .map(|(k, s)| (k.clone(), SeverityName(*s)))
            .collect();
        if let Some(s) = c.pkg_severity {
            vendor_severity.insert(severity_source.clone(), SeverityName(s));
        }
        let status = match c.adv.advisory.status {
            Status::Unknown if !c.fixed.is_empty() => Status::Fixed,
            Status::Unknown => Status::Affected,
            s if !c.fixed.is_empty() && matches!(s, Status::Affected) => Status::Fixed,
            s => s,
        };
        let primary_url = if c.adv.id.starts_with("CVE-") {
            format!(
                "https://avd.aquasec.com/nvd/{}",
                c.adv.id.to_ascii_lowercase()
            )
        } else if c.adv.id.starts_with("GHSA-") {
            format!("https://github.com/advisories/{}", c.adv.id)
        } else {
            v.references.first().cloned().unwrap_or_default()
        };
        out.push(Finding {
            id: c.adv.id.clone(),
            vendor_ids: c.adv.advisory.vendor_ids.clone(),
            pkg_name: c.pkg.name.clone(),
            pkg_path: if c.pkg.kind.is_os() {
                String::new()
            } else {
                c.pkg.path.clone()
            },
            purl: c.pkg.purl(inv.os.as_ref()),
            kind: c.pkg.kind,
            installed_version: c.pkg.version.clone(),
            fixed_version: c.fixed,
            status: StatusName(status),
            layer: c.pkg.layer.clone(),
            severity_source,
            primary_url,
            data_source: ds,
            title: v.title.clone(),
            description: v.description.clone(),
            severity: SeverityName(severity),
            cwe_ids: v.cwe_ids.clone(),
            vendor_severity,
            cvss: v.cvss.clone(),
            references: v.references.clone(),
            published_date: v.published_date.clone(),
            last_modified_date: v.last_modified_date.clone(),
        });
    }
    out.sort_by(|a, b| {
        (
            a.kind,
            &a.pkg_path,
            &a.pkg_name,
            &a.installed_version,
            &a.id,
        )
            .cmp(&(
                b.kind,
                &b.pkg_path,
                &b.pkg_name,
                &b.installed_version,
                &b.id,
            ))
    });
    out.dedup_by(|a, b| {
        a.kind == b.kind
            && a.pkg_path == b.pkg_path
            && a.pkg_name == b.pkg_name
            && a.installed_version == b.installed_version
            && a.id == b.id
    });
    Ok(out)
}
