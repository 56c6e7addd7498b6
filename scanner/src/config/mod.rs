//! Configuration scanning: Kubernetes manifests, Dockerfiles and Terraform (AWS), with findings that point at
//! file, line and field; and leaked secrets ([`crate::secrets`]) in every file walked.
//!
//! ## Design
//!
//! - Every parser ([`yaml`], [`hcl`], [`dockerfile`]) turns a file into the same line-carrying [`doc::Node`] tree,
//!   bounded in size and depth; a file that cannot be parsed becomes a `PAL-CFG-001` finding with its position (the
//!   gate does not pass a file it could not read), and the scan goes on with the next file.
//! - Checks live in one family per file kind ([`kubernetes`], [`dockerfile`], [`terraform`]), each with its
//!   catalogue (`checks.toml`: ids, severities, risks, remediations, Checkov/Trivy cross-references, compliance
//!   controls) and its code. Most checks are declarative, evaluated by [`rules`] — the same engine that runs the
//!   users' own checks; the rest (cross-document facts, ranges, policies) are code in the family's `mod.rs`.
//! - Suppression in place: a comment `palisade:ignore ID reason` on the offending line or the line above it, or a
//!   Kubernetes annotation `ignore.palisade.dev/ID: reason`. The reason is mandatory.
//! - Every file walked (configuration or not) is also searched for secrets, under the secret scanner's size cap;
//!   secret rules are listed, skipped and suppressed like checks.

pub mod doc;
mod dockerfile;
mod hcl;
mod kubernetes;
pub mod rules;
mod suppress;
mod terraform;
mod yaml;

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use kubernetes::Profile;
pub use rules::{parse_check_file, CheckDef, CheckMeta};

use crate::secrets::{RulesFile, SecretScanner, SkipTally};
use crate::vulndb::schema::Severity;
use crate::ScanError;

/// The kind of configuration a check or finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Kubernetes manifests.
    Kubernetes,
    /// Dockerfiles.
    Dockerfile,
    /// Terraform.
    Terraform,
    /// Leaked secrets.
    Secret,
    /// Files that could not be read or parsed.
    File,
}

impl Family {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Kubernetes => "kubernetes",
            Family::Dockerfile => "dockerfile",
            Family::Terraform => "terraform",
            Family::Secret => "secret",
            Family::File => "file",
        }
    }
}

/// Where a parser stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What went wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: u32, column: u32, message: &str) -> ParseError {
        ParseError {
            line: line.max(1),
            column: column.max(1),
            message: message.to_string(),
        }
    }
}

fn ser_sev<S: serde::Serializer>(s: &Severity, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

fn de_sev<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    let s = String::deserialize(d)?;
    Severity::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown severity {s:?}")))
}

/// Cross-references of a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct References {
    /// Checkov ids.
    #[serde(rename = "Checkov", default, skip_serializing_if = "Vec::is_empty")]
    pub checkov: Vec<String>,
    /// Trivy ids.
    #[serde(rename = "Trivy", default, skip_serializing_if = "Vec::is_empty")]
    pub trivy: Vec<String>,
}

impl References {
    /// Every id, Checkov's first.
    pub fn ids(&self) -> Vec<&str> {
        self.checkov
            .iter()
            .chain(&self.trivy)
            .map(String::as_str)
            .collect()
    }
}

/// One misconfiguration or leaked secret. Secret values never appear in it: only a redacted prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFinding {
    /// Check id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Check title.
    #[serde(rename = "Title")]
    pub title: String,
    /// Severity.
    #[serde(
        rename = "Severity",
        serialize_with = "ser_sev",
        deserialize_with = "de_sev"
    )]
    pub severity: Severity,
    /// File kind.
    #[serde(rename = "Type")]
    pub family: Family,
    /// File, as the walk named it.
    #[serde(rename = "File")]
    pub file: String,
    /// 1-based line of the offending field.
    #[serde(rename = "Line")]
    pub line: u32,
    /// Path of the offending field in the document.
    #[serde(rename = "Field", default)]
    pub field: String,
    /// The object it is in (`Deployment/prod/web`, `aws_s3_bucket.logs`, `stage build`).
    #[serde(rename = "Object", default)]
    pub object: String,
    /// What is wrong, here.
    #[serde(rename = "Message")]
    pub message: String,
    /// Why it matters.
    #[serde(rename = "Description", default)]
    pub risk: String,
    /// How to fix it.
    #[serde(rename = "Resolution", default)]
    pub remediation: String,
    /// Equivalent ids in other tools.
    #[serde(rename = "References", default)]
    pub references: References,
    /// Compliance controls the check supports.
    #[serde(rename = "Controls", default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
}

impl ConfigFinding {
    pub(crate) fn new(
        meta: &CheckMeta,
        family: Family,
        file: &str,
        line: u32,
        field: String,
        object: String,
        message: String,
    ) -> Self {
        ConfigFinding {
            id: meta.id.clone(),
            title: meta.title.clone(),
            severity: meta.severity,
            family,
            file: file.to_string(),
            line,
            field,
            object,
            message,
            risk: meta.risk.clone(),
            remediation: meta.remediation.clone(),
            references: References {
                checkov: meta.checkov.clone(),
                trivy: meta.trivy.clone(),
            },
            controls: meta.controls.clone(),
        }
    }
}

/// A finding suppressed in place or by the ignore file, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressedConfig {
    /// The finding.
    #[serde(rename = "Finding")]
    pub finding: ConfigFinding,
    /// Why.
    #[serde(rename = "Statement")]
    pub reason: String,
}

/// The checks a scan runs: the built-in catalogues plus the user's own.
#[derive(Debug)]
pub struct Catalogue {
    checks: Vec<rules::Check>,
    file_error: Arc<CheckMeta>,
    secrets: Arc<SecretScanner>,
}

fn builtin_defs() -> Vec<CheckDef> {
    let mut defs = Vec::new();
    for (text, origin) in [
        (kubernetes::CATALOGUE, "kubernetes/checks.toml"),
        (dockerfile::CATALOGUE, "dockerfile/checks.toml"),
        (terraform::CATALOGUE, "terraform/checks.toml"),
        (FILE_CATALOGUE, "config/mod.rs"),
    ] {
        defs.extend(parse_check_file(text, origin).expect("built-in catalogue parses (tested)"));
    }
    defs
}

const FILE_CATALOGUE: &str = r#"
[[check]]
id = "PAL-CFG-001"
title = "Configuration file could not be parsed"
severity = "medium"
risk = "A file that cannot be parsed was not checked: whatever it deploys is unknown to the gate."
remediation = "Fix the syntax error at the position shown, or exclude the file (.gitignore-style) if it is not configuration."
"#;

impl Catalogue {
    /// The built-in checks plus `custom` ones (from users' check files), with `skip` ids left out.
    pub fn new(custom: &[CheckDef], skip: &[String]) -> Result<Catalogue, ScanError> {
        Catalogue::from_rules(
            &RulesFile {
                check: custom.to_vec(),
                ..RulesFile::default()
            },
            skip,
        )
    }

    /// The built-in checks and secret rules plus the user's (`custom`: checks, secret rules, allowlist), with
    /// `skip` ids left out.
    pub fn from_rules(custom: &RulesFile, skip: &[String]) -> Result<Catalogue, ScanError> {
        let custom_checks = &custom.check;
        let secrets = SecretScanner::new(custom, skip).map_err(ScanError::Config)?;
        let mut defs = builtin_defs();
        let builtin_secrets =
            crate::secrets::parse_rules_file(crate::secrets::BUILTIN_RULES, "secrets")
                .map_err(ScanError::Config)?;
        defs.extend(
            builtin_secrets
                .secret
                .iter()
                .chain(&custom.secret)
                .map(|d| d.as_check()),
        );
        for c in custom_checks {
            if c.target.is_none() {
                return Err(ScanError::Config(format!("check {}: needs a target", c.id)));
            }
        }
        defs.extend(custom_checks.iter().cloned());
        let mut checks = rules::compile(&defs, true).map_err(ScanError::Config)?;
        for s in skip {
            if !checks.iter().any(|c| &c.meta.id == s) {
                return Err(ScanError::Config(format!(
                    "--skip-check {s}: no such check"
                )));
            }
        }
        let file_error = checks
            .iter()
            .find(|c| c.meta.id == "PAL-CFG-001")
            .map(|c| c.meta.clone())
            .ok_or_else(|| ScanError::Config("PAL-CFG-001 missing".into()))?;
        checks.retain(|c| !skip.contains(&c.meta.id));
        Ok(Catalogue {
            checks,
            file_error,
            secrets: Arc::new(secrets),
        })
    }

    /// The secret scanner with this catalogue's rules.
    pub fn secrets(&self) -> &Arc<SecretScanner> {
        &self.secrets
    }

    /// Every check's metadata, in catalogue order.
    pub fn checks(&self) -> impl Iterator<Item = &CheckMeta> {
        self.checks.iter().map(|c| &*c.meta)
    }

    /// The metadata of a check by id (code checks look themselves up here; a skipped check is absent).
    pub(crate) fn meta(&self, id: &str) -> Option<&Arc<CheckMeta>> {
        self.checks
            .iter()
            .find(|c| c.meta.id == id)
            .map(|c| &c.meta)
    }

    pub(crate) fn declarative(&self, family: Family) -> impl Iterator<Item = &rules::Check> {
        self.checks
            .iter()
            .filter(move |c| c.target.is_some_and(|t| t.family() == family))
    }
}

/// Default per-file size cap of configuration scans ([`ConfigOptions::max_file_bytes`]).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 << 20;

/// How to scan configuration.
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// Largest file read, parsed and searched for secrets. A configuration file over it is a `PAL-CFG-001`
    /// finding (it was not checked), any other file a warning (not searched for secrets); the scan goes on.
    pub max_file_bytes: u64,
    /// Kubernetes Pod Security Standards profile.
    pub profile: Profile,
    /// Most files one walk visits.
    pub max_files: usize,
}

impl Default for ConfigOptions {
    fn default() -> Self {
        ConfigOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            profile: Profile::Restricted,
            max_files: 1_000_000,
        }
    }
}

/// Result of a configuration scan.
#[derive(Debug, Clone, Default)]
pub struct ConfigScan {
    /// Findings, ordered by file and line.
    pub findings: Vec<ConfigFinding>,
    /// Findings suppressed in place (comments, annotations).
    pub suppressed: Vec<SuppressedConfig>,
    /// Files looked at.
    pub files: usize,
    /// Notes for the user (skipped files, invalid suppressions).
    pub warnings: Vec<String>,
}

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// YAML or JSON (Kubernetes when documents have `apiVersion` and `kind`).
    Yaml,
    /// A Dockerfile / Containerfile.
    Dockerfile,
    /// Terraform HCL.
    Terraform,
    /// Anything else (skipped).
    Other,
}

/// The kind of a file from its name, or from its content when the name says nothing (stdin).
pub fn detect_kind(name: &str, content: &[u8]) -> FileKind {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    if lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
    {
        return FileKind::Dockerfile;
    }
    if lower.ends_with(".tf") {
        return FileKind::Terraform;
    }
    if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
        return FileKind::Yaml;
    }
    if name == "-" {
        let text = String::from_utf8_lossy(&content[..content.len().min(4096)]);
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let word = first
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if word == "FROM" || word == "ARG" {
            return FileKind::Dockerfile;
        }
        if [
            "resource",
            "variable",
            "provider",
            "terraform",
            "module",
            "data",
            "locals",
            "output",
        ]
        .iter()
        .any(|k| first.starts_with(&format!("{k} ")) || first.starts_with(&format!("{k}{{")))
        {
            return FileKind::Terraform;
        }
        return FileKind::Yaml;
    }
    FileKind::Other
}

struct FileScan<'a> {
    cat: &'a Catalogue,
    opts: &'a ConfigOptions,
    out: ConfigScan,
    cluster: kubernetes::ClusterFacts,
    /// Terraform files by directory: variables and locals are shared by the files of a directory.
    terraform: std::collections::BTreeMap<String, Vec<(String, String)>>,
    /// Files secret detection skipped.
    secret_skips: SkipTally,
}

impl FileScan<'_> {
    fn file_error(&mut self, file: &str, e: &ParseError) {
        let m = self.cat.file_error.clone();
        self.out.findings.push(ConfigFinding::new(
            &m,
            Family::File,
            file,
            e.line,
            String::new(),
            String::new(),
            format!("{file}:{}:{}: {}", e.line, e.column, e.message),
        ));
    }

    /// Searches a file for secrets (findings go through in-place suppression with the file's other findings).
    fn secrets(&mut self, name: &str, bytes: &[u8], found: &mut Vec<ConfigFinding>) {
        let cap = self.opts.max_file_bytes;
        match self.cat.secrets.scan_capped(name, "", bytes, cap) {
            Ok(f) => found.extend(f),
            Err(s) => self.secret_skips.skipped(name, s, cap),
        }
    }

    fn scan_bytes(&mut self, name: &str, bytes: &[u8]) {
        self.out.files += 1;
        let kind = detect_kind(name, bytes);
        let mut found = Vec::new();
        self.secrets(name, bytes, &mut found);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                self.keep(name, &String::from_utf8_lossy(bytes), found);
                if kind != FileKind::Other {
                    let upto = &bytes[..e.valid_up_to()];
                    let line = upto.iter().filter(|b| **b == b'\n').count() as u32 + 1;
                    let col = upto.iter().rev().take_while(|b| **b != b'\n').count() as u32 + 1;
                    self.file_error(name, &ParseError::new(line, col, "invalid UTF-8"));
                }
                return;
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> Result<(), ParseError> {
                match kind {
                    FileKind::Yaml => kubernetes::scan(
                        self.cat,
                        self.opts.profile,
                        name,
                        text,
                        &mut found,
                        &mut self.out.suppressed,
                        &mut self.cluster,
                    ),
                    FileKind::Dockerfile => dockerfile::scan(self.cat, name, text, &mut found),
                    FileKind::Terraform => {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                        self.terraform
                            .entry(dir)
                            .or_default()
                            .push((name.to_string(), text.to_string()));
                        Ok(())
                    }
                    FileKind::Other => Ok(()),
                }
            },
        ));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.file_error(name, &e),
            Err(_) => self.file_error(
                name,
                &ParseError::new(
                    1,
                    1,
                    "internal error while parsing (please report this file)",
                ),
            ),
        }
        self.keep(name, text, found);
    }

    /// Applies the file's in-place suppressions to `found` and keeps the result.
    fn keep(&mut self, name: &str, text: &str, found: Vec<ConfigFinding>) {
        let (kept, suppressed, warnings) = suppress::in_place(text, found);
        self.out.findings.extend(kept);
        self.out.suppressed.extend(suppressed);
        self.out
            .warnings
            .extend(warnings.into_iter().map(|w| format!("{name}: {w}")));
    }

    fn finish(mut self) -> ConfigScan {
        let skips = std::mem::take(&mut self.secret_skips);
        self.out.warnings.extend(skips.finish());
        self.cluster.finish(self.cat, &mut self.out.findings);
        for files in std::mem::take(&mut self.terraform).values() {
            let mut found = Vec::new();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                terraform::scan_dir(self.cat, files, &mut found)
            }));
            let errors = result.unwrap_or_else(|_| {
                files
                    .iter()
                    .map(|(n, _)| {
                        (
                            n.clone(),
                            ParseError::new(
                                1,
                                1,
                                "internal error while checking (please report this file)",
                            ),
                        )
                    })
                    .collect()
            });
            for (name, e) in errors {
                self.file_error(&name, &e);
            }
            for (name, text) in files {
                let mine = found.iter().filter(|f| &f.file == name).cloned().collect();
                self.keep(name, text, mine);
            }
        }
        self.out
            .findings
            .sort_by(|a, b| (&a.file, a.line, &a.id).cmp(&(&b.file, b.line, &b.id)));
        self.out.findings.dedup();
        self.out
    }
}

/// Scans a directory (honouring `.gitignore`-style excludes), one file, or `-` (standard input).
pub fn scan_path(
    path: &Path,
    cat: &Catalogue,
    opts: &ConfigOptions,
) -> Result<ConfigScan, ScanError> {
    let mut fs = FileScan {
        cat,
        opts,
        out: ConfigScan::default(),
        cluster: Default::default(),
        terraform: Default::default(),
        secret_skips: Default::default(),
    };
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(opts.max_file_bytes + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ScanError::Config(format!("standard input: {e}")))?;
        if buf.len() as u64 > opts.max_file_bytes {
            return Err(ScanError::Config(format!(
                "standard input: larger than the per-file size cap ({} bytes)",
                opts.max_file_bytes
            )));
        }
        fs.scan_bytes("-", &buf);
        return Ok(fs.finish());
    }
    if path.is_file() {
        scan_one(&mut fs, path, &path.display().to_string());
        return Ok(fs.finish());
    }
    if !path.is_dir() {
        return Err(ScanError::Config(format!(
            "{}: no such file or directory",
            path.display()
        )));
    }
    for e in walk(path, true) {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                fs.out.warnings.push(err.to_string());
                continue;
            }
        };
        if !e.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if fs.out.files >= opts.max_files {
            fs.out
                .warnings
                .push(format!("stopped after {} files", opts.max_files));
            break;
        }
        let rel = e.path().strip_prefix(path).unwrap_or(e.path());
        let name = Path::new(path).join(rel).display().to_string();
        scan_one(&mut fs, e.path(), &name);
    }
    Ok(fs.finish())
}

/// Walks a directory in path order, not following links, skipping `.git`, honouring `.gitignore`-style excludes
/// when `gitignore`.
pub(crate) fn walk(path: &Path, gitignore: bool) -> ignore::Walk {
    let mut wb = ignore::WalkBuilder::new(path);
    wb.follow_links(false)
        .hidden(false)
        .parents(false)
        .git_ignore(gitignore)
        .git_exclude(gitignore)
        .git_global(false)
        .ignore(gitignore)
        .require_git(false)
        .max_depth(Some(256))
        .sort_by_file_path(|a, b| a.cmp(b))
        .filter_entry(|e| e.file_name() != ".git");
    wb.build()
}

/// Scans one in-memory file.
pub fn scan_bytes(name: &str, bytes: &[u8], cat: &Catalogue, opts: &ConfigOptions) -> ConfigScan {
    let mut fs = FileScan {
        cat,
        opts,
        out: ConfigScan::default(),
        cluster: Default::default(),
        terraform: Default::default(),
        secret_skips: Default::default(),
    };
    fs.scan_bytes(name, bytes);
    fs.finish()
}

fn scan_one(fs: &mut FileScan<'_>, path: &Path, name: &str) {
    let kind = detect_kind(name, &[]);
    if kind == FileKind::Other {
        let scanner = fs.cat.secrets.clone();
        if let Some(bytes) =
            scanner.read_capped(path, name, fs.opts.max_file_bytes, &mut fs.secret_skips)
        {
            fs.scan_bytes(name, &bytes);
        }
        return;
    }
    let bytes = match std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        f.take(fs.opts.max_file_bytes + 1)
            .read_to_end(&mut buf)
            .map(|_| buf)
    }) {
        Ok(b) => b,
        Err(e) => {
            fs.out.warnings.push(format!("{name}: {e}"));
            return;
        }
    };
    if bytes.len() as u64 > fs.opts.max_file_bytes {
        fs.out.files += 1;
        fs.file_error(
            name,
            &ParseError::new(
                1,
                1,
                &format!(
                    "larger than the per-file size cap ({} bytes), not parsed or searched for secrets",
                    fs.opts.max_file_bytes
                ),
            ),
        );
        return;
    }
    fs.scan_bytes(name, &bytes);
}
