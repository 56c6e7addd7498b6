//! Prometheus gauges of the CA on `palisade serve`'s `/metrics`: when each issuer certificate expires and
//! when each published CRL's `nextUpdate` falls, refreshed every 30 s. Refreshing goes through
//! `crls()`, which regenerates a CRL past half its lifetime, so a CRL that cannot be renewed (a KEK that
//! does not answer) shows as a `nextUpdate` that stops moving and a failure counter that grows: the
//! alert rules in deploy/prometheus/ watch both.

use std::sync::Arc;
use std::time::Duration;

use palisade_ca::CertificateAuthority;
use prometheus::{GaugeVec, IntCounter, Opts, Registry};

const REFRESH: Duration = Duration::from_secs(30);

fn unix_seconds(rfc3339: &str) -> Option<f64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp() as f64)
}

/// Registers the CA's gauges in `registry` and keeps them current until the task is aborted.
pub fn spawn(
    ca: Arc<CertificateAuthority>,
    registry: &Registry,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let issuer_expiry = GaugeVec::new(
        Opts::new(
            "palisade_ca_issuer_not_after_timestamp_seconds",
            "When each CA certificate (root, intermediate) in the ledger expires, Unix time.",
        ),
        &["issuer", "kind", "status"],
    )?;
    let crl_next = GaugeVec::new(
        Opts::new(
            "palisade_ca_crl_next_update_timestamp_seconds",
            "nextUpdate of each published CRL, Unix time.",
        ),
        &["issuer"],
    )?;
    let failures = IntCounter::new(
        "palisade_ca_crl_refresh_failures_total",
        "Failed attempts to read or regenerate the CRLs.",
    )?;
    registry.register(Box::new(issuer_expiry.clone()))?;
    registry.register(Box::new(crl_next.clone()))?;
    registry.register(Box::new(failures.clone()))?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tick.tick().await;
            match ca.ledger().issuers().await {
                Ok(issuers) => {
                    issuer_expiry.reset();
                    for i in issuers.iter().filter(|i| i.status != "retired") {
                        if let Some(t) = unix_seconds(&i.not_after) {
                            issuer_expiry
                                .with_label_values(&[&i.id, &i.kind, &i.status])
                                .set(t);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the CA issuers for metrics"),
            }
            match ca.crls().await {
                Ok(crls) => {
                    for c in crls {
                        if let Some(t) = unix_seconds(&c.next_update) {
                            crl_next.with_label_values(&[&c.issuer_id]).set(t);
                        }
                    }
                }
                Err(e) => {
                    failures.inc();
                    tracing::error!(error = %e, "CRL refresh failed");
                }
            }
        }
    }))
}
