//! The `palisade` command: argument parsing and wiring of the library crates.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod telemetry;

/// mimalloc: the decision path allocates and frees many small objects across
/// threads (requests on tokio workers, log records freed by the SQLite
/// writer), where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Palisade: zero-trust authorization, workload identity, scanning and compliance.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
struct Args {
    /// Configuration file (TOML). Also PALISADE_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (embedded store, keys). Also PALISADE_DATA_DIR.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log lines as text or JSON (observability.log_format). Also PALISADE_LOG_FORMAT.
    #[arg(long, global = true)]
    log_format: Option<telemetry::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the decision API server.
    Serve(cli::serve::ServeArgs),
    /// Validate and test policy bundles.
    #[command(subcommand)]
    Policy(cli::policy::PolicyCommand),
    /// Decide one request from the shell.
    Authorize(cli::authorize::AuthorizeArgs),
    /// Inspect the decision log.
    #[command(subcommand)]
    Audit(cli::audit::AuditCommand),
    /// The internal CA: init, issue, join tokens, revoke, list, CRL, bundle, rotation.
    #[command(subcommand)]
    Ca(cli::ca::CaCommand),
    /// Secrets: get, put, list, delete (local store, OpenBao, AWS Secrets Manager).
    Secrets(cli::secrets::SecretsArgs),
    /// Scan images, root filesystems, source trees and SBOMs for vulnerable packages.
    #[command(subcommand)]
    Scan(cli::scan::ScanCommand),
    /// One CI gate over saved JSON reports, images and configuration paths together.
    Gate(cli::scan::GateCommand),
    /// Update or inspect the vulnerability database.
    #[command(subcommand)]
    Db(cli::db::DbCommand),
    /// Compliance reports (SOC 2, HIPAA, GDPR): generate, verify a signed bundle, diff.
    Report(cli::compliance::ReportArgs),
    /// Back up the embedded store and the sealed key material (once, or --every 5m --keep N).
    Backup(cli::backup::BackupArgs),
    /// Restore a backup into the data directory (refuses a non-empty one without --force).
    Restore(cli::backup::RestoreArgs),
    /// Probe a running server (exit 0 when /readyz answers 2xx): the container's health check.
    Health(cli::health::HealthArgs),
    /// Benchmarks against the raw engine and peers.
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = (|| {
        let mut config = config::Config::load(args.config.as_deref())?;
        if let Some(d) = args.data_dir {
            config.data_dir = d;
        }
        if let Some(f) = args.log_format {
            config.observability.log_format = f;
        }
        // Flushes buffered spans when the command returns.
        let _telemetry = telemetry::init(&config.observability)?;
        match args.command {
            Command::Serve(a) => cli::serve::run(config, a),
            Command::Policy(c) => cli::policy::run(config, c),
            Command::Authorize(a) => cli::authorize::run(config, a),
            Command::Audit(c) => cli::audit::run(config, c),
            Command::Ca(c) => cli::ca::run(config, c),
            Command::Secrets(a) => cli::secrets::run(config, a),
            Command::Scan(c) => {
                let kind = c.kind();
                let _span =
                    tracing::info_span!("scan", otel.name = %format!("scan {kind}")).entered();
                cli::scan::run(config, c)
            }
            Command::Gate(a) => cli::scan::run_gate(config, a),
            Command::Db(c) => cli::db::run(config, c),
            Command::Report(a) => cli::compliance::run(config, a),
            Command::Backup(a) => cli::backup::run_backup(config, a),
            Command::Restore(a) => cli::backup::run_restore(config, a),
            Command::Health(a) => cli::health::run(config, a),
            Command::Bench(c) => cli::bench::run(config, c),
        }
    })();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
