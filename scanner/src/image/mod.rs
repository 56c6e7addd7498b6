//! Image sources: `docker save` archives, OCI image layouts (directory or tar), registries, and plain root
//! filesystem directories. Each yields its layers as streams, applied in order by [`crate::layers`].

mod digest;
pub(crate) mod registry;
mod rootfs;
mod store;

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::inventory::{self, Inventory, LayerInfo};
use crate::layers::{decompress, Limits, Tree};
use crate::ScanError;
use digest::Digesting;
pub use registry::{Credentials, Reference, RegistryClient};
pub use rootfs::{scan_rootfs, scan_source_tree};
use store::{read_json, BlobStore, DirStore, TarStore};

/// The platform to pick from a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v8`, ... (optional).
    pub variant: String,
}

impl Default for Platform {
    fn default() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: String::new(),
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut it = s.split('/');
        let os = it
            .next()
            .filter(|x| !x.is_empty())
            .ok_or("platform is os/arch[/variant]")?;
        let arch = it
            .next()
            .filter(|x| !x.is_empty())
            .ok_or("platform is os/arch[/variant]")?;
        Ok(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: it.next().unwrap_or_default().into(),
        })
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) rootfs: RootFs,
    #[serde(default)]
    pub(crate) history: Vec<History>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub(crate) diff_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct History {
    #[serde(default)]
    pub(crate) created_by: String,
    #[serde(default)]
    pub(crate) empty_layer: bool,
}

#[derive(Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) platform: Option<DescPlatform>,
    #[serde(default)]
    pub(crate) annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
pub(crate) struct DescPlatform {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) variant: String,
}

#[derive(Deserialize)]
pub(crate) struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    #[serde(default)]
    pub(crate) config: Option<Descriptor>,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
}

impl Manifest {
    pub(crate) fn is_index(&self) -> bool {
        !self.manifests.is_empty()
            || self.media_type.contains("index")
            || self.media_type.contains("manifest.list")
    }
}

/// Picks the manifest for `platform` from an index (exact os/arch, then variant when given).
pub(crate) fn pick_platform<'a>(
    manifests: &'a [Descriptor],
    platform: &Platform,
) -> Option<&'a Descriptor> {
    let matching: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
        })
        .collect();
    matching
        .iter()
        .find(|d| {
            platform.variant.is_empty()
                || d.platform
                    .as_ref()
                    .is_some_and(|p| p.variant == platform.variant)
        })
        .copied()
        .or_else(|| matching.first().copied())
        .or_else(|| {
            if manifests.len() == 1 {
                manifests.first()
            } else {
                None
            }
        })
}

pub(crate) fn layer_infos(config: &ConfigFile, digests: &[String]) -> Vec<LayerInfo> {
    let history: Vec<&History> = config.history.iter().filter(|h| !h.empty_layer).collect();
    (0..digests.len().max(config.rootfs.diff_ids.len()))
        .map(|i| LayerInfo {
            index: i,
            digest: digests.get(i).cloned().unwrap_or_default(),
            diff_id: config.rootfs.diff_ids.get(i).cloned().unwrap_or_default(),
            created_by: history
                .get(i)
                .map(|h| h.created_by.clone())
                .unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn blob_path(digest: &str) -> Result<String, ScanError> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| ScanError::Archive(format!("bad digest {digest:?}")))?;
    if alg.is_empty()
        || !alg.bytes().all(|b| b.is_ascii_alphanumeric())
        || hex.is_empty()
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(ScanError::Archive(format!("bad digest {digest:?}")));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

enum Layers {
    Local {
        store: Box<dyn BlobStore>,
        paths: Vec<String>,
        /// The digest each stored blob must have, when the layout names one (OCI: the manifest's layer
        /// digest; `docker save`: the `blobs/<alg>/<hex>` path of newer Docker versions).
        blob_digests: Vec<Option<String>>,
    },
    Remote {
        client: RegistryClient,
        reference: Reference,
        digests: Vec<String>,
    },
}

/// An image opened for scanning.
pub struct Image {
    /// What the user named.
    pub name: String,
    /// Config digest (the image id), when known.
    pub config_digest: String,
    /// OS of the image config.
    pub os: String,
    /// Architecture of the image config.
    pub architecture: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerInfo>,
    source: Layers,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("name", &self.name)
            .field("layers", &self.layers.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

const SMALL_JSON: u64 = 8 << 20;

impl Image {
    /// Opens a local image: a `docker save` tarball, an OCI archive, or an OCI layout directory.
    pub fn open_local(path: &Path, platform: &Platform) -> Result<Image, ScanError> {
        let store: Box<dyn BlobStore> = if path.is_dir() {
            Box::new(DirStore::new(path))
        } else if path.is_file() {
            Box::new(TarStore::open(path)?)
        } else {
            return Err(ScanError::Archive(format!(
                "{}: no such file or directory",
                path.display()
            )));
        };
        let name = path.display().to_string();
        if store.exists("manifest.json") {
            let entries: Vec<DockerManifestEntry> =
                read_json(store.as_ref(), "manifest.json", SMALL_JSON)?;
            let e = entries.into_iter().next().ok_or_else(|| {
                ScanError::Archive(format!("{name}: manifest.json lists no image"))
            })?;
            let config: ConfigFile = read_json(store.as_ref(), &e.config, SMALL_JSON)?;
            let layers = layer_infos(&config, &[]);
            if layers.len() != e.layers.len() {
                return Err(ScanError::Archive(format!(
                    "{name}: {} layers in manifest.json but {} diff_ids in the config",
                    e.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let id = e
                .config
                .trim_end_matches(".json")
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let _ = e.repo_tags;
            let blob_digests = e.layers.iter().map(|p| digest_of_blob_path(p)).collect();
            return Ok(Image {
                name,
                config_digest: format!("sha256:{}", id.trim_start_matches("sha256:")),
                os: config.os.clone(),
                architecture: config.architecture.clone(),
                layers,
                source: Layers::Local {
                    store,
                    paths: e.layers,
                    blob_digests,
                },
            });
        }
        if store.exists("index.json") {
            let mut m: Manifest = read_json(store.as_ref(), "index.json", SMALL_JSON)?;
            for _ in 0..4 {
                if !m.is_index() {
                    break;
                }
                let d = pick_platform(&m.manifests, platform).ok_or_else(|| {
                    ScanError::Archive(format!(
                        "{name}: no manifest for platform {}/{}",
                        platform.os, platform.architecture
                    ))
                })?;
                let p = blob_path(&d.digest)?;
                let _ = &d.annotations;
                m = read_json(store.as_ref(), &p, SMALL_JSON)?;
            }
            if m.is_index() {
                return Err(ScanError::Archive(format!(
                    "{name}: indexes nested too deep"
                )));
            }
            let cfg = m
                .config
                .as_ref()
                .ok_or_else(|| ScanError::Archive(format!("{name}: manifest has no config")))?;
            let config: ConfigFile =
                read_json(store.as_ref(), &blob_path(&cfg.digest)?, SMALL_JSON)?;
            let digests: Vec<String> = m.layers.iter().map(|l| l.digest.clone()).collect();
            let paths = digests
                .iter()
                .map(|d| blob_path(d))
                .collect::<Result<Vec<_>, _>>()?;
            if digests.len() != config.rootfs.diff_ids.len() {
                return Err(ScanError::Archive(format!(
                    "{name}: {} layers in the manifest but {} diff_ids in the config",
                    digests.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            return Ok(Image {
                name,
                config_digest: cfg.digest.clone(),
                os: config.os.clone(),
                architecture: config.architecture.clone(),
                layers: layer_infos(&config, &digests),
                source: Layers::Local {
                    store,
                    paths,
                    blob_digests: digests.into_iter().map(Some).collect(),
                },
            });
        }
        Err(ScanError::Archive(format!(
            "{name}: neither a `docker save` archive (manifest.json) nor an OCI layout (index.json)"
        )))
    }

    /// Resolves an image in a registry (manifest, platform, config); layers are streamed during the scan.
    pub fn open_remote(
        client: RegistryClient,
        reference: Reference,
        platform: &Platform,
    ) -> Result<Image, ScanError> {
        let (m, _) = client.manifest_for_platform(&reference, platform)?;
        let cfg = m
            .config
            .as_ref()
            .ok_or_else(|| ScanError::Registry(format!("{reference}: manifest has no config")))?;
        let cfg_bytes = client.blob_bytes(&reference, &cfg.digest, SMALL_JSON)?;
        let config: ConfigFile = serde_json::from_slice(&cfg_bytes)
            .map_err(|e| ScanError::Registry(format!("{reference}: bad image config: {e}")))?;
        let digests: Vec<String> = m.layers.iter().map(|l| l.digest.clone()).collect();
        if digests.len() != config.rootfs.diff_ids.len() {
            return Err(ScanError::Registry(format!(
                "{reference}: {} layers in the manifest but {} diff_ids in the config",
                digests.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        Ok(Image {
            name: reference.to_string(),
            config_digest: cfg.digest.clone(),
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            layers: layer_infos(&config, &digests),
            source: Layers::Remote {
                client,
                reference,
                digests,
            },
        })
    }

    /// Streams every layer through the analyzers and assembles the inventory. `progress(done, total)` is called
    /// after each layer.
    pub fn inventory(
        &self,
        limits: &Limits,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Inventory, ScanError> {
        Ok(self.inventory_and_secrets(limits, None, progress)?.0)
    }

    /// [`Image::inventory`], and the secrets `secrets` finds in every layer's files (each finding names its layer).
    pub fn inventory_and_secrets(
        &self,
        limits: &Limits,
        secrets: Option<std::sync::Arc<crate::secrets::SecretScanner>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(Inventory, Vec<crate::config::ConfigFinding>), ScanError> {
        let mut tree = Tree::new(limits, true);
        tree.secrets = secrets;
        let total = match &self.source {
            Layers::Local { paths, .. } => paths.len(),
            Layers::Remote { digests, .. } => digests.len(),
        };
        for i in 0..total {
            let diff_id = self.layers.get(i).map(|l| l.diff_id.as_str()).unwrap_or("");
            match &self.source {
                Layers::Local {
                    store,
                    paths,
                    blob_digests,
                } => {
                    let what = format!("layer {i} ({})", paths[i]);
                    let r = store.open(&paths[i])?;
                    match &blob_digests[i] {
                        Some(blob) => {
                            let mut raw = Digesting::for_digest(r, blob)
                                .map_err(|e| ScanError::Archive(format!("{what}: {e}")))?;
                            let applied = apply_verified(&mut tree, i, &mut raw, diff_id, limits);
                            // Whatever else went wrong, a blob that is not the one the manifest names is
                            // the error to report (its digest covers the compressed bytes too).
                            let blob_check = raw
                                .drain(u64::MAX)
                                .map_err(|e| e.to_string())
                                .and_then(|got| digest::check(&got, blob));
                            blob_check.map_err(|e| {
                                ScanError::Archive(format!(
                                    "{what} does not match the manifest ({e}): the image is corrupt or was tampered with"
                                ))
                            })?;
                            applied.map_err(|e| prefix_archive(&what, e))?;
                        }
                        None => apply_verified(&mut tree, i, r, diff_id, limits)
                            .map_err(|e| prefix_archive(&what, e))?,
                    }
                }
                Layers::Remote {
                    client,
                    reference,
                    digests,
                } => {
                    let what = format!("layer {i} ({})", digests[i]);
                    let mut r = client.blob_stream(reference, &digests[i])?;
                    apply_verified(&mut tree, i, &mut r, diff_id, limits)
                        .map_err(|e| prefix_archive(&what, e))?;
                    r.finish()?;
                }
            }
            progress(i + 1, total);
        }
        let secrets = std::mem::take(&mut tree.secret_findings);
        let (results, warnings) = tree.finish();
        let results = results
            .into_iter()
            .map(|(p, l, a)| (p, self.layers.get(l).cloned(), a))
            .collect();
        Ok((inventory::assemble(results, warnings), secrets))
    }
}

/// The digest a `docker save` layer path names (`blobs/sha256/<hex>`), if it has that shape.
fn digest_of_blob_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    (!hex.contains('/')).then(|| format!("{alg}:{hex}"))
}

fn prefix_archive(what: &str, e: ScanError) -> ScanError {
    match e {
        ScanError::Archive(m) => ScanError::Archive(format!("{what}: {m}")),
        other => other,
    }
}

/// Decompresses one layer and applies it to `tree`, checking the uncompressed stream against the config's
/// `diff_id` (required: an image config lists one per layer).
fn apply_verified(
    tree: &mut Tree,
    index: usize,
    raw: impl Read,
    diff_id: &str,
    limits: &Limits,
) -> Result<(), ScanError> {
    let mut plain = Digesting::for_digest(decompress(raw)?, diff_id)
        .map_err(|e| ScanError::Archive(format!("the config's diff_id: {e}")))?;
    tree.apply_layer(index, Box::new(&mut plain), limits)?;
    // apply_layer read the stream to its end (under the decompression cap).
    digest::check(&plain.digest(), diff_id).map_err(|e| {
        ScanError::Archive(format!(
            "uncompressed content does not match the config's diff_id ({e}): the image is corrupt or was tampered with"
        ))
    })
}
