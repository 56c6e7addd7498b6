//! `palisade secrets get|put|list|delete`: the secrets layer from the shell.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use palisade_secrets::{OpenOptions, SecretValue, MAX_VALUE_LEN};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::config::Config;

/// `[secrets]` in the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// Backend URL; empty means `local:<data_dir>/secrets.json`.
    pub url: String,
    /// Master key file of the local store (when PALISADE_SECRETS_KEY is not
    /// set); empty means `<data_dir>/secrets.key`.
    pub master_key_file: Option<PathBuf>,
}

impl SecretsSettings {
    pub fn url(&self, config: &Config) -> String {
        if let Ok(u) = std::env::var("PALISADE_SECRETS_URL") {
            if !u.is_empty() {
                return u;
            }
        }
        if self.url.is_empty() {
            format!("local:{}", config.data_dir.join("secrets.json").display())
        } else {
            self.url.clone()
        }
    }

    pub fn open_options(&self, config: &Config) -> OpenOptions {
        OpenOptions {
            master_key_file: Some(
                self.master_key_file
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("secrets.key")),
            ),
            vault_token: None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SecretsArgs {
    /// Backend URL (local:PATH, openbao+http://HOST:PORT/MOUNT, aws-sm://REGION?...).
    /// Also PALISADE_SECRETS_URL; default local:<data_dir>/secrets.json.
    #[arg(long, global = true)]
    url: Option<String>,
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Show a secret's name, version and size; its value only with --reveal.
    Get {
        name: String,
        /// A specific version (default: the latest).
        #[arg(long)]
        version: Option<String>,
        /// Print the value itself to standard output (exactly its bytes).
        #[arg(long)]
        reveal: bool,
    },
    /// Store a new version; the value is read from standard input or a file,
    /// never from the command line.
    Put {
        name: String,
        /// Read the value from this file instead of standard input.
        #[arg(long)]
        from_file: Option<PathBuf>,
    },
    /// List secret names (values are not read).
    List {
        /// Only names starting with this.
        #[arg(default_value = "")]
        prefix: String,
        /// Also each secret's metadata from Palisade's store: versions
        /// written through Palisade, latest version, last change and by whom.
        #[arg(long)]
        long: bool,
    },
    /// Delete every version of a secret.
    Delete { name: String },
}

pub fn run(config: Config, args: SecretsArgs) -> anyhow::Result<ExitCode> {
    let settings = config.secrets.clone();
    let url = args.url.unwrap_or_else(|| settings.url(&config));
    let opts = settings.open_options(&config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = palisade_secrets::open(&url, &opts).await?;
        let backend = store.describe();
        // Metadata of every change goes to Palisade's store, opened before
        // the change: a change whose metadata could not be kept is not made.
        let meta = || async { palisade_store::open(&config.store_url()).await };
        match args.command {
            SecretsCommand::Get {
                name,
                version,
                reveal,
            } => {
                let s = store.get(&name, version.as_deref()).await?;
                if reveal {
                    let mut out = std::io::stdout().lock();
                    out.write_all(s.value.expose())?;
                    out.flush()?;
                } else {
                    println!(
                        "{}\tversion {}\t{} bytes\t(use --reveal to print the value)",
                        s.name,
                        s.version,
                        s.value.len()
                    );
                }
            }
            SecretsCommand::Put { name, from_file } => {
                let meta = meta().await?;
                let mut buf = Zeroizing::new(Vec::new());
                match &from_file {
                    Some(p) => {
                        let f = std::fs::File::open(p)
                            .with_context(|| format!("cannot read {}", p.display()))?;
                        f.take(MAX_VALUE_LEN as u64 + 1).read_to_end(&mut buf)?;
                    }
                    None => {
                        std::io::stdin()
                            .take(MAX_VALUE_LEN as u64 + 1)
                            .read_to_end(&mut buf)?;
                    }
                }
                let v = store.put(&name, SecretValue::new(buf.to_vec())).await?;
                record(meta.as_ref(), &backend, &name, Some(&v)).await?;
                println!("{name}\tversion {v}");
            }
            SecretsCommand::List { prefix, long } => {
                let names = store.list(&prefix).await?;
                if long {
                    let known: std::collections::BTreeMap<_, _> = meta()
                        .await?
                        .secret_metadata(&backend)
                        .await?
                        .into_iter()
                        .map(|m| (m.name.clone(), m))
                        .collect();
                    println!("NAME\tVERSIONS\tLATEST\tUPDATED\tBY");
                    for n in names {
                        match known.get(&n) {
                            Some(m) => println!(
                                "{n}\t{}\t{}\t{}\t{}",
                                m.versions,
                                m.latest_version.as_deref().unwrap_or("-"),
                                m.updated_at,
                                m.updated_by
                            ),
                            // Written to the backend by something else.
                            None => println!("{n}\t-\t-\t-\t(not written through palisade)"),
                        }
                    }
                } else {
                    for n in names {
                        println!("{n}");
                    }
                }
            }
            SecretsCommand::Delete { name } => {
                let meta = meta().await?;
                store.delete(&name).await?;
                record(meta.as_ref(), &backend, &name, None).await?;
                println!("deleted {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Keeps the metadata of a change (`version`: the one written; `None`: a
/// deletion) in Palisade's store.
async fn record(
    meta: &dyn palisade_store::Store,
    backend: &str,
    name: &str,
    version: Option<&str>,
) -> anyhow::Result<()> {
    let event = palisade_store::SecretEvent {
        backend: backend.to_owned(),
        name: name.to_owned(),
        version: version.map(str::to_owned),
        operation: if version.is_some() { "put" } else { "delete" }.to_owned(),
        at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        actor: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned()),
    };
    meta.record_secret_event(&event).await.with_context(|| {
        format!("{name} was changed in {backend}, but its metadata could not be recorded")
    })
}
