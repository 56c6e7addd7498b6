//! Palisade's compliance evidence and reports for SOC 2, HIPAA and GDPR.
//!
//! # Features
//! - **Catalogues and mappings as data** ([`Catalog`]): the SOC 2 Trust
//!   Services Criteria (titles written for Palisade), the HIPAA Security Rule
//!   (every standard and implementation specification of 164.308, .310, .312
//!   and .316, required or addressable) and GDPR articles 5, 24, 25, 28, 30,
//!   32–35, each control mapped to checks with an automation level and a
//!   rationale; a check registry with freshness windows. Users add a
//!   framework or change a mapping with the same TOML files. Every file is
//!   validated at load, errors carry file and line ([`Diagnostic`]).
//! - **Attestations and waivers** ([`Attestations`]): manual controls pass
//!   only with a current attestation (owner, date, statement, renewal,
//!   attached file hash); waivers must expire, and an expired one stops
//!   suppressing and is reported.
//! - **Evidence** ([`evidence::collect`]): the CA (issuers and sealed keys,
//!   ledger lifetimes, issuance volume, revocations, CRL, trust bundle),
//!   authorization (default-deny probe of the current policy version, schema,
//!   change history), the decision log (hash chain verified), scans recorded
//!   by the CI gate ([`ScanRecord`], signed, kept in the store), secrets
//!   backend, plaintext keys on disk, TLS settings. Each piece has a source, times and a SHA-256.
//! - **Honest statuses** ([`assess`]): pass, fail, manual, waived or not
//!   applicable by the rules in [`RULES`]; stale evidence is not passing; a
//!   control with no automated check and no current attestation is never pass;
//!   every status lists the checks and evidence behind it.
//!
//! - **Exports** ([`export::render`]): JSON (native, complete), CSV
//!   (formula-injection guarded), Markdown, self-contained HTML with inline
//!   SVG charts, OSCAL 1.2 assessment results (valid by NIST's schema);
//!   byte-identical for the same evidence and clock.
//! - **Signed evidence bundles** ([`bundle`]): RFC 8785 canonical JSON
//!   ([`jcs`]), hashed per control, check and evidence piece, in a DSSE
//!   envelope signed with the platform key; [`bundle::verify`] names what
//!   changed. **History** ([`history`]): every report is kept in the
//!   store (SQLite or PostgreSQL) and diffed with the one before.
//!
//! # Non-features
//! Palisade does not certify anything: a report is evidence for an auditor,
//! not an opinion. Controls outside the platform (HR, physical security) are
//! `manual` until someone attests them.
//!
//! # Example
//! ```
//! use palisade_compliance::{assess, Attestations, Catalog};
//! let catalog = Catalog::builtin()?;
//! let soc2 = catalog.framework("soc2").unwrap();
//! let now = time::macros::datetime!(2026-11-29 12:00 UTC);
//! // No evidence at all: nothing passes.
//! let report = assess(&catalog, soc2, &[], &Attestations::default(), now);
//! assert_eq!(report.summary.pass, 0);
//! assert!(report.summary.fail > 0 && report.summary.manual > 0);
//! # Ok::<(), palisade_compliance::ComplianceError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod assess;
mod attest;
pub mod bundle;
mod catalog;
mod checks;
mod error;
pub mod evidence;
pub mod export;
pub mod history;
pub mod jcs;
mod scans;
mod signing;

pub use assess::{
    assess, ControlResult, FamilySummary, FrameworkRef, Report, Status, Summary, REPORT_SCHEMA,
    RULES,
};
pub use attest::{Attestation, Attestations, Waiver};
pub use catalog::{
    Automation, Catalog, CheckDef, Control, Diagnostic, Family, Framework, Requirement,
    BUILTIN_CHECKS, BUILTIN_FRAMEWORKS,
};
pub use checks::{evaluate, CheckResult, CheckStatus, IMPLEMENTED};
pub use error::ComplianceError;
pub use evidence::{Evidence, RuntimeFacts, Sources};
pub use scans::{load_records, LoadedRecord, OpenFinding, ScanRecord, MAX_SCAN_RECORDS};
pub use signing::{key_id, verify as verify_signature, Signer};
