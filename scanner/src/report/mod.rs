//! Reports: a terminal table, Trivy-like JSON, SARIF 2.1.0 for code scanning, and CycloneDX 1.5.

mod cyclonedx;
mod json;
mod sarif;
mod table;

use serde::Serialize;

use crate::config::{ConfigFinding, SuppressedConfig};
use crate::inventory::{Inventory, LayerInfo};
use crate::vulndb::matching::Finding;

pub use json::{read_json_report, JsonReport};

/// What kind of thing was scanned (Trivy's `ArtifactType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    /// A container image.
    ContainerImage,
    /// A source tree.
    Filesystem,
    /// An unpacked root filesystem.
    Rootfs,
    /// An SBOM.
    Cyclonedx,
    /// Configuration files (Kubernetes, Dockerfile, Terraform) and secrets.
    Config,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// Trivy-like JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// CycloneDX 1.5 JSON (inventory plus vulnerabilities).
    CycloneDx,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "table" => Format::Table,
            "json" => Format::Json,
            "sarif" => Format::Sarif,
            "cyclonedx" | "cyclonedx-json" => Format::CycloneDx,
            o => {
                return Err(format!(
                    "unknown format {o:?} (table, json, sarif, cyclonedx)"
                ))
            }
        })
    }
}

/// A finding that the gate suppressed, with why.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    /// The finding.
    pub finding: Finding,
    /// Why (ignore file reason, VEX justification, ignore-unfixed).
    pub reason: String,
}

/// One configuration file's findings of one class.
pub(crate) struct ConfigTarget<'a> {
    pub file: String,
    pub class: &'static str,
    pub ty: &'static str,
    pub findings: Vec<&'a ConfigFinding>,
    pub suppressed: Vec<&'a SuppressedConfig>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was scanned, as the user named it.
    pub artifact_name: String,
    /// Kind of artifact.
    pub artifact_type: ArtifactType,
    /// Image config digest, when an image.
    pub image_id: String,
    /// Layers, when an image.
    pub layers: Vec<LayerInfo>,
    /// What is installed.
    pub inventory: Inventory,
    /// Findings (after the gate's suppressions, if any).
    pub findings: Vec<Finding>,
    /// Findings the gate suppressed.
    pub suppressed: Vec<Suppressed>,
    /// Misconfigurations and leaked secrets (configuration scans), after suppressions.
    pub misconfigs: Vec<ConfigFinding>,
    /// Misconfigurations and secrets suppressed in place or by the gate.
    pub misconfigs_suppressed: Vec<SuppressedConfig>,
    /// Warnings (skipped files, unsupported OS, ...).
    pub warnings: Vec<String>,
}

impl Report {
    /// Renders the report.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => table::render(self),
            Format::Json => json::render(self),
            Format::Sarif => sarif::render(self),
            Format::CycloneDx => cyclonedx::render(self, true),
        }
    }

    /// The inventory alone as a CycloneDX SBOM.
    pub fn sbom(&self) -> String {
        cyclonedx::render(self, false)
    }

    /// A report read back from its JSON form (for `palisade gate`): findings and metadata, no package list.
    pub fn from_json(j: JsonReport) -> Report {
        let artifact_type = match j.artifact_type.as_str() {
            "filesystem" => ArtifactType::Filesystem,
            "config" => ArtifactType::Config,
            "rootfs" => ArtifactType::Rootfs,
            "cyclonedx" => ArtifactType::Cyclonedx,
            _ => ArtifactType::ContainerImage,
        };
        let os = j.metadata.os.map(|o| crate::inventory::OsInfo {
            family: o.family,
            version: o.name,
        });
        let layers: Vec<LayerInfo> = j
            .metadata
            .layers
            .into_iter()
            .enumerate()
            .map(|(index, l)| LayerInfo {
                index,
                digest: l.digest,
                diff_id: l.diff_id,
                created_by: String::new(),
            })
            .collect();
        let misconfigs = j
            .results
            .iter()
            .flat_map(|r| r.misconfigurations.iter().cloned())
            .collect();
        let misconfigs_suppressed = j
            .results
            .iter()
            .flat_map(|r| r.suppressed_misconfigurations.iter().cloned())
            .collect();
        Report {
            misconfigs,
            misconfigs_suppressed,
            artifact_name: j.artifact_name,
            artifact_type,
            image_id: j.metadata.image_id,
            inventory: Inventory {
                os,
                ..Inventory::default()
            },
            findings: j
                .results
                .into_iter()
                .flat_map(|r| r.vulnerabilities)
                .map(|mut f| {
                    if let Some(l) = f.layer.as_mut() {
                        l.index = layers
                            .iter()
                            .position(|x| x.diff_id == l.diff_id)
                            .unwrap_or(0);
                    }
                    f
                })
                .collect(),
            layers,
            suppressed: vec![],
            warnings: vec![],
        }
    }

    /// Several reports as one, for one gate verdict over images, trees and configuration together: findings,
    /// misconfigurations, packages, layers and warnings of all; artifact names joined with `, `. The operating
    /// system is kept only when every report with one agrees.
    pub fn merge(reports: Vec<Report>) -> Option<Report> {
        let mut it = reports.into_iter();
        let mut out = it.next()?;
        for r in it {
            out.artifact_name = format!("{}, {}", out.artifact_name, r.artifact_name);
            match (&out.inventory.os, r.inventory.os) {
                (None, os) => out.inventory.os = os,
                (Some(a), Some(b)) if *a != b => out.inventory.os = None,
                _ => {}
            }
            if out.image_id.is_empty() {
                out.image_id = r.image_id;
            }
            out.layers.extend(r.layers);
            out.inventory.packages.extend(r.inventory.packages);
            out.inventory.warnings.extend(r.inventory.warnings);
            out.findings.extend(r.findings);
            out.suppressed.extend(r.suppressed);
            out.misconfigs.extend(r.misconfigs);
            out.misconfigs_suppressed.extend(r.misconfigs_suppressed);
            out.warnings.extend(r.warnings);
        }
        Some(out)
    }

    /// Configuration targets: one per file and class (`config`, `secret`), in file order.
    pub(crate) fn config_targets(&self) -> Vec<ConfigTarget<'_>> {
        let mut out: Vec<ConfigTarget<'_>> = Vec::new();
        let class = |f: &ConfigFinding| {
            if f.family == crate::config::Family::Secret {
                "secret"
            } else {
                "config"
            }
        };
        let mut keys: Vec<(&str, &'static str, &'static str)> = self
            .misconfigs
            .iter()
            .chain(self.misconfigs_suppressed.iter().map(|s| &s.finding))
            .map(|f| (f.file.as_str(), class(f), f.family.as_str()))
            .collect();
        keys.sort();
        keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        for (file, cls, ty) in keys {
            out.push(ConfigTarget {
                file: file.to_string(),
                class: cls,
                ty,
                findings: self
                    .misconfigs
                    .iter()
                    .filter(|f| f.file == file && class(f) == cls)
                    .collect(),
                suppressed: self
                    .misconfigs_suppressed
                    .iter()
                    .filter(|s| s.finding.file == file && class(&s.finding) == cls)
                    .collect(),
            });
        }
        out
    }

    /// Targets as Trivy groups them: the OS packages, then one per lockfile / manifest / binary.
    pub(crate) fn targets(&self) -> Vec<(String, &'static str, String, Vec<&Finding>)> {
        let mut out: Vec<(String, &'static str, String, Vec<&Finding>)> = Vec::new();
        let os_target = match &self.inventory.os {
            Some(os) => format!("{} ({} {})", self.artifact_name, os.family, os.version),
            None => self.artifact_name.clone(),
        };
        let os_type = self
            .inventory
            .os
            .as_ref()
            .map(|o| o.family.clone())
            .unwrap_or_default();
        if self.inventory.os.is_some() || self.findings.iter().any(|f| f.kind.is_os()) {
            out.push((
                os_target,
                "os-pkgs",
                os_type,
                self.findings.iter().filter(|f| f.kind.is_os()).collect(),
            ));
        }
        let mut paths: Vec<(String, &'static str)> = self
            .inventory
            .packages
            .iter()
            .filter(|p| !p.kind.is_os())
            .map(|p| (p.path.clone(), p.kind.trivy_type()))
            .chain(
                self.findings
                    .iter()
                    .filter(|f| !f.kind.is_os())
                    .map(|f| (f.pkg_path.clone(), f.kind.trivy_type())),
            )
            .collect();
        paths.sort();
        paths.dedup();
        for (path, ty) in paths {
            let fs: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| !f.kind.is_os() && f.pkg_path == path && f.kind.trivy_type() == ty)
                .collect();
            out.push((path, "lang-pkgs", ty.to_string(), fs));
        }
        out
    }
}
