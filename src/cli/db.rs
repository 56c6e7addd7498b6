//! `palisade db`: update and inspect the vulnerability database.

use std::process::ExitCode;

use anyhow::Context as _;
use palisade_scanner::image::{Credentials, Reference, RegistryClient};
use palisade_scanner::VulnDb;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Download the database (an OCI artifact, as Trivy publishes it), verify its digest, install it atomically.
    Update {
        /// Artifact reference; default: [scanner] db_repository.
        #[arg(long)]
        repository: Option<String>,
        /// Plain HTTP to the registry.
        #[arg(long)]
        plain_http: bool,
    },
    /// Show the installed database's metadata and age.
    Status,
}

pub fn run(config: Config, cmd: DbCommand) -> anyhow::Result<ExitCode> {
    let dir = config.scanner.db_dir(&config.data_dir);
    match cmd {
        DbCommand::Update {
            repository,
            plain_http,
        } => {
            let repo = repository.unwrap_or_else(|| config.scanner.db_repository.clone());
            let r: Reference = repo.parse()?;
            let client = RegistryClient::new(
                Credentials::from_environment(&r.registry),
                plain_http || config.scanner.registry_plain_http,
            );
            let installed = palisade_scanner::vulndb::update::update(&client, &r, &dir)
                .with_context(|| format!("updating from {r}"))?;
            println!(
                "installed {} ({} bytes) from {r}\n  manifest {}\n  layer    {}",
                dir.join("trivy.db").display(),
                installed.db_bytes,
                installed.manifest_digest,
                installed.layer_digest
            );
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Status => {
            let db = VulnDb::open(&dir)?;
            println!("database:   {}", dir.join("trivy.db").display());
            match db.metadata() {
                Some(m) => {
                    println!("version:    {}", m.version);
                    println!("updated at: {}", m.updated_at);
                    println!("next:       {}", m.next_update);
                    println!("downloaded: {}", m.downloaded_at);
                    if let Ok(t) = time::OffsetDateTime::parse(
                        &m.updated_at,
                        &time::format_description::well_known::Rfc3339,
                    ) {
                        let age = time::OffsetDateTime::now_utc() - t;
                        println!("age:        {} hours", age.whole_hours());
                        if age.whole_hours() > config.scanner.db_max_age_hours as i64 {
                            println!(
                                "stale:      yes (older than {} hours): run `palisade db update`",
                                config.scanner.db_max_age_hours
                            );
                        }
                    }
                }
                None => println!("metadata:   none (metadata.json missing)"),
            }
            let names = db.bucket_names()?;
            println!("buckets:    {}", names.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
