//! Palisade's identity layer: who is asking.
//!
//! Every request that reaches a decision carries a verified identity. This
//! crate turns the two kinds of credential Palisade accepts into Cedar
//! principals ([`palisade_policy::VerifiedPrincipal`]):
//!
//! - **OIDC tokens** ([`TokenVerifier`]): OpenID Connect ID tokens and JWT
//!   access tokens (RFC 9068, `typ: at+jwt`) from any number of configured
//!   issuers: issuer discovery and the issuer's key set with
//!   `openidconnect`, the key set cached (its keys parsed once) and fetched
//!   again on an unknown `kid` (at most once per `jwks_min_refresh_seconds`,
//!   one fetch at a time, so a flood of made-up key ids cannot hammer the
//!   issuer), an algorithm allowlist per issuer (asymmetric only),
//!   signatures checked with `ring`, `iss`/`sub`/`aud`/`exp`/`nbf`/`iat`
//!   with a small leeway, and a size limit checked before anything is
//!   parsed.
//! - **mTLS identities** ([`workload_principal`], [`certificate_principal`]):
//!   the SPIFFE ID of a client certificate verified by the TLS layer
//!   (`palisade-ca`) becomes a `Workload` with its trust domain and path
//!   segments as attributes; a certificate without exactly one SPIFFE URI
//!   SAN is refused.
//!
//! - **mTLS callers on every route** ([`attach_peer_principal`]): the
//!   verified peer becomes the request's `palisade_policy::PeerPrincipal`,
//!   which the decision endpoints (`/access/v1/peer/evaluation`,
//!   `/v1/is_authorized_as_peer`) and the admin routes read.
//! - **Tokens for certificates** ([`exchange_router`]): a verified token and
//!   a CSR for a first X.509-SVID whose SPIFFE ID the token's claims name
//!   through a [`SpiffeTemplate`], allowed by Cedar (`ca:issue`).
//!
//! Every refusal has a precise, typed reason ([`Rejection`]) that is logged;
//! callers only ever learn [`Rejection::public_message`] (HTTP 401).
//!
//! # Mapping
//! Configured per issuer ([`PrincipalMapping`]), like AWS Verified
//! Permissions' `IsAuthorizedWithToken`: the principal is
//! `ENTITY_TYPE::"ISSUER|ID"` with the id from `sub` or another claim, the
//! groups claim gives parent entities `GROUP_TYPE::"ISSUER|GROUP"`, chosen
//! claims become attributes, others `context.token`. Claim values Cedar
//! cannot hold, or that would read as entity references, are left out.
//!
//! # Not here
//! Opaque tokens (introspection), encrypted tokens (JWE), HMAC-signed
//! tokens, DPoP and mTLS-bound tokens are not accepted.
//!
//! # Example
//! ```
//! use palisade_identity::{IdentityConfig, IssuerConfig, TokenVerifier, Rejection};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let config = IdentityConfig {
//!     issuers: vec![IssuerConfig {
//!         issuer: "https://idp.example.com".into(),
//!         audiences: vec!["urn:palisade".into()],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let verifier = TokenVerifier::new(&config).unwrap();
//! // An unsigned token is refused before any key is fetched.
//! let none = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.";
//! assert_eq!(verifier.verify(none).await.unwrap_err(), Rejection::AlgNone);
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod config;
mod error;
mod exchange;
mod issuer;
mod jws;
mod jwt;
mod peer;
mod principal;
mod verifier;

pub use config::{
    ExchangeConfig, IdentityConfig, IssuerConfig, PrincipalMapping, TokenKind, WorkloadMapping,
};
pub use error::{IdentityError, Rejection};
pub use exchange::{exchange_router, SpiffeTemplate};
pub use peer::attach_peer_principal;
pub use principal::{certificate_principal, workload_principal, MAX_GROUPS};
pub use verifier::{TokenVerifier, VerifiedToken};
