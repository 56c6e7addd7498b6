//! Palisade's internal certificate authority.
//!
//! Every workload gets a short-lived mTLS identity: a SPIFFE X.509-SVID
//! (exactly one `spiffe://` URI SAN in the CA's trust domain,
//! `cA=false`, `digitalSignature` only, server+client auth, key identifiers,
//! 152-bit random serials, default TTL one hour).
//!
//! # Design
//! - **Hierarchy** ([`CertificateAuthority::init`]): a root and an online
//!   intermediate (P-256 default; P-384, Ed25519). Private keys are sealed
//!   with AES-256-GCM under a key-encryption key from `palisade-secrets`
//!   (local master key or OpenBao Transit); the root key can be exported
//!   and kept offline. Rollover ([`CertificateAuthority::rotate_intermediate`],
//!   [`CertificateAuthority::rotate_root`]) keeps old issuers `retiring` —
//!   in the bundle and publishing CRLs — until retired.
//! - **Issuance** ([`CertificateAuthority::issue`]): the CSR's self-signature
//!   is verified, the requested identity checked (never trusted), the caller
//!   authenticated (admin, one-time join token, or current certificate over
//!   mTLS) and authorized by a Cedar policy (action `ca:issue`, resource the
//!   SPIFFE ID) through an [`IssueAuthorizer`]: in `palisade serve` the
//!   served policy engine (`palisade_policy::DecisionPoint`: hot reload,
//!   decision log), else a fixed [`IssuePolicy`] such as
//!   [`DEFAULT_ISSUE_POLICY`].
//! - **Ledger** (`palisade_store::CertLedger`): like trusted public CAs, the
//!   serial is reserved and the to-be-signed certificate recorded before
//!   any signature exists; exactly those recorded bytes are then signed, the
//!   certificate recorded, and only then returned. Concurrent issuances share
//!   one fsync (group commit).
//! - **Revocation**: CRLs (DER/PEM) regenerated on revocation and at half
//!   their lifetime; trust bundle as PEM and as a SPIFFE bundle (JWKS).
//! - **mTLS** ([`tls`]): rustls server configs with client-certificate
//!   verification against the bundle and the CRLs; the caller's SPIFFE ID
//!   reaches handlers as [`http::PeerIdentity`].
//! - **Renewal client** ([`renewal`]): keeps a certificate/key pair on disk
//!   fresh over mTLS at half its lifetime (`palisade ca renew --watch`).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use palisade_ca::{CaConfig, CertificateAuthority, IssuePolicy, IssueRequest, Requester};
//! let ledger = palisade_store::open_ledger("sqlite::memory:").await?;
//! let kek = Arc::new(palisade_secrets::LocalKek::new(&palisade_secrets::MasterKey::generate()));
//! let config = CaConfig { trust_domain: "example.org".into(), ..Default::default() };
//! CertificateAuthority::init(ledger.clone(), kek.clone(), &config, false).await?;
//! let ca = CertificateAuthority::load(ledger, kek, config, IssuePolicy::builtin()).await?;
//! let svid = ca.issue(
//!     IssueRequest { spiffe_id: Some("spiffe://example.org/web".into()), ..Default::default() },
//!     &Requester::Admin("docs".into()),
//! ).await?;
//! assert!(svid.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(svid.key_pem.is_some());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod authority;
mod authz;
mod error;
pub mod http;
mod keys;
mod ledger_writer;
mod recovery;
pub mod renewal;
mod spiffe;
mod tbs;
mod timefmt;
pub mod tls;

pub use authority::{
    pem_to_der, spiffe_id_of_der, CaConfig, CertificateAuthority, Crl, IssueRequest, IssuedCert,
    JoinToken, MAX_CSR_BYTES, MAX_EXTRA_SANS, REVOCATION_REASONS,
};
pub use authz::{IssueAuthorizer, IssuePolicy, IssueQuestion, Requester, DEFAULT_ISSUE_POLICY};
pub use error::CaError;
pub use keys::{KeyAlgorithm, PrivateKeyPem};
pub use palisade_store::{CertFilter, CertRecord};
pub use spiffe::{parse_trust_domain, SpiffeId, MAX_SPIFFE_ID_LEN};
