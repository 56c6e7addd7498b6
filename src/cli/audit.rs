//! `palisade audit verify|prune`.

use std::process::ExitCode;
use std::time::Duration;

use palisade_policy::decision_log::{self, AuditKeys};

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the decision log's hash chain; exit 1 at the first broken record.
    Verify {
        /// Ed25519 public key (hex) to check checkpoints with, instead of the
        /// data directory's key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Delete records older than the retention period, leaving a signed checkpoint.
    Prune {
        /// Keep this many seconds (default: decision_log.retention_seconds).
        #[arg(long)]
        keep_seconds: Option<u64>,
    },
}

pub fn run(config: Config, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = palisade_store::open(&config.store_url()).await?;
        match cmd {
            AuditCommand::Verify { public_key } => {
                let key = match public_key {
                    Some(h) => hex::decode(h.trim())?,
                    None => AuditKeys::load_or_create(&config.data_dir)?.public_key().to_vec(),
                };
                let report = decision_log::verify(store.as_ref(), &key).await?;
                if let Some(cp) = &report.checkpoint {
                    println!("checkpoint: records up to {} pruned at {} (signature ok)", cp.seq, cp.created_at);
                }
                match &report.broken {
                    None => {
                        println!(
                            "ok: {} records verified{}",
                            report.records,
                            match (report.first_seq, report.last_seq) {
                                (Some(a), Some(b)) => format!(" (seq {a}..={b})"),
                                _ => String::new(),
                            }
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Some(b) => {
                        println!("BROKEN at record {}: {} ({} records verified before it)", b.seq, b.reason, report.records);
                        Ok(ExitCode::from(1))
                    }
                }
            }
            AuditCommand::Prune { keep_seconds } => {
                let keep = keep_seconds
                    .or(config.decision_log.retention_seconds)
                    .ok_or_else(|| anyhow::anyhow!("no retention: pass --keep-seconds or set decision_log.retention_seconds"))?;
                let keys = AuditKeys::load_or_create(&config.data_dir)?;
                match decision_log::prune(store.as_ref(), &keys, Duration::from_secs(keep)).await? {
                    Some((cp, n)) => println!("pruned {n} records; checkpoint at seq {}", cp.seq),
                    None => println!("nothing older than {keep} s"),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
