//! What is installed: the operating system and the packages found by one analyzer per package kind.
//!
//! Analyzers work on one file's bytes at a time: [`wants`] says from a path (and size and mode) whether a file is
//! worth reading, [`analyze`] turns its bytes into an [`Analysis`]. Image layers, root filesystems and source
//! trees all feed files through this pair, so nothing is extracted to disk and only wanted files are read.

mod apk;
mod cargo;
mod dpkg;
mod golang;
mod npm;
mod os;
mod python;
mod rpm;
mod sqlite;

use serde::{Deserialize, Serialize};

pub use os::OsInfo;

/// The kind (ecosystem) of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    /// Debian / Ubuntu package (dpkg).
    Deb,
    /// Alpine package.
    Apk,
    /// RPM package.
    Rpm,
    /// Rust crate from a Cargo.lock.
    Cargo,
    /// npm package from a package-lock.json.
    Npm,
    /// Python distribution.
    Pip,
    /// Go module from go.mod.
    GoModule,
    /// Go module compiled into a binary.
    GoBinary,
}

impl PackageKind {
    /// True for operating system packages.
    pub fn is_os(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm)
    }

    /// Trivy's target type for language packages (`cargo`, `npm`, `python-pkg`, ...).
    pub fn trivy_type(self) -> &'static str {
        match self {
            PackageKind::Deb => "debian",
            PackageKind::Apk => "alpine",
            PackageKind::Rpm => "redhat",
            PackageKind::Cargo => "cargo",
            PackageKind::Npm => "npm",
            PackageKind::Pip => "python-pkg",
            PackageKind::GoModule => "gomod",
            PackageKind::GoBinary => "gobinary",
        }
    }

    /// The package URL type.
    pub fn purl_type(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Apk => "apk",
            PackageKind::Rpm => "rpm",
            PackageKind::Cargo => "cargo",
            PackageKind::Npm => "npm",
            PackageKind::Pip => "pypi",
            PackageKind::GoModule | PackageKind::GoBinary => "golang",
        }
    }
}

/// Which image layer a package came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Position in the image, bottom first.
    #[serde(skip)]
    pub index: usize,
    /// Digest of the (compressed) layer blob.
    #[serde(rename = "Digest", default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Digest of the uncompressed layer (`diff_id`).
    #[serde(rename = "DiffID", default, skip_serializing_if = "String::is_empty")]
    pub diff_id: String,
    /// The history line that created it, when known.
    #[serde(
        rename = "CreatedBy",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub created_by: String,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// Ecosystem.
    pub kind: PackageKind,
    /// Name (binary package name for OS packages).
    pub name: String,
    /// Installed version (with epoch for dpkg/rpm when there is one).
    pub version: String,
    /// Source package name (Debian/Ubuntu, Alpine origin, RPM source); equal to `name` when unknown.
    pub src_name: String,
    /// Source package version.
    pub src_version: String,
    /// Architecture, when recorded.
    pub arch: String,
    /// The file it was found in.
    pub path: String,
    /// The layer it came from (images only).
    pub layer: Option<LayerInfo>,
    /// RPM modularity label (`nodejs:12:8030020201124152102:229f0a1c`), empty for other packages.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub modularity_label: String,
}

impl Package {
    pub(crate) fn new(kind: PackageKind, name: &str, version: &str, path: &str) -> Package {
        Package {
            kind,
            name: name.to_string(),
            version: version.to_string(),
            src_name: name.to_string(),
            src_version: version.to_string(),
            arch: String::new(),
            path: path.to_string(),
            layer: None,
            modularity_label: String::new(),
        }
    }

    /// The package URL (`pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`).
    pub fn purl(&self, os: Option<&OsInfo>) -> String {
        fn enc(s: &str) -> String {
            let mut o = String::with_capacity(s.len());
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    o.push(b as char);
                } else {
                    o.push_str(&format!("%{b:02X}"));
                }
            }
            o
        }
        let (ns, name) = match self.kind {
            PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm => {
                (os.map(|o| o.family.clone()), enc(&self.name))
            }
            PackageKind::Npm => match self.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, n)) => (Some(format!("%40{}", enc(scope))), enc(n)),
                None => (None, enc(&self.name)),
            },
            PackageKind::GoModule | PackageKind::GoBinary => match self.name.rsplit_once('/') {
                Some((ns, n)) => (
                    Some(ns.split('/').map(enc).collect::<Vec<_>>().join("/")),
                    enc(n),
                ),
                None => (None, enc(&self.name)),
            },
            PackageKind::Pip => (None, enc(&python::normalize(&self.name))),
            PackageKind::Cargo => (None, enc(&self.name)),
        };
        let mut s = format!("pkg:{}/", self.kind.purl_type());
        if let Some(ns) = ns {
            s.push_str(&ns);
            s.push('/');
        }
        s.push_str(&name);
        s.push('@');
        s.push_str(&enc(&self.version));
        let mut q = Vec::new();
        if !self.arch.is_empty() {
            q.push(format!("arch={}", enc(&self.arch)));
        }
        if self.kind.is_os() {
            if let Some(os) = os {
                q.push(format!("distro={}-{}", enc(&os.family), enc(&os.version)));
            }
            if self.src_name != self.name || self.src_version != self.version {
                if self.src_version != self.version {
                    q.push(format!(
                        "upstream={}%40{}",
                        enc(&self.src_name),
                        enc(&self.src_version)
                    ));
                } else {
                    q.push(format!("upstream={}", enc(&self.src_name)));
                }
            }
        }
        if !q.is_empty() {
            s.push('?');
            s.push_str(&q.join("&"));
        }
        s
    }
}

/// What was found in a target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    /// The operating system, when one was detected.
    pub os: Option<OsInfo>,
    /// Packages, sorted by kind, file, name, version.
    pub packages: Vec<Package>,
    /// Files that were skipped or could not be parsed, with why.
    pub warnings: Vec<String>,
}

impl Inventory {
    /// Sorts packages and removes exact duplicates.
    pub fn normalize(&mut self) {
        self.packages.sort_by(|a, b| {
            (a.kind, &a.path, &a.name, &a.version).cmp(&(b.kind, &b.path, &b.name, &b.version))
        });
        self.packages.dedup_by(|a, b| {
            a.kind == b.kind && a.path == b.path && a.name == b.name && a.version == b.version
        });
    }
}

/// The analyzer a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `/etc/os-release`, `/usr/lib/os-release` and the fallbacks.
    OsRelease,
    /// `/var/lib/dpkg/status` or a `status.d/` file.
    Dpkg,
    /// `/lib/apk/db/installed`.
    Apk,
    /// `rpmdb.sqlite`.
    Rpm,
    /// `Cargo.lock`.
    CargoLock,
    /// `package-lock.json`.
    NpmLock,
    /// `*.dist-info/METADATA` or `*.egg-info/PKG-INFO`.
    PythonMetadata,
    /// `poetry.lock`.
    PoetryLock,
    /// `requirements*.txt`.
    Requirements,
    /// `go.mod`.
    GoMod,
    /// An executable that may be a Go binary.
    GoBinary,
}

/// Largest file an analyzer reads (Go binaries included).
pub const MAX_ANALYZED_FILE: u64 = 256 << 20;

/// Which analyzer (if any) wants the file at `path` (relative, `/`-separated, no leading slash).
/// `os_files` is false for source trees, where only lockfiles, manifests and Go binaries count.
pub fn wants(path: &str, size: u64, executable: bool, os_files: bool) -> Option<FileKind> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    let kind = match path {
        _ if os_files && os::PATHS.contains(&path) => FileKind::OsRelease,
        "var/lib/dpkg/status" if os_files => FileKind::Dpkg,
        _ if os_files && parent == "var/lib/dpkg/status.d" && !base.ends_with(".md5sums") => {
            FileKind::Dpkg
        }
        "lib/apk/db/installed" if os_files => FileKind::Apk,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" if os_files => {
            FileKind::Rpm
        }
        _ => match base {
            "Cargo.lock" => FileKind::CargoLock,
            "package-lock.json" => FileKind::NpmLock,
            "METADATA" if parent.ends_with(".dist-info") => FileKind::PythonMetadata,
            "PKG-INFO" if parent.ends_with(".egg-info") => FileKind::PythonMetadata,
            "poetry.lock" => FileKind::PoetryLock,
            "go.mod" => FileKind::GoMod,
            _ if base.starts_with("requirements") && base.ends_with(".txt") => {
                FileKind::Requirements
            }
            _ if executable && size >= 1024 => FileKind::GoBinary,
            _ => return None,
        },
    };
    if size > MAX_ANALYZED_FILE {
        return None;
    }
    Some(kind)
}

/// The result of analyzing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Analysis {
    /// An operating system identification.
    Os(OsInfo),
    /// Packages.
    Packages(Vec<Package>),
}

/// Runs the analyzer for `kind` on a file's bytes. `Ok(None)` = nothing of interest (e.g. not a Go binary).
pub fn analyze(kind: FileKind, path: &str, data: &[u8]) -> Result<Option<Analysis>, String> {
    let pkgs = |v: Vec<Package>| Ok(Some(Analysis::Packages(v)));
    match kind {
        FileKind::OsRelease => Ok(os::parse(path, data).map(Analysis::Os)),
        FileKind::Dpkg => pkgs(dpkg::parse(path, data)),
        FileKind::Apk => pkgs(apk::parse(path, data)),
        FileKind::Rpm => rpm::parse(path, data).and_then(pkgs),
        FileKind::CargoLock => cargo::parse(path, data).and_then(pkgs),
        FileKind::NpmLock => npm::parse(path, data).and_then(pkgs),
        FileKind::PythonMetadata => pkgs(python::parse_metadata(path, data)),
        FileKind::PoetryLock => python::parse_poetry(path, data).and_then(pkgs),
        FileKind::Requirements => pkgs(python::parse_requirements(path, data)),
        FileKind::GoMod => pkgs(golang::parse_gomod(path, data)),
        FileKind::GoBinary => match golang::parse_binary(path, data) {
            Some(v) => pkgs(v),
            None => Ok(None),
        },
    }
}

/// Normalises a package name the way the database keys it for an ecosystem (PEP 503 for pip, lower-case npm).
pub fn db_name(kind: PackageKind, name: &str) -> String {
    match kind {
        PackageKind::Pip => python::normalize(name),
        PackageKind::Npm | PackageKind::Cargo => name.to_string(),
        _ => name.to_string(),
    }
}

/// Combines per-file analyses into an inventory: the OS from the most specific file, packages with their layer.
pub fn assemble(
    results: Vec<(String, Option<LayerInfo>, Analysis)>,
    warnings: Vec<String>,
) -> Inventory {
    let mut inv = Inventory {
        warnings,
        ..Default::default()
    };
    let mut os_rank = usize::MAX;
    for (path, layer, a) in results {
        match a {
            Analysis::Os(o) => {
                let rank = os::PATHS
                    .iter()
                    .position(|p| *p == path)
                    .unwrap_or(usize::MAX - 1);
                if rank < os_rank {
                    os_rank = rank;
                    inv.os = Some(o);
                }
            }
            Analysis::Packages(ps) => {
                for mut p in ps {
                    p.layer = layer.clone();
                    inv.packages.push(p);
                }
            }
        }
    }
    inv.normalize();
    inv
}
