//! The JSON values stored in the Trivy database, parsed leniently: every field is optional, `null` is accepted
//! anywhere, integers may be stored as floats, statuses and severities as integers or strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Severity levels, ordered (Trivy's `Severity` integers 0-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Unknown / not rated.
    #[default]
    Unknown,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// From Trivy's integer encoding.
    pub fn from_int(i: i64) -> Severity {
        match i {
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            4 => Severity::Critical,
            _ => Severity::Unknown,
        }
    }

    /// From a name, case-insensitively (`high`, `HIGH`, also Debian's `unimportant` = low).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "unknown" | "" => Severity::Unknown,
            "low" | "negligible" | "unimportant" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// Upper-case name as Trivy prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fix status of an advisory (Trivy's `Status` integers 0-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not stated.
    #[default]
    Unknown,
    /// The package is not affected.
    NotAffected,
    /// Affected, no fix yet.
    Affected,
    /// A fixed version exists.
    Fixed,
    /// Under investigation.
    UnderInvestigation,
    /// The vendor will not fix it.
    WillNotFix,
    /// Fix deferred.
    FixDeferred,
    /// The release is end of life.
    EndOfLife,
}

impl Status {
    /// From Trivy's integer encoding.
    pub fn from_int(i: i64) -> Status {
        match i {
            1 => Status::NotAffected,
            2 => Status::Affected,
            3 => Status::Fixed,
            4 => Status::UnderInvestigation,
            5 => Status::WillNotFix,
            6 => Status::FixDeferred,
            7 => Status::EndOfLife,
            _ => Status::Unknown,
        }
    }

    /// From a name (`fixed`, `will_not_fix`, ...).
    pub fn parse(s: &str) -> Status {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "not_affected" => Status::NotAffected,
            "affected" => Status::Affected,
            "fixed" => Status::Fixed,
            "under_investigation" => Status::UnderInvestigation,
            "will_not_fix" => Status::WillNotFix,
            "fix_deferred" => Status::FixDeferred,
            "end_of_life" => Status::EndOfLife,
            _ => Status::Unknown,
        }
    }

    /// Name as Trivy's report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::NotAffected => "not_affected",
            Status::Affected => "affected",
            Status::Fixed => "fixed",
            Status::UnderInvestigation => "under_investigation",
            Status::WillNotFix => "will_not_fix",
            Status::FixDeferred => "fix_deferred",
            Status::EndOfLife => "end_of_life",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number or a string, whatever the data source wrote.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

fn loose_int(v: Option<Loose>) -> Option<Result<i64, String>> {
    match v? {
        Loose::Int(i) => Some(Ok(i)),
        Loose::Float(f) if f.is_finite() => Some(Ok(f as i64)),
        Loose::Float(_) => None,
        Loose::Str(s) => Some(s.trim().parse::<f64>().map(|f| f as i64).map_err(|_| s)),
        Loose::Bool(_) => None,
    }
}

fn de_severity<'de, D: Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    let v: Option<Loose> = Option::deserialize(d).unwrap_or(None);
    Ok(match loose_int(v) {
        Some(Ok(i)) => Severity::from_int(i),
        Some(Err(s)) => Severity::parse(&s).unwrap_or_default(),
        None => Severity::Unknown,
    })
}

fn de_status<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    let v: Option<Loose> = Option::deserialize(d).unwrap_or(None);
    Ok(match loose_int(v) {
        Some(Ok(i)) => Status::from_int(i),
        Some(Err(s)) => Status::parse(&s),
        None => Status::Unknown,
    })
}

fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v: Option<Loose> = Option::deserialize(d)?;
    Ok(match v {
        Some(Loose::Str(s)) => s,
        Some(Loose::Int(i)) => i.to_string(),
        Some(Loose::Float(f)) => f.to_string(),
        Some(Loose::Bool(b)) => b.to_string(),
        None => String::new(),
    })
}

fn de_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Option<String>>),
        One(String),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        Some(OneOrMany::Many(v)) => v.into_iter().flatten().collect(),
        Some(OneOrMany::One(s)) => vec![s],
        None => Vec::new(),
    })
}

fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One advisory: how package `P` is affected by vulnerability `V` according to one data source.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Advisory {
    /// Vendor advisory ids (DSA-..., RHSA-...).
    #[serde(rename = "VendorIDs", deserialize_with = "de_strings")]
    pub vendor_ids: Vec<String>,
    /// Architectures the advisory applies to (empty = all).
    #[serde(rename = "Arches", deserialize_with = "de_strings")]
    pub arches: Vec<String>,
    /// Fix status.
    #[serde(rename = "Status", deserialize_with = "de_status")]
    pub status: Status,
    /// Package-specific severity from the vendor (Debian, Red Hat).
    #[serde(rename = "Severity", deserialize_with = "de_severity")]
    pub severity: Severity,
    /// First fixed version (OS packages); empty = unfixed.
    #[serde(rename = "FixedVersion", deserialize_with = "de_string")]
    pub fixed_version: String,
    /// Affected version (Arch Linux).
    #[serde(rename = "AffectedVersion", deserialize_with = "de_string")]
    pub affected_version: String,
    /// Vulnerable version ranges (language packages).
    #[serde(rename = "VulnerableVersions", deserialize_with = "de_strings")]
    pub vulnerable_versions: Vec<String>,
    /// Patched version ranges (language packages).
    #[serde(rename = "PatchedVersions", deserialize_with = "de_strings")]
    pub patched_versions: Vec<String>,
    /// Unaffected version ranges (language packages).
    #[serde(rename = "UnaffectedVersions", deserialize_with = "de_strings")]
    pub unaffected_versions: Vec<String>,
    /// Red Hat / Oracle per-architecture entries.
    #[serde(rename = "Entries", deserialize_with = "de_null_default")]
    pub entries: Vec<AdvisoryEntry>,
}

/// A Red Hat style per-architecture entry inside an advisory.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AdvisoryEntry {
    /// Fixed version for these architectures.
    #[serde(rename = "FixedVersion", deserialize_with = "de_string")]
    pub fixed_version: String,
    /// Architectures.
    #[serde(rename = "Arches", deserialize_with = "de_strings")]
    pub arches: Vec<String>,
    /// Status.
    #[serde(rename = "Status", deserialize_with = "de_status")]
    pub status: Status,
    /// Red Hat: indices (into the `Red Hat CPE` bucket) of the products this entry affects.
    #[serde(rename = "Affected", deserialize_with = "de_null_default")]
    pub affected: Vec<i64>,
    /// Red Hat: the CVEs an RHSA entry fixes, with Red Hat's severity for each.
    #[serde(rename = "Cves", deserialize_with = "de_null_default")]
    pub cves: Vec<CveEntry>,
}

/// A CVE named by a Red Hat entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CveEntry {
    /// CVE id (empty when the advisory key is the CVE itself).
    #[serde(rename = "ID", deserialize_with = "de_string")]
    pub id: String,
    /// Red Hat's severity.
    #[serde(rename = "Severity", deserialize_with = "de_severity")]
    pub severity: Severity,
}

/// CVSS figures from one source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Cvss {
    /// CVSS v2 vector.
    #[serde(
        rename = "V2Vector",
        deserialize_with = "de_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub v2_vector: String,
    /// CVSS v2 score.
    #[serde(
        rename = "V2Score",
        deserialize_with = "de_null_default",
        skip_serializing_if = "is_zero"
    )]
    pub v2_score: f64,
    /// CVSS v3 vector.
    #[serde(
        rename = "V3Vector",
        deserialize_with = "de_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub v3_vector: String,
    /// CVSS v3 score.
    #[serde(
        rename = "V3Score",
        deserialize_with = "de_null_default",
        skip_serializing_if = "is_zero"
    )]
    pub v3_score: f64,
    /// CVSS v4 vector.
    #[serde(
        rename = "V40Vector",
        deserialize_with = "de_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub v40_vector: String,
    /// CVSS v4 score.
    #[serde(
        rename = "V40Score",
        deserialize_with = "de_null_default",
        skip_serializing_if = "is_zero"
    )]
    pub v40_score: f64,
}

fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

fn de_vendor_severity<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Severity>, D::Error> {
    let m: Option<BTreeMap<String, Option<Loose>>> = Option::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let s = match loose_int(v) {
                Some(Ok(i)) => Severity::from_int(i),
                Some(Err(s)) => Severity::parse(&s).unwrap_or_default(),
                None => Severity::Unknown,
            };
            (k, s)
        })
        .collect())
}

/// Details of one vulnerability (the `vulnerability` bucket).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Vulnerability {
    /// Short title.
    #[serde(rename = "Title", deserialize_with = "de_string")]
    pub title: String,
    /// Description.
    #[serde(rename = "Description", deserialize_with = "de_string")]
    pub description: String,
    /// Deprecated overall severity string.
    #[serde(rename = "Severity", deserialize_with = "de_string")]
    pub severity: String,
    /// CWE ids.
    #[serde(rename = "CweIDs", deserialize_with = "de_strings")]
    pub cwe_ids: Vec<String>,
    /// Severity per source (`nvd`, `debian`, `ghsa`, ...).
    #[serde(rename = "VendorSeverity", deserialize_with = "de_vendor_severity")]
    pub vendor_severity: BTreeMap<String, Severity>,
    /// CVSS per source.
    #[serde(rename = "CVSS", deserialize_with = "de_null_default")]
    pub cvss: BTreeMap<String, Cvss>,
    /// Reference URLs.
    #[serde(rename = "References", deserialize_with = "de_strings")]
    pub references: Vec<String>,
    /// Publication date (RFC 3339).
    #[serde(rename = "PublishedDate", deserialize_with = "de_string")]
    pub published_date: String,
    /// Last modification date (RFC 3339).
    #[serde(rename = "LastModifiedDate", deserialize_with = "de_string")]
    pub last_modified_date: String,
}

/// A data source (the `data-source` bucket): which feed a bucket came from.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct DataSource {
    /// Source id (`debian`, `ghsa`, `nvd`, ...): the key into `VendorSeverity`.
    #[serde(rename = "ID", deserialize_with = "de_string")]
    pub id: String,
    /// Human-readable name.
    #[serde(rename = "Name", deserialize_with = "de_string")]
    pub name: String,
    /// URL.
    #[serde(rename = "URL", deserialize_with = "de_string")]
    pub url: String,
    /// Base source id for derived sources.
    #[serde(
        rename = "BaseID",
        deserialize_with = "de_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub base_id: String,
}

/// `metadata.json` next to `trivy.db`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Metadata {
    /// Schema version (2).
    #[serde(rename = "Version", deserialize_with = "de_null_default")]
    pub version: i64,
    /// When the producer plans the next update.
    #[serde(rename = "NextUpdate", deserialize_with = "de_string")]
    pub next_update: String,
    /// When the database was built.
    #[serde(rename = "UpdatedAt", deserialize_with = "de_string")]
    pub updated_at: String,
    /// When it was downloaded here.
    #[serde(rename = "DownloadedAt", deserialize_with = "de_string")]
    pub downloaded_at: String,
}

/// Parses a JSON value leniently: `null` gives the default.
pub fn parse_lenient<T: for<'de> Deserialize<'de> + Default>(
    bytes: &[u8],
) -> Result<T, serde_json::Error> {
    Ok(serde_json::from_slice::<Option<T>>(bytes)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_values() {
        let a: Advisory = parse_lenient(br#"{"Status":3.0,"Severity":"2","FixedVersion":null,"VendorIDs":null,"Entries":[{"Arches":["x86_64"],"FixedVersion":"1:1.0-1"}]}"#).unwrap();
        assert_eq!(a.status, Status::Fixed);
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.fixed_version, "");
        assert_eq!(a.entries[0].fixed_version, "1:1.0-1");
        let n: Advisory = parse_lenient(b"null").unwrap();
        assert_eq!(n, Advisory::default());
        let v: Vulnerability =
            parse_lenient(br#"{"VendorSeverity":{"nvd":3.0,"redhat":"low","x":null},"CVSS":null}"#)
                .unwrap();
        assert_eq!(v.vendor_severity["nvd"], Severity::High);
        assert_eq!(v.vendor_severity["redhat"], Severity::Low);
    }
}
