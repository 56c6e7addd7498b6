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
    /// Configuration: Kubernetes manifests, Dockerfiles, Terraform, and leaked secrets in any file.
    Config(crate::cli::scan_config::ScanConfigArgs),
}

#[derive(Debug, Clone, clap::Args)]
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
    /// Keep a signed summary of the gated report as compliance evidence: in the configured store
    /// (`store_url`), or on `palisade serve` with --server (see `palisade report`).
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    server: crate::cli::server_client::ServerArgs,
}

/// `--record`: keeps the gated report's signed summary.
pub(crate) fn record(
    config: &Config,
    report: &Report,
    a: &GateArgs,
    code: ExitCode,
) -> anyhow::Result<()> {
    if a.record {
        let passed = code == ExitCode::SUCCESS;
        let threshold = a.fail_on.map(|s| s.to_string());
        let kept = crate::cli::compliance::record_scan(
            config,
            &report.render(Format::Json),
            passed,
            threshold,
            &a.server,
        )?;
        eprintln!("gate: recorded {kept}");
    }
    Ok(())
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
    /// Do not search the image's layers (or the tree's files) for leaked secrets.
    #[arg(long)]
    skip_secrets: bool,
    /// Largest file searched for secrets, in bytes (default: [scanner] secret_max_file_bytes, 2 MiB); bigger
    /// ones are skipped with a warning.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    secret_max_file_bytes: Option<u64>,
    #[command(flatten)]
    gate: GateArgs,
}

pub(crate) fn parse_severity(s: &str) -> Result<Severity, String> {
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

/// Applies the gate to a report (vulnerabilities and misconfigurations alike), prints diagnostics, and returns the
/// exit code.
pub(crate) fn apply_gate(report: &mut Report, a: &GateArgs) -> anyhow::Result<ExitCode> {
    let cfg = gate_config(a)?;
    let findings = std::mem::take(&mut report.findings);
    let misconfigs = std::mem::take(&mut report.misconfigs);
    let outcome = gate::evaluate_all(findings, misconfigs, &cfg, today(), &report.artifact_name);
    for d in &outcome.diagnostics {
        eprintln!("gate: {d}");
    }
    report.findings = outcome.remaining.clone();
    report.suppressed = outcome.suppressed.clone();
    report.misconfigs = outcome.remaining_config.clone();
    report
        .misconfigs_suppressed
        .extend(outcome.suppressed_config.iter().cloned());
    if let Some(t) = cfg.fail_on {
        if outcome.passed() {
            eprintln!(
                "gate: passed: no finding at or above {t} ({} suppressed)",
                outcome.suppressed.len() + outcome.suppressed_config.len()
            );
        } else {
            eprintln!(
                "gate: FAILED: {} finding(s) at or above {t} ({} suppressed)",
                outcome.blocking,
                outcome.suppressed.len() + outcome.suppressed_config.len()
            );
            return Ok(ExitCode::from(a.exit_code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn write_out(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).context("writing the report")
        }
    }
}

impl ScanCommand {
    /// `config`, `image`, `fs`, `rootfs` or `sbom` (the trace span's name).
    pub fn kind(&self) -> &'static str {
        match self {
            ScanCommand::Config(_) => "config",
            ScanCommand::Image { .. } => "image",
            ScanCommand::Fs { .. } => "fs",
            ScanCommand::Rootfs { .. } => "rootfs",
            ScanCommand::Sbom { .. } => "sbom",
        }
    }
}

pub fn run(config: Config, cmd: ScanCommand) -> anyhow::Result<ExitCode> {
    let (target, common, platform) = match cmd {
        ScanCommand::Config(a) => return crate::cli::scan_config::run(config, a),
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
    let secrets = (!common.skip_secrets).then(|| {
        let s = settings.secret_scanner();
        let cap = common.secret_max_file_bytes.unwrap_or(s.max_file_bytes);
        std::sync::Arc::new(s.with_max_file_bytes(cap))
    });
    let mut report =
        palisade_scanner::scan::scan_with_secrets(&db, &target, &opts, secrets, &mut progress)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(p) = &common.sbom_output {
        write_out(Some(p), &report.sbom())?;
    }
    let code = apply_gate(&mut report, &common.gate)?;
    record(&config, &report, &common.gate, code)?;
    write_out(common.output.as_ref(), &report.render(common.format))?;
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct GateCommand {
    /// JSON reports written by `palisade scan ... --format json` (any number, with --image and --config-path).
    reports: Vec<PathBuf>,
    /// Scan this image too (archive, OCI layout or registry reference) for vulnerabilities and secrets;
    /// repeatable.
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    /// Scan this configuration path too (directory, file or `-`) for misconfigurations and secrets; repeatable.
    #[arg(long = "config-path", value_name = "PATH")]
    config_paths: Vec<PathBuf>,
    /// The vulnerability database for --image (trivy.db or its directory); default: [scanner] db_dir.
    #[arg(long, env = "PALISADE_SCANNER_DB")]
    db: Option<PathBuf>,
    /// Platform to pick from multi-platform images (os/arch[/variant]).
    #[arg(long)]
    platform: Option<Platform>,
    /// Plain HTTP to the registry.
    #[arg(long)]
    plain_http: bool,
    /// Pod Security Standards profile for Kubernetes (--config-path): baseline or restricted.
    #[arg(long, default_value = "restricted")]
    profile: palisade_scanner::config::Profile,
    /// A file of your own checks and secret rules (TOML, see docs/checks.md); repeatable.
    #[arg(long = "checks")]
    checks: Vec<PathBuf>,
    /// Do not run this check (id); repeatable.
    #[arg(long = "skip-check")]
    skip_check: Vec<String>,
    #[command(flatten)]
    gate: GateArgs,
    /// table, json, sarif, cyclonedx: render the gated report.
    #[arg(long, short, default_value = "table")]
    format: Format,
    /// Write the gated report here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// `palisade gate [REPORT.json...] [--image REF...] [--config-path PATH...]`: saved reports, images and
/// configuration scanned now, one gate over all of them (one ignore file, one threshold, one exit code).
pub fn run_gate(config: Config, a: GateCommand) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !(a.reports.is_empty() && a.images.is_empty() && a.config_paths.is_empty()),
        "nothing to gate: give saved JSON reports, --image REF or --config-path PATH"
    );
    let mut parts = Vec::new();
    for p in &a.reports {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let j = palisade_scanner::report::read_json_report(&bytes)
            .with_context(|| p.display().to_string())?;
        parts.push(Report::from_json(j));
    }
    if !a.images.is_empty() {
        let db_path =
            a.db.clone()
                .unwrap_or_else(|| config.scanner.db_dir(&config.data_dir));
        let db = VulnDb::open(&db_path)?;
        let opts = ScanOptions {
            limits: config.scanner.limits(),
            platform: a.platform.clone().unwrap_or_default(),
            plain_http: a.plain_http || config.scanner.registry_plain_http,
        };
        let secrets = std::sync::Arc::new(config.scanner.secret_scanner());
        for image in &a.images {
            parts.push(
                palisade_scanner::scan::scan_with_secrets(
                    &db,
                    &Target::Image(image.clone()),
                    &opts,
                    Some(secrets.clone()),
                    &mut |_, _| {},
                )
                .with_context(|| format!("scanning {image}"))?,
            );
        }
    }
    if !a.config_paths.is_empty() {
        let cat = crate::cli::scan_config::catalogue(&a.checks, &a.skip_check)?;
        for p in &a.config_paths {
            parts.push(crate::cli::scan_config::config_report(
                &config, p, &cat, a.profile, None,
            )?);
        }
    }
    let mut report = Report::merge(parts).context("nothing was scanned")?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let code = apply_gate(&mut report, &a.gate)?;
    record(&config, &report, &a.gate, code)?;
    write_out(a.output.as_ref(), &report.render(a.format))?;
    Ok(code)
}

/// Options of `palisade bench scan`.
#[derive(Debug, clap::Args)]
pub struct BenchScanArgs {
    /// The image archive to scan (default: the cached Debian test image, built by
    /// scripts/testdata/scanner-image.sh).
    #[arg(long)]
    image: Option<PathBuf>,
    /// The vulnerability database (default: [scanner] db_dir).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The syft binary (default: `syft` from scripts/testdata/syft.sh).
    #[arg(long)]
    syft: Option<PathBuf>,
    /// Runs of each tool (alternating); the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub(crate) struct Measured {
    pub(crate) seconds: f64,
    pub(crate) peak_kib: u64,
}

/// Runs a command to completion, sampling its peak resident set (VmHWM, monotonic) from /proc.
pub(crate) fn measure(cmd: &mut std::process::Command) -> anyhow::Result<Measured> {
    let start = std::time::Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        anyhow::bail!("{cmd:?} failed ({status}): {err}");
    }
    Ok(Measured {
        seconds,
        peak_kib: peak,
    })
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(crate) fn script_env(
    script: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let out = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {script}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// `palisade bench scan`: the whole scan (inventory + matching + JSON report) of an image archive, side by side
/// with syft (inventory only) on the same archive; checks that the OS package inventories are equal.
pub fn bench(config: Config, a: BenchScanArgs) -> anyhow::Result<ExitCode> {
    let image = match a.image {
        Some(p) => p,
        None => PathBuf::from(
            &script_env("scripts/testdata/scanner-image.sh")?["PALISADE_TEST_DOCKER_ARCHIVE"],
        ),
    };
    let syft = match a.syft {
        Some(p) => p,
        None => PathBuf::from(&script_env("scripts/testdata/syft.sh")?["SYFT"]),
    };
    let db =
        a.db.unwrap_or_else(|| config.scanner.db_dir(&config.data_dir));
    VulnDb::open(&db).with_context(|| "bench scan needs a database (--db)".to_string())?;
    let exe = std::env::current_exe()?;
    let tmp = std::env::temp_dir().join(format!("palisade-bench-scan-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let sbom_ours = tmp.join("ours.cdx.json");
    let sbom_syft = tmp.join("syft.cdx.json");
    let runs = a.runs.max(1);
    let (mut ours, mut theirs) = (vec![], vec![]);
    let (mut ours_peak, mut syft_peak) = (0u64, 0u64);
    for _ in 0..runs {
        let m = measure(
            std::process::Command::new(&exe)
                .arg("scan")
                .arg("image")
                .arg(&image)
                .arg("--db")
                .arg(&db)
                .args(["--format", "json", "--quiet", "--output"])
                .arg(tmp.join("report.json"))
                .arg("--sbom-output")
                .arg(&sbom_ours),
        )?;
        ours.push(m.seconds);
        ours_peak = ours_peak.max(m.peak_kib);
        let m = measure(
            std::process::Command::new(&syft)
                .arg("scan")
                .arg(format!("docker-archive:{}", image.display()))
                .arg("-q")
                .arg("-o")
                .arg(format!("cyclonedx-json={}", sbom_syft.display()))
                .env("SYFT_CHECK_FOR_APP_UPDATE", "false"),
        )?;
        theirs.push(m.seconds);
        syft_peak = syft_peak.max(m.peak_kib);
    }
    let os_set = |p: &PathBuf| -> anyhow::Result<std::collections::BTreeSet<(String, String)>> {
        let inv = palisade_scanner::sbom::read_cyclonedx(&std::fs::read(p)?)?;
        Ok(inv
            .packages
            .into_iter()
            .filter(|p| p.kind.is_os())
            .map(|p| (p.name, p.version))
            .collect())
    };
    let (a_set, b_set) = (os_set(&sbom_ours)?, os_set(&sbom_syft)?);
    let (mo, mt) = (median(ours.clone()), median(theirs.clone()));
    println!(
        "image: {}  ({} runs each, alternating)",
        image.display(),
        runs
    );
    let db_file = if db.is_dir() {
        db.join("trivy.db")
    } else {
        db.clone()
    };
    let db_bytes = std::fs::metadata(&db_file).map_or(0, |m| m.len());
    println!("database: {} ({} MiB)", db.display(), db_bytes >> 20);
    println!("palisade scan (inventory + matching + JSON report): median {:.3} s  runs {:?}  peak RSS {} MiB", mo, ours.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>(), ours_peak / 1024);
    println!("syft (inventory only, CycloneDX):                   median {:.3} s  runs {:?}  peak RSS {} MiB", mt, theirs.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>(), syft_peak / 1024);
    println!("ratio: palisade is {:.1}x faster than syft", mt / mo);
    println!(
        "OS packages: palisade {}, syft {}, equal: {}",
        a_set.len(),
        b_set.len(),
        a_set == b_set
    );
    for d in a_set.symmetric_difference(&b_set).take(20) {
        println!("  differs: {} {}", d.0, d.1);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(if a_set == b_set {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
