//! `palisade bench authz`.

use std::process::ExitCode;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Authorization: raw engine, handler, HTTP.
    Authz,
}

pub fn run(_config: Config, _cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
