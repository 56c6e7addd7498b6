//! Evidence: what the running system and its store say, each piece with its
//! source, the time the fact was observed, the time it was collected and the
//! SHA-256 of its content (RFC 8785 canonical JSON).
//!
//! One module per source family: [`ca`] (issuers, ledger, CRL, bundle),
//! [`authz`] (policy versions, the decision log), [`scans`] (records of the
//! CI gate) and [`runtime`] (configuration, secrets backend, data directory).
//! Collectors never fail the whole collection: a source that cannot be read
//! becomes evidence saying so, which fails the checks that need it.

mod authz;
mod ca;
mod runtime;
mod scans;

use palisade_ca::CaConfig;
use palisade_store::{CertLedger, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

pub(crate) use runtime::backend_is_encrypting;
pub use runtime::RuntimeFacts;

use crate::jcs;

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Stable id: the source, plus the subject for per-subject sources
    /// (`scans:registry.example/app:1.2`).
    pub id: String,
    /// The source (`ca.ledger`, `decision-log`, `scans`, ...).
    pub source: String,
    /// One line for humans.
    pub title: String,
    /// When the fact was observed (a scan's recording time; otherwise the
    /// collection time), RFC 3339.
    pub observed_at: String,
    /// When it was collected, RFC 3339.
    pub collected_at: String,
    /// The content itself.
    pub content: Value,
    /// SHA-256 of the canonical content, hex.
    pub sha256: String,
}

impl Evidence {
    /// Evidence with its hash computed.
    pub fn new(
        id: impl Into<String>,
        source: &str,
        title: impl Into<String>,
        observed_at: String,
        collected_at: &str,
        content: Value,
    ) -> Self {
        Evidence {
            id: id.into(),
            source: source.to_owned(),
            title: title.into(),
            observed_at,
            collected_at: collected_at.to_owned(),
            sha256: jcs::digest(&content),
            content,
        }
    }

    /// Whether the content still matches its hash.
    pub fn hash_matches(&self) -> bool {
        jcs::digest(&self.content) == self.sha256
    }
}

/// Where evidence comes from. The binary fills it from its configuration.
pub struct Sources<'a> {
    /// The store (decision log, policy versions, scan records).
    pub store: &'a dyn Store,
    /// The CA ledger, when the store has one.
    pub ledger: Option<&'a dyn CertLedger>,
    /// The CA's configuration (trust domain, CRL lifetime). The CA itself
    /// is not needed: its evidence is read from the ledger.
    pub ca_config: CaConfig,
    /// The platform's public key (decision log checkpoints, scan records).
    pub public_key: Vec<u8>,
    /// Facts about the running configuration.
    pub runtime: RuntimeFacts,
}

impl std::fmt::Debug for Sources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Collects every piece of evidence at `now`, sorted by id.
pub async fn collect(sources: &Sources<'_>, now: OffsetDateTime) -> Vec<Evidence> {
    let at = rfc3339(now);
    let mut out = Vec::new();
    out.extend(ca::collect(sources, now, &at).await);
    out.extend(authz::collect(sources, &at).await);
    out.extend(scans::collect(sources, &at).await);
    out.extend(runtime::collect(&sources.runtime, &at));
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Evidence saying a source could not be read.
pub(crate) fn unavailable(id: &str, source: &str, at: &str, reason: String) -> Evidence {
    Evidence::new(
        id,
        source,
        format!("{source}: not available"),
        at.to_owned(),
        at,
        serde_json::json!({ "available": false, "reason": reason }),
    )
}
