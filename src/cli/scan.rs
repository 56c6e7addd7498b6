//! `palisade scan` and `palisade gate`: vulnerability scanning and the CI gate.
//!
//! Exit codes: 0 = passed (or no threshold), the `--exit-code` value (default 1) = findings at or above
//! `--fail-on`, 2 = the scan itself failed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_scanner::gate::{self, GateConfig};
use palisade_scanner::image::Platform;
use palisade_scanner::report::{Format, Report};
use palisade_scanner::scan::{ScanOptions, Target};
use palisade_scanner::{Severity, VulnDb};

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ScanCommand {
    /// A container image: `docker save` tarball, OCI layout (dir or tar), or a registry reference.
    Image {
        /// Path or reference (e.g. registry.example.com/app:1.2).
        image: String,
        #[command(flatten)]
        common: CommonArgs,
        /// Platform to pick from a multi-platform index (os/arch[/variant]).
        #[arg(long)]
        platform: Option<Platform>,
    },
    /// A source tree: lockfiles and manifests anywhere below DIR (honouring .gitignore).
    Fs {
        /// The directory.
        dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// An unpacked root filesystem.
    Rootfs {
        /// The directory.
        dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// A CycloneDX JSON SBOM made by another tool (syft, Trivy).
    Sbom {
        /// The SBOM file.
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Fail when a finding at or above this severity remains (unknown, low, medium, high, critical).
    #[arg(long, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// Suppress findings that have no fixed version.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Ignore file (TOML: [[ignore]] id, reason, expires, optional package).
    #[arg(long)]
    ignore_file: Option<PathBuf>,
    /// OpenVEX document(s); `not_affected` and `fixed` statements suppress findings.
    #[arg(long)]
    vex: Vec<PathBuf>,
    /// Exit code when the gate fails.
    #[arg(long, default_value_t = 1)]
    exit_code: u8,
}

#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The vulnerability database (trivy.db or its directory); default: [scanner] db_dir.
    #[arg(long, env = "PALISADE_SCANNER_DB")]
    db: Option<PathBuf>,
    /// table, json, sarif, cyclonedx.
    #[arg(long, short, default_value = "table")]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Also write the package inventory as a CycloneDX SBOM.
    #[arg(long)]
    sbom_output: Option<PathBuf>,
    /// Plain HTTP to the registry.
    #[arg(long)]
    plain_http: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    gate: GateArgs,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("{s:?} is not one of unknown, low, medium, high, critical"))
}

fn gate_config(a: &GateArgs) -> anyhow::Result<GateConfig> {
    let mut cfg = GateConfig {
        fail_on: a.fail_on,
        ignore_unfixed: a.ignore_unfixed,
        ..GateConfig::default()
    };
    if let Some(p) = &a.ignore_file {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("ignore file {}", p.display()))?;
        cfg.ignores = gate::parse_ignore_file(&text).with_context(|| p.display().to_string())?;
    }
    for p in &a.vex {
        let bytes = std::fs::read(p).with_context(|| format!("VEX document {}", p.display()))?;
        cfg.vex
            .extend(gate::parse_openvex(&bytes).with_context(|| p.display().to_string())?);
    }
    Ok(cfg)
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Applies the gate to a report, prints diagnostics, and returns the exit code.
fn apply_gate(report: &mut Report, a: &GateArgs) -> anyhow::Result<ExitCode> {
    let cfg = gate_config(a)?;
    let findings = std::mem::take(&mut report.findings);
    let outcome = gate::evaluate(findings, &cfg, today(), &report.artifact_name);
    for d in &outcome.diagnostics {
        eprintln!("gate: {d}");
    }
    report.findings = outcome.remaining.clone();
    report.suppressed = outcome.suppressed.clone();
    if let Some(t) = cfg.fail_on {
        if outcome.passed() {
            eprintln!(
                "gate: passed: no finding at or above {t} ({} suppressed)",
                outcome.suppressed.len()
            );
        } else {
            eprintln!(
                "gate: FAILED: {} finding(s) at or above {t} ({} suppressed)",
                outcome.blocking,
                outcome.suppressed.len()
            );
            return Ok(ExitCode::from(a.exit_code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_out(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).context("writing the report")
        }
    }
}

pub fn run(config: Config, cmd: ScanCommand) -> anyhow::Result<ExitCode> {
    let (target, common, platform) = match cmd {
        ScanCommand::Image {
            image,
            common,
            platform,
        } => (Target::Image(image), common, platform),
        ScanCommand::Fs { dir, common } => (Target::Fs(dir), common, None),
        ScanCommand::Rootfs { dir, common } => (Target::Rootfs(dir), common, None),
        ScanCommand::Sbom { file, common } => (Target::Sbom(file), common, None),
    };
    let settings = &config.scanner;
    let db_path = common
        .db
        .clone()
        .unwrap_or_else(|| settings.db_dir(&config.data_dir));
    let db = VulnDb::open(&db_path)?;
    if let Some(m) = db.metadata() {
        if let Ok(t) = time::OffsetDateTime::parse(
            &m.updated_at,
            &time::format_description::well_known::Rfc3339,
        ) {
            let age = time::OffsetDateTime::now_utc() - t;
            if age.whole_hours() > settings.db_max_age_hours as i64 {
                eprintln!(
                    "warning: the vulnerability database is {} hours old; run `palisade db update`",
                    age.whole_hours()
                );
            }
        }
    }
    let opts = ScanOptions {
        limits: settings.limits(),
        platform: platform.unwrap_or_default(),
        plain_http: common.plain_http || settings.registry_plain_http,
    };
    let show_progress = !common.quiet && std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if show_progress {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\rlayers [{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    };
    let mut report = palisade_scanner::scan::scan(&db, &target, &opts, &mut progress)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(p) = &common.sbom_output {
        write_out(Some(p), &report.sbom())?;
    }
    let code = apply_gate(&mut report, &common.gate)?;
    write_out(common.output.as_ref(), &report.render(common.format))?;
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct GateCommand {
    /// A JSON report written by `palisade scan --format json`.
    report: PathBuf,
    #[command(flatten)]
    gate: GateArgs,
    /// table, json, sarif, cyclonedx: re-render the gated report.
    #[arg(long, short, default_value = "table")]
    format: Format,
    /// Write the gated report here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// `palisade gate REPORT.json`: applies the gate to a saved report.
pub fn run_gate(_config: Config, a: GateCommand) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&a.report).with_context(|| format!("reading {}", a.report.display()))?;
    let j = palisade_scanner::report::read_json_report(&bytes)?;
    let mut report = palisade_scanner::report::Report::from_json(j);
    let code = apply_gate(&mut report, &a.gate)?;
    write_out(a.output.as_ref(), &report.render(a.format))?;
    Ok(code)
}
