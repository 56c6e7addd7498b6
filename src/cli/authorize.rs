//! `palisade authorize`: one decision from the shell, on a local bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use palisade_policy::{DecisionRequest, PolicyBundle, PolicyVersion};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct AuthorizeArgs {
    /// The bundle directory.
    #[arg(long)]
    policies: PathBuf,
    /// Principal uid, e.g. 'User::"alice"'.
    #[arg(long)]
    principal: String,
    /// Action uid, e.g. 'Action::"read"'.
    #[arg(long)]
    action: String,
    /// Resource uid, e.g. 'Document::"roadmap"'.
    #[arg(long)]
    resource: String,
    /// Context as a JSON object.
    #[arg(long)]
    context: Option<String>,
    /// Request-scoped entities as a JSON array (Cedar entity format).
    #[arg(long)]
    entities: Option<String>,
}

pub fn run(config: Config, a: AuthorizeArgs) -> anyhow::Result<ExitCode> {
    let version = PolicyVersion::compile(
        PolicyBundle::from_dir(&a.policies)?,
        config.policy.on_evaluation_error,
    )?;
    let uid = |s: &str, what: &str| {
        s.parse::<cedar_policy::EntityUid>()
            .map_err(|e| anyhow::anyhow!("--{what}: {e}"))
    };
    let json = |s: &Option<String>, what: &str| -> anyhow::Result<Option<serde_json::Value>> {
        s.as_deref()
            .map(|t| serde_json::from_str(t).map_err(|e| anyhow::anyhow!("--{what}: {e}")))
            .transpose()
    };
    let decision = version.decide(&DecisionRequest {
        principal: uid(&a.principal, "principal")?,
        action: uid(&a.action, "action")?,
        resource: uid(&a.resource, "resource")?,
        context: json(&a.context, "context")?,
        entities: json(&a.entities, "entities")?,
    });
    println!(
        "{}",
        serde_json::json!({
            "decision": if decision.allowed { "Allow" } else { "Deny" },
            "reasons": decision.reasons,
            "errors": decision.errors,
            "policy_version": version.etag(),
        })
    );
    // Exit status a script can test: 0 allow, 1 deny.
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
