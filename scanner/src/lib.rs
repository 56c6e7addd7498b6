//! # palisade-scanner
//!
//! Finds vulnerable packages in container images, root filesystems, source trees and SBOMs, using the Trivy
//! vulnerability database (trivy-db v2), and decides whether a CI pipeline may go on.
//!
//! ## Design
//!
//! - [`image`]: image sources (`docker save` tarball, OCI layout directory or tar, registry reference, plain
//!   directory). Layers are streamed in order through [`layers`] (gzip, multi-frame zstd or plain tar, whiteouts,
//!   opaque directories, symlinks, hard links), bounded against hostile archives; nothing is extracted to disk.
//!   Every layer is hashed as it streams and checked against the manifest digest and the config's diff_id.
//! - [`inventory`]: one analyzer per package kind (dpkg, apk, rpm's SQLite database, Cargo, npm, Python, Go
//!   modules and binaries of every Go version in ELF, Mach-O and PE); each
//!   sees only the files it asked for. The result is an [`Inventory`] (OS + packages, each with the layer it came from).
//! - [`vulndb`]: a read-only, bounds-checked BoltDB reader over the memory-mapped Trivy database, lenient serde
//!   schemas for its JSON values, matching with Trivy's semantics ([`detect`]), and `db update` over OCI.
//! - [`version`]: dpkg, apk, rpm, semver, Go and PEP 440 comparators, Trivy's constraint strings and npm's
//!   node-semver ranges.
//! - [`report`]: table, Trivy-like JSON, SARIF 2.1.0 and CycloneDX 1.5 (SBOM, optionally with vulnerabilities).
//! - [`config`]: misconfigurations in Kubernetes manifests, Dockerfiles and Terraform; [`secrets`]: leaked
//!   credentials in any text file and in image layers.
//! - [`gate`]: thresholds, `--ignore-unfixed`, an ignore file with reasons and expiry dates, OpenVEX statements.
//!
//! ## Example
//!
//! ```no_run
//! use palisade_scanner::{detect, image::{Image, Platform}, layers::Limits, VulnDb};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = VulnDb::open(std::path::Path::new("/var/lib/palisade/db"))?;
//! let image = Image::open_local(std::path::Path::new("app.tar"), &Platform::default())?;
//! let inventory = image.inventory(&Limits::default(), &mut |_, _| {})?;
//! let mut warnings = Vec::new();
//! for f in detect(&db, &inventory, &mut warnings)? {
//!     println!("{} {} {} -> {}", f.id, f.pkg_name, f.installed_version, f.fixed_version);
//! }
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod gate;
pub mod image;
pub mod inventory;
pub mod layers;
pub mod report;
pub mod sbom;
pub mod scan;
pub mod secrets;
mod settings;
pub mod version;
pub mod vulndb;

pub use image::scan_source_tree;
pub use inventory::{Inventory, OsInfo, Package, PackageKind};
pub use settings::ScannerSettings;
pub use vulndb::matching::{detect, Finding};
pub use vulndb::schema::{Severity, Status};
pub use vulndb::{DbError, VulnDb};

/// Errors of a scan (not findings: those are results).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// An image archive, layout or layer is unreadable, corrupt or over a limit.
    #[error("image: {0}")]
    Archive(String),
    /// Talking to a registry failed.
    #[error("registry: {0}")]
    Registry(String),
    /// The vulnerability database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// An SBOM could not be read.
    #[error("SBOM: {0}")]
    Sbom(String),
    /// Gate configuration (ignore file, VEX document) is invalid.
    #[error("gate: {0}")]
    Gate(String),
    /// Configuration scanning: a check file is invalid, or the path cannot be read.
    #[error("config scan: {0}")]
    Config(String),
}
