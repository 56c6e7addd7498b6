//! One call from a target to a [`Report`]: open, inventory, match.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::config::ConfigFinding;
use crate::image::{Credentials, Image, Platform, Reference, RegistryClient};
use crate::inventory::Inventory;
use crate::layers::Limits;
use crate::report::{ArtifactType, Report};
use crate::secrets::SecretScanner;
use crate::vulndb::matching::detect;
use crate::{ScanError, VulnDb};

/// What to scan.
#[derive(Debug, Clone)]
pub enum Target {
    /// A local image (docker archive, OCI layout dir or tar) or, when no such path exists, a registry reference.
    Image(String),
    /// A source tree (lockfiles and manifests, `.gitignore` honoured).
    Fs(PathBuf),
    /// An unpacked root filesystem.
    Rootfs(PathBuf),
    /// A CycloneDX JSON SBOM.
    Sbom(PathBuf),
}

/// How to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Archive bounds.
    pub limits: Limits,
    /// Platform to pick from multi-platform images.
    pub platform: Platform,
    /// Plain HTTP for registries.
    pub plain_http: bool,
}

/// Builds the inventory of a target. `progress(done, total)` reports layers for images.
pub fn inventory(
    target: &Target,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<
    (
        Inventory,
        ArtifactType,
        String,
        Vec<crate::inventory::LayerInfo>,
    ),
    ScanError,
> {
    inventory_and_secrets(target, opts, None, progress).map(|(i, t, id, l, _)| (i, t, id, l))
}

type Scanned = (
    Inventory,
    ArtifactType,
    String,
    Vec<crate::inventory::LayerInfo>,
    Vec<ConfigFinding>,
);

/// [`inventory`], and the leaked secrets `secrets` finds: in every layer of an image, in every file of a source
/// tree or root filesystem (SBOMs have none).
pub fn inventory_and_secrets(
    target: &Target,
    opts: &ScanOptions,
    secrets: Option<Arc<SecretScanner>>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Scanned, ScanError> {
    let tree_secrets = |dir: &Path, gitignore: bool, inv: &mut Inventory| match &secrets {
        Some(s) => {
            let (found, warnings) = s.scan_tree(dir, gitignore);
            inv.warnings.extend(warnings);
            found
        }
        None => vec![],
    };
    Ok(match target {
        Target::Image(name) => {
            let image = if Path::new(name).exists() {
                Image::open_local(Path::new(name), &opts.platform)?
            } else {
                let r: Reference = name.parse()?;
                let creds = Credentials::from_environment(&r.registry);
                Image::open_remote(
                    RegistryClient::new(creds, opts.plain_http),
                    r,
                    &opts.platform,
                )?
            };
            let (inv, found) = image.inventory_and_secrets(&opts.limits, secrets, progress)?;
            (
                inv,
                ArtifactType::ContainerImage,
                image.config_digest.clone(),
                image.layers.clone(),
                found,
            )
        }
        Target::Fs(dir) => {
            let mut inv = crate::image::scan_source_tree(dir, &opts.limits)?;
            let found = tree_secrets(dir, true, &mut inv);
            (inv, ArtifactType::Filesystem, String::new(), vec![], found)
        }
        Target::Rootfs(dir) => {
            let mut inv = crate::image::scan_rootfs(dir, &opts.limits)?;
            let found = tree_secrets(dir, false, &mut inv);
            (inv, ArtifactType::Rootfs, String::new(), vec![], found)
        }
        Target::Sbom(file) => {
            let meta = std::fs::metadata(file)
                .map_err(|e| ScanError::Sbom(format!("{}: {e}", file.display())))?;
            if meta.len() > 512 << 20 {
                return Err(ScanError::Sbom(format!(
                    "{}: larger than 512 MiB",
                    file.display()
                )));
            }
            let bytes = std::fs::read(file)
                .map_err(|e| ScanError::Sbom(format!("{}: {e}", file.display())))?;
            (
                crate::sbom::read_cyclonedx(&bytes)?,
                ArtifactType::Cyclonedx,
                String::new(),
                vec![],
                vec![],
            )
        }
    })
}

/// Scans a target against `db`.
pub fn scan(
    db: &VulnDb,
    target: &Target,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, ScanError> {
    scan_with_secrets(db, target, opts, None, progress)
}

/// Scans a target against `db`, and for leaked secrets with `secrets` (see [`inventory_and_secrets`]).
pub fn scan_with_secrets(
    db: &VulnDb,
    target: &Target,
    opts: &ScanOptions,
    secrets: Option<Arc<SecretScanner>>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, ScanError> {
    let (inventory, artifact_type, image_id, layers, misconfigs) =
        self::inventory_and_secrets(target, opts, secrets, progress)?;
    let mut warnings = inventory.warnings.clone();
    let findings = detect(db, &inventory, &mut warnings)?;
    let artifact_name = match target {
        Target::Image(n) => n.clone(),
        Target::Fs(p) | Target::Rootfs(p) | Target::Sbom(p) => p.display().to_string(),
    };
    Ok(Report {
        artifact_name,
        artifact_type,
        image_id,
        layers,
        inventory,
        findings,
        suppressed: vec![],
        misconfigs,
        misconfigs_suppressed: vec![],
        warnings,
    })
}
