//! Trivy-like JSON (`SchemaVersion` 2): `Results[]` of targets with `Vulnerabilities[]`.

use serde::{Deserialize, Serialize};

use super::{Report, Suppressed};
use crate::config::{ConfigFinding, SuppressedConfig};
use crate::inventory::{LayerInfo, OsInfo};
use crate::vulndb::matching::Finding;

/// The JSON report, as written and read back by `palisade gate`.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonReport {
    /// Always 2.
    #[serde(rename = "SchemaVersion")]
    pub schema_version: u32,
    /// What was scanned.
    #[serde(rename = "ArtifactName")]
    pub artifact_name: String,
    /// Kind of artifact.
    #[serde(rename = "ArtifactType")]
    pub artifact_type: String,
    /// Image metadata.
    #[serde(rename = "Metadata", default)]
    pub metadata: JsonMetadata,
    /// One entry per target.
    #[serde(rename = "Results", default)]
    pub results: Vec<JsonResult>,
}

/// Image metadata.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct JsonMetadata {
    /// OS.
    #[serde(rename = "OS", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsJson>,
    /// Config digest.
    #[serde(rename = "ImageID", default, skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// Layer diff ids.
    #[serde(rename = "DiffIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub diff_ids: Vec<String>,
    /// Layers.
    #[serde(rename = "Layers", default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerInfoJson>,
}

/// OS in the metadata.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OsJson {
    /// Family.
    #[serde(rename = "Family")]
    pub family: String,
    /// Version.
    #[serde(rename = "Name")]
    pub name: String,
}

/// A layer in the metadata.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LayerInfoJson {
    /// Blob digest.
    #[serde(rename = "Digest", default)]
    pub digest: String,
    /// Diff id.
    #[serde(rename = "DiffID", default)]
    pub diff_id: String,
}

/// One target.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonResult {
    /// Target name.
    #[serde(rename = "Target")]
    pub target: String,
    /// `os-pkgs` or `lang-pkgs`.
    #[serde(rename = "Class")]
    pub class: String,
    /// Type (`debian`, `cargo`, ...).
    #[serde(rename = "Type")]
    pub ty: String,
    /// Findings.
    #[serde(rename = "Vulnerabilities", default)]
    pub vulnerabilities: Vec<Finding>,
    /// Misconfigurations and secrets (configuration targets).
    #[serde(
        rename = "Misconfigurations",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub misconfigurations: Vec<ConfigFinding>,
    /// Misconfigurations suppressed in place or by the gate.
    #[serde(
        rename = "SuppressedMisconfigurations",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed_misconfigurations: Vec<SuppressedConfig>,
    /// Findings suppressed by the gate, with reasons.
    #[serde(
        rename = "ExperimentalModifiedFindings",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed: Vec<SuppressedJson>,
}

/// A suppressed finding.
#[derive(Debug, Serialize, Deserialize)]
pub struct SuppressedJson {
    /// `ignored`.
    #[serde(rename = "Type")]
    pub ty: String,
    /// Why.
    #[serde(rename = "Statement")]
    pub statement: String,
    /// The finding.
    #[serde(rename = "Finding")]
    pub finding: Finding,
}

pub(crate) fn to_json(r: &Report) -> JsonReport {
    let mut results = Vec::new();
    for (target, class, ty, fs) in r.targets() {
        let sup: Vec<&Suppressed> = r
            .suppressed
            .iter()
            .filter(|s| {
                if class == "os-pkgs" {
                    s.finding.kind.is_os()
                } else {
                    !s.finding.kind.is_os() && s.finding.pkg_path == target
                }
            })
            .collect();
        results.push(JsonResult {
            target,
            class: class.to_string(),
            ty,
            vulnerabilities: fs.into_iter().cloned().collect(),
            misconfigurations: vec![],
            suppressed_misconfigurations: vec![],
            suppressed: sup
                .into_iter()
                .map(|s| SuppressedJson {
                    ty: "ignored".into(),
                    statement: s.reason.clone(),
                    finding: s.finding.clone(),
                })
                .collect(),
        });
    }
    for t in r.config_targets() {
        results.push(JsonResult {
            target: t.file,
            class: t.class.to_string(),
            ty: t.ty.to_string(),
            vulnerabilities: vec![],
            misconfigurations: t.findings.into_iter().cloned().collect(),
            suppressed_misconfigurations: t.suppressed.into_iter().cloned().collect(),
            suppressed: vec![],
        });
    }
    JsonReport {
        schema_version: 2,
        artifact_name: r.artifact_name.clone(),
        artifact_type: serde_json::to_value(r.artifact_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        metadata: JsonMetadata {
            os: r.inventory.os.as_ref().map(|o: &OsInfo| OsJson {
                family: o.family.clone(),
                name: o.version.clone(),
            }),
            image_id: r.image_id.clone(),
            diff_ids: r
                .layers
                .iter()
                .map(|l: &LayerInfo| l.diff_id.clone())
                .collect(),
            layers: r
                .layers
                .iter()
                .map(|l| LayerInfoJson {
                    digest: l.digest.clone(),
                    diff_id: l.diff_id.clone(),
                })
                .collect(),
        },
        results,
    }
}

pub(crate) fn render(r: &Report) -> String {
    serde_json::to_string_pretty(&to_json(r)).unwrap_or_default() + "\n"
}

/// Reads a JSON report written by `palisade scan --format json` (or Trivy) back: artifact name and findings.
pub fn read_json_report(bytes: &[u8]) -> Result<JsonReport, crate::ScanError> {
    serde_json::from_slice(bytes)
        .map_err(|e| crate::ScanError::Gate(format!("not a JSON scan report: {e}")))
}
