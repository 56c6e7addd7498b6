//! Matching an inventory against the database with Trivy's semantics.
//!
//! - OS packages follow Trivy's per-distribution rules ([`os_rules`]): the bucket (`debian 12`, `alpine 3.19`,
//!   `rocky 9`, `amazon linux 2023`, `Red Hat`, ...), the lookup by source (Debian, Ubuntu, Alpine, CBL-Mariner)
//!   or binary package name (RPM family, SUSE), RPM modularity (`module:stream::name`), Oracle's ksplice flavours,
//!   Red Hat's per-CPE entries, and whether unfixed advisories are reported. A fixed advisory applies when the
//!   installed version sorts before the fixed version with the distribution's comparator.
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

/// How a package is looked up in its distribution's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgKey {
    /// By source package name and source version (Debian, Ubuntu, Alpine, CBL-Mariner / Azure Linux).
    Source,
    /// By binary package name and version (the RPM family, SUSE).
    Binary,
}

/// What a distribution does with RPM modularity labels (Trivy's per-distribution choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modular {
    /// Labels are ignored.
    Ignore,
    /// Modular packages are looked up as `module:stream::name` (Red Hat, Fedora).
    Namespace,
    /// As [`Modular::Namespace`], but a `.module_el` release without a label is skipped (AlmaLinux).
    NamespaceSkipUnlabelled,
    /// Modular packages are skipped: the errata do not cover them (Rocky Linux).
    Skip,
}

/// Trivy's matching rules for one detected distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRules {
    /// The root bucket (`debian 12`, `rocky 9`, `Red Hat`, `amazon linux 2023`).
    pub bucket: String,
    /// Version ordering.
    pub scheme: Scheme,
    /// Source or binary lookup.
    pub key: PkgKey,
    /// Whether advisories without a fixed version are reported (unfixed findings).
    pub unfixed: bool,
    /// Modularity handling.
    pub modular: Modular,
    /// Oracle Linux: an advisory applies only when its `ksplice` flavour equals the package's.
    pub ksplice: bool,
    /// Red Hat / CentOS: entries apply only when their CPEs are among those of the image's content sets.
    pub content_sets: Vec<String>,
}

/// Trivy's content sets for a RHEL major version when the image has no content manifests.
fn default_content_sets(major: &str) -> Vec<String> {
    match major {
        "6" | "7" => vec![
            format!("rhel-{major}-server-rpms"),
            format!("rhel-{major}-server-extras-rpms"),
        ],
        _ => vec![
            format!("rhel-{major}-for-x86_64-baseos-rpms"),
            format!("rhel-{major}-for-x86_64-appstream-rpms"),
        ],
    }
}

/// The matching rules (bucket, comparator, lookup) for a detected OS, or why it is not supported.
pub fn os_rules(os: &OsInfo) -> Result<OsRules, String> {
    let v = os.version.trim();
    let major = v.split('.').next().unwrap_or_default();
    let major_minor = v.split('.').take(2).collect::<Vec<_>>().join(".");
    let rules = |bucket: String, scheme: Scheme, key: PkgKey, unfixed: bool| OsRules {
        bucket,
        scheme,
        key,
        unfixed,
        modular: Modular::Ignore,
        ksplice: false,
        content_sets: Vec::new(),
    };
    let rpm = |bucket: String| rules(bucket, Scheme::Rpm, PkgKey::Binary, false);
    Ok(match os.family.as_str() {
        "debian" => rules(
            format!("debian {major}"),
            Scheme::Dpkg,
            PkgKey::Source,
            true,
        ),
        "ubuntu" => rules(
            format!("ubuntu {major_minor}"),
            Scheme::Dpkg,
            PkgKey::Source,
            true,
        ),
        "alpine" => rules(
            format!("alpine {major_minor}"),
            Scheme::Apk,
            PkgKey::Source,
            true,
        ),
        "wolfi" | "chainguard" => rules(os.family.clone(), Scheme::Apk, PkgKey::Source, true),
        "redhat" | "centos" => OsRules {
            modular: Modular::Namespace,
            unfixed: true,
            content_sets: default_content_sets(major),
            ..rpm("Red Hat".into())
        },
        "alma" => OsRules {
            modular: Modular::NamespaceSkipUnlabelled,
            ..rpm(format!("alma {major}"))
        },
        "rocky" => OsRules {
            modular: Modular::Skip,
            ..rpm(format!("rocky {major}"))
        },
        "fedora" => OsRules {
            modular: Modular::Namespace,
            ..rpm(format!("fedora {major}"))
        },
        "oracle" => OsRules {
            ksplice: true,
            ..rpm(format!("Oracle Linux {major}"))
        },
        // Trivy compares Amazon Linux versions with the Debian comparator (go-deb-version); 2023.x is 2023.
        "amazon" => {
            let release = v.split_whitespace().next().unwrap_or_default();
            let release = release.split('.').next().unwrap_or_default();
            let release = match release {
                "2" | "2022" | "2023" => release,
                _ => "1",
            };
            rules(
                format!("amazon linux {release}"),
                Scheme::Dpkg,
                PkgKey::Binary,
                false,
            )
        }
        "photon" => rpm(format!("Photon OS {major_minor}")),
        "cbl-mariner" => rules(
            format!("CBL-Mariner {major_minor}"),
            Scheme::Rpm,
            PkgKey::Source,
            true,
        ),
        "azurelinux" => rules(
            format!("Azure Linux {major_minor}"),
            Scheme::Rpm,
            PkgKey::Source,
            true,
        ),
        "suse linux enterprise server" => rpm(format!("SUSE Linux Enterprise {v}")),
        "suse linux enterprise micro" => rpm(format!("SUSE Linux Enterprise Micro {v}")),
        "opensuse.leap" => rpm(format!("openSUSE Leap {v}")),
        "opensuse.tumbleweed" => rpm("openSUSE Tumbleweed".into()),
        other => {
            return Err(format!(
                "OS {other} {v} is not supported yet; its OS packages are not scanned"
            ))
        }
    })
}

/// `nodejs` with label `nodejs:12:8030020201124152102:229f0a1c` is keyed `nodejs:12::nodejs`.
fn modular_name(name: &str, label: &str) -> String {
    let mut colons = 0;
    for (i, c) in label.char_indices() {
        if c == ':' {
            colons += 1;
            if colons == 2 {
                return format!("{}::{name}", &label[..i]);
            }
        }
    }
    name.to_string()
}

/// The `ksplice1`-style flavour of an Oracle release, if any.
fn ksplice(v: &str) -> Option<String> {
    v.to_ascii_lowercase()
        .split('.')
        .find(|s| s.starts_with("ksplice"))
        .map(str::to_string)
}

/// One way an advisory applies: a fixed version (empty = unfixed) for some architectures, with the vulnerability
/// id and vendor ids it reports under (Red Hat entries name their CVEs inside an RHSA).
struct Applicable {
    id: String,
    vendor_ids: Vec<String>,
    fixed: String,
    arches: Vec<String>,
    severity: Severity,
    status: Status,
}

/// Expands an OS advisory into what applies to the image: Red Hat entries filtered by the image's CPEs and
/// split per CVE; other `Entries` (Oracle) per architecture; otherwise the advisory itself.
fn applicable(adv: &FoundAdvisory, cpes: Option<&[i64]>) -> Vec<Applicable> {
    let a = &adv.advisory;
    if let Some(cpes) = cpes {
        let mut out = Vec::new();
        for e in &a.entries {
            if !e.affected.iter().any(|i| cpes.contains(i)) {
                continue;
            }
            for c in &e.cves {
                let (id, vendor_ids) = if adv.id.starts_with("CVE-") {
                    (adv.id.clone(), Vec::new())
                } else {
                    (c.id.clone(), vec![adv.id.clone()])
                };
                if id.is_empty() {
                    continue;
                }
                out.push(Applicable {
                    id,
                    vendor_ids,
                    fixed: e.fixed_version.clone(),
                    arches: e.arches.clone(),
                    severity: c.severity,
                    status: e.status,
                });
            }
        }
        return out;
    }
    let one = |fixed: &str, arches: &[String], status: Status| Applicable {
        id: adv.id.clone(),
        vendor_ids: a.vendor_ids.clone(),
        fixed: fixed.to_string(),
        arches: arches.to_vec(),
        severity: a.severity,
        status,
    };
    if a.entries.is_empty() {
        vec![one(&a.fixed_version, &a.arches, a.status)]
    } else {
        a.entries
            .iter()
            .map(|e| one(&e.fixed_version, &e.arches, e.status))
            .collect()
    }
}

fn lang(kind: PackageKind) -> Option<(&'static str, Scheme)> {
    Some(match kind {
        PackageKind::Cargo => ("cargo::", Scheme::Semver),
        PackageKind::Npm => ("npm::", Scheme::Npm),
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
    id: String,
    vendor_ids: Vec<String>,
    fixed: String,
    status: Status,
    pkg_severity: Option<Severity>,
}

/// Trivy's per-distribution rules applied to one OS package: at most one candidate per vulnerability id, the
/// newest applicable fixed version winning over older ones and over an unfixed entry.
fn os_candidates<'a>(
    rules: &OsRules,
    cpes: Option<&[i64]>,
    pkg: &'a Package,
    advs: &[FoundAdvisory],
    warnings: &mut Vec<String>,
) -> Vec<Candidate<'a>> {
    let installed = if rules.key == PkgKey::Source && pkg.kind != PackageKind::Apk {
        &pkg.src_version
    } else {
        &pkg.version
    };
    let pkg_ksplice = rules.ksplice.then(|| ksplice(installed));
    let mut by_id: Vec<Candidate<'a>> = Vec::new();
    for adv in advs {
        for ap in applicable(adv, cpes) {
            if ap.status == Status::NotAffected {
                continue;
            }
            if !ap.arches.is_empty() && pkg.arch != "noarch" && !ap.arches.contains(&pkg.arch) {
                continue;
            }
            if let Some(k) = &pkg_ksplice {
                if ksplice(&ap.fixed) != *k {
                    continue;
                }
            }
            if ap.fixed.is_empty() && !rules.unfixed {
                continue;
            }
            if !ap.fixed.is_empty() {
                match rules.scheme.compare(installed, &ap.fixed) {
                    Ok(std::cmp::Ordering::Less) => {}
                    Ok(_) => continue,
                    Err(e) => {
                        warnings.push(format!("{} {}: {e}", pkg.name, ap.id));
                        continue;
                    }
                }
            }
            let pkg_severity = (ap.severity != Severity::Unknown
                && (pkg.kind == PackageKind::Deb || cpes.is_some()))
            .then_some(ap.severity);
            if let Some(prev) = by_id.iter_mut().find(|c| c.id == ap.id) {
                if ap.fixed.is_empty() {
                    continue;
                }
                for v in ap.vendor_ids {
                    if !prev.vendor_ids.contains(&v) {
                        prev.vendor_ids.push(v);
                    }
                }
                let newer = prev.fixed.is_empty()
                    || rules.scheme.compare(&prev.fixed, &ap.fixed).ok()
                        == Some(std::cmp::Ordering::Less);
                if newer {
                    prev.fixed = ap.fixed;
                    prev.status = ap.status;
                    prev.adv = adv.clone();
                }
                continue;
            }
            by_id.push(Candidate {
                pkg,
                adv: adv.clone(),
                id: ap.id,
                vendor_ids: ap.vendor_ids,
                fixed: ap.fixed,
                status: ap.status,
                pkg_severity,
            });
        }
    }
    by_id
}

/// The database key of an OS package under `rules`, or `None` when the distribution's rules skip it.
fn os_key(rules: &OsRules, pkg: &Package) -> Option<String> {
    let name = match rules.key {
        PkgKey::Source => &pkg.src_name,
        PkgKey::Binary => &pkg.name,
    };
    let label = pkg.modularity_label.as_str();
    match rules.modular {
        Modular::Ignore => Some(name.clone()),
        Modular::Skip if !label.is_empty() => None,
        Modular::Skip => Some(name.clone()),
        Modular::NamespaceSkipUnlabelled
            if label.is_empty() && pkg.version.contains(".module_el") =>
        {
            None
        }
        Modular::Namespace | Modular::NamespaceSkipUnlabelled => Some(modular_name(name, label)),
    }
}

/// Matches `inv` against `db`. Warnings (unsupported OS, unparsable versions) are appended to `warnings`.
pub fn detect(
    db: &VulnDb,
    inv: &Inventory,
    warnings: &mut Vec<String>,
) -> Result<Vec<Finding>, DbError> {
    let mut cands: Vec<Candidate<'_>> = Vec::new();
    let rules = match &inv.os {
        Some(os) => match os_rules(os) {
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
    let cpes: Option<Vec<i64>> = match &rules {
        Some(r) if !r.content_sets.is_empty() => Some(db.red_hat_cpe_indices(&r.content_sets)?),
        _ => None,
    };
    let mut cache: HashMap<(String, String), Vec<FoundAdvisory>> = HashMap::new();
    for pkg in &inv.packages {
        if pkg.kind.is_os() {
            let Some(rules) = &rules else {
                continue;
            };
            let Some(name) = os_key(rules, pkg) else {
                continue;
            };
            let key = (rules.bucket.clone(), name);
            if !cache.contains_key(&key) {
                let advs = db.advisories(&rules.bucket, &key.1)?;
                cache.insert(key.clone(), advs);
            }
            cands.extend(os_candidates(
                rules,
                cpes.as_deref(),
                pkg,
                &cache[&key],
                warnings,
            ));
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
                        id: adv.id.clone(),
                        vendor_ids: adv.advisory.vendor_ids.clone(),
                        fixed: fixed_versions(&adv.advisory),
                        status: adv.advisory.status,
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
        if !vulns.contains_key(&c.id) {
            let v = db.vulnerability(&c.id)?.unwrap_or_default();
            vulns.insert(c.id.clone(), v);
        }
        let v = &vulns[&c.id];
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
            .filter(|_| c.id.starts_with("GHSA-"))
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
        let status = match c.status {
            Status::Unknown if !c.fixed.is_empty() => Status::Fixed,
            Status::Unknown => Status::Affected,
            s if !c.fixed.is_empty() && matches!(s, Status::Affected) => Status::Fixed,
            s => s,
        };
        let primary_url = if c.id.starts_with("CVE-") {
            format!("https://avd.aquasec.com/nvd/{}", c.id.to_ascii_lowercase())
        } else if c.id.starts_with("GHSA-") {
            format!("https://github.com/advisories/{}", c.id)
        } else {
            v.references.first().cloned().unwrap_or_default()
        };
        out.push(Finding {
            id: c.id.clone(),
            vendor_ids: c.vendor_ids.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(family: &str, version: &str) -> String {
        os_rules(&OsInfo {
            family: family.into(),
            version: version.into(),
        })
        .map(|r| r.bucket)
        .unwrap_or_else(|e| e)
    }

    #[test]
    fn buckets_are_named_as_trivy_names_them() {
        for (family, version, want) in [
            ("debian", "12.4", "debian 12"),
            ("ubuntu", "22.04", "ubuntu 22.04"),
            ("alpine", "3.19.1", "alpine 3.19"),
            ("wolfi", "20230201", "wolfi"),
            ("chainguard", "20230214", "chainguard"),
            ("redhat", "9.4", "Red Hat"),
            ("centos", "7", "Red Hat"),
            ("alma", "9.3", "alma 9"),
            ("rocky", "8.9", "rocky 8"),
            ("oracle", "8.10", "Oracle Linux 8"),
            ("amazon", "2", "amazon linux 2"),
            ("amazon", "2023.4.20240416", "amazon linux 2023"),
            ("amazon", "2018.03", "amazon linux 1"),
            ("photon", "5.0", "Photon OS 5.0"),
            ("cbl-mariner", "2.0.20240123", "CBL-Mariner 2.0"),
            ("azurelinux", "3.0.20240727", "Azure Linux 3.0"),
            (
                "suse linux enterprise server",
                "15.5",
                "SUSE Linux Enterprise 15.5",
            ),
            (
                "suse linux enterprise micro",
                "5.5",
                "SUSE Linux Enterprise Micro 5.5",
            ),
            ("opensuse.leap", "15.5", "openSUSE Leap 15.5"),
            ("opensuse.tumbleweed", "20240101", "openSUSE Tumbleweed"),
        ] {
            assert_eq!(bucket(family, version), want, "{family} {version}");
        }
        assert!(bucket("gentoo", "2.14").contains("not supported"));
    }

    #[test]
    fn modular_names_and_ksplice() {
        assert_eq!(
            modular_name("npm", "nodejs:12:8030020201124152102:229f0a1c"),
            "nodejs:12::npm"
        );
        assert_eq!(modular_name("npm", ""), "npm");
        assert_eq!(
            ksplice("2.28-151.0.1.ksplice1.el8"),
            Some("ksplice1".into())
        );
        assert_eq!(ksplice("2.28-151.el8"), None);
    }
}
