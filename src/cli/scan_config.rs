//! `palisade scan config PATH`: Kubernetes manifests, Dockerfiles, Terraform and leaked secrets, through the same
//! report formats and gate as image scans.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_scanner::config::{self, Catalogue, ConfigOptions, Profile};
use palisade_scanner::report::{ArtifactType, Format, Report};
use palisade_scanner::secrets::{self, RulesFile};

use crate::cli::scan::{apply_gate, record, write_out, GateArgs};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ScanConfigArgs {
    /// A directory (walked, honouring .gitignore-style excludes), one file, or `-` for standard input.
    pub path: PathBuf,
    /// table, json, sarif.
    #[arg(long, short, default_value = "table")]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Pod Security Standards profile for Kubernetes: baseline or restricted.
    #[arg(long, default_value = "restricted")]
    pub profile: Profile,
    /// A file of your own checks and secret rules (TOML, see docs/checks.md); repeatable.
    #[arg(long = "checks")]
    pub checks: Vec<PathBuf>,
    /// Do not run this check (id); repeatable.
    #[arg(long = "skip-check")]
    pub skip_check: Vec<String>,
    /// List the checks (id, severity, title, cross-references) and exit.
    #[arg(long)]
    pub list_checks: bool,
    /// Largest file read, parsed and searched for secrets, in bytes (default: [scanner] config_max_file_bytes,
    /// 8 MiB). A configuration file over it is a PAL-CFG-001 finding, any other file a warning; the scan goes on.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_file_bytes: Option<u64>,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// The catalogue with the user's check files.
pub(crate) fn catalogue(checks: &[PathBuf], skip: &[String]) -> anyhow::Result<Catalogue> {
    let mut custom = RulesFile::default();
    for p in checks {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("check file {}", p.display()))?;
        let f = secrets::parse_rules_file(&text, &p.display().to_string())
            .map_err(anyhow::Error::msg)?;
        custom.check.extend(f.check);
        custom.secret.extend(f.secret);
        custom.allowlist.paths.extend(f.allowlist.paths);
        custom.allowlist.values.extend(f.allowlist.values);
    }
    Ok(Catalogue::from_rules(&custom, skip)?)
}

/// Scans one path into a report (no gate applied); `max_file_bytes` overrides `[scanner] config_max_file_bytes`.
pub(crate) fn config_report(
    config: &Config,
    path: &std::path::Path,
    cat: &Catalogue,
    profile: Profile,
    max_file_bytes: Option<u64>,
) -> anyhow::Result<Report> {
    let opts = ConfigOptions {
        max_file_bytes: max_file_bytes.unwrap_or(config.scanner.config_max_file_bytes),
        profile,
        ..ConfigOptions::default()
    };
    let scan = config::scan_path(path, cat, &opts)?;
    Ok(Report {
        artifact_name: path.display().to_string(),
        artifact_type: ArtifactType::Config,
        image_id: String::new(),
        layers: vec![],
        inventory: Default::default(),
        findings: vec![],
        suppressed: vec![],
        misconfigs: scan.findings,
        misconfigs_suppressed: scan.suppressed,
        warnings: scan.warnings,
    })
}

pub fn run(config: Config, a: ScanConfigArgs) -> anyhow::Result<ExitCode> {
    if a.list_checks {
        let cat = catalogue(&a.checks, &a.skip_check)?;
        let mut out = String::new();
        for c in cat.checks() {
            let refs: Vec<&str> = c
                .checkov
                .iter()
                .chain(&c.trivy)
                .map(String::as_str)
                .collect();
            out.push_str(&format!(
                "{:<12} {:<8} {}  [{}]\n",
                c.id,
                c.severity.as_str(),
                c.title,
                refs.join(", ")
            ));
        }
        write_out(a.output.as_ref(), &out)?;
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        a.format != Format::CycloneDx,
        "--format cyclonedx is for package inventories; use table, json or sarif"
    );
    let cat = catalogue(&a.checks, &a.skip_check)?;
    let mut report = config_report(&config, &a.path, &cat, a.profile, a.max_file_bytes)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let code = apply_gate(&mut report, &a.gate)?;
    write_out(a.output.as_ref(), &report.render(a.format))?;
    record(&config, &report, &a.gate, code)?;
    Ok(code)
}
