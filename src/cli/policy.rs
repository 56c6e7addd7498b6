//! `palisade policy validate|test`.

use std::path::PathBuf;
use std::process::ExitCode;

use palisade_policy::{policy_tests, PolicyBundle, PolicyError, PolicyVersion};

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Parse, link and validate a bundle (strictly, against its schema).
    Validate {
        /// The bundle directory.
        dir: PathBuf,
    },
    /// Run a bundle's `*.tests.json` files (or the given ones).
    Test {
        /// The bundle directory.
        dir: PathBuf,
        /// Test files; default: every `*.tests.json` under DIR.
        #[arg(long = "tests")]
        tests: Vec<PathBuf>,
    },
}

fn compile(dir: &std::path::Path, config: &Config) -> Result<PolicyVersion, PolicyError> {
    PolicyVersion::compile(
        PolicyBundle::from_dir(dir)?,
        config.policy.on_evaluation_error,
    )
}

pub fn run(config: Config, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Validate { dir } => match compile(&dir, &config) {
            Ok(v) => {
                println!(
                    "ok: {} policies, {} templates, {} entities{} (version {})",
                    v.policy_count(),
                    v.policies().templates().count(),
                    v.entity_count(),
                    if v.schema().is_some() {
                        ", validated against the schema"
                    } else {
                        ", no schema"
                    },
                    v.etag()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => report(e),
        },
        PolicyCommand::Test { dir, tests } => {
            let version = match compile(&dir, &config) {
                Ok(v) => v,
                Err(e) => return report(e),
            };
            let files = if tests.is_empty() {
                policy_tests::load_test_files(&dir)?
            } else {
                tests
                    .iter()
                    .map(|p| policy_tests::load_test_file(p))
                    .collect::<Result<_, _>>()?
            };
            let (mut passed, mut failed) = (0, 0);
            for (file, cases) in &files {
                for outcome in policy_tests::run_cases(&version, file, cases) {
                    if outcome.passed() {
                        passed += 1;
                        println!("PASS {}: {}", outcome.file, outcome.name);
                    } else {
                        failed += 1;
                        println!("FAIL {}: {}", outcome.file, outcome.name);
                        for m in &outcome.mismatches {
                            println!("     {m}");
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            if passed + failed == 0 {
                eprintln!("error: no test cases found");
                return Ok(ExitCode::from(2));
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn report(e: PolicyError) -> anyhow::Result<ExitCode> {
    match &e {
        PolicyError::Invalid(diags) => {
            for d in diags {
                eprintln!("error: {d}");
            }
            eprintln!("{} error(s)", diags.len());
            Ok(ExitCode::from(1))
        }
        _ => Err(e.into()),
    }
}
