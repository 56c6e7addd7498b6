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
                println!("{name}\tversion {v}");
            }
            SecretsCommand::List { prefix } => {
                for n in store.list(&prefix).await? {
                    println!("{n}");
                }
            }
            SecretsCommand::Delete { name } => {
                store.delete(&name).await?;
                println!("deleted {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
