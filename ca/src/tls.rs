//! TLS 1.3 with client-certificate authentication for Palisade's listeners.
//!
//! [`TlsListener`] holds the server's own certificate (issued by its CA,
//! renewed at half its lifetime) and a client verifier built from the
//! trust bundle and the CRLs; both are rebuilt when the CA's
//! [`CertificateAuthority::revision`] changes, so a revoked client
//! certificate is refused at the handshake. Each request carries the
//! caller's SPIFFE ID as [`PeerIdentity`].
//!
//! Client certificates are asked for at every handshake but not demanded
//! there (unless every route group requires one): a presented certificate
//! must chain to the bundle and not be revoked, else the handshake fails.
//! Whether a request needs one is decided per route group ([`RouteAuth`]):
//! by default the admin routes (`/admin/...`, `/ca/v1/revoke`,
//! `/v1/compliance/report`, `/v1/compliance/scans`: certificate *and* admin bearer token) and the issuance routes (`/ca/v1/issue`,
//! `/ca/v1/renew`) require one, the decision routes and everything public
//! (bundle, CRL, health, metrics) do not. A first certificate has no
//! certificate to show: an issuance request carrying a join token is
//! admitted without one (the token is the proof).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::http::PeerIdentity;
use crate::{CaError, CertificateAuthority, IssueRequest};

/// The route of the OIDC-token-for-certificate exchange (served by
/// `palisade-identity`): an issuance route whose proof is the token.
pub const EXCHANGE_PATH: &str = "/ca/v1/exchange";

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Handshakes without a client certificate fail.
    Required,
    /// A certificate is verified when presented; handlers decide per route.
    Optional,
}

/// Whether a route group needs a verified client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCert {
    /// Requests without one are refused (401).
    Required,
    /// Verified when presented.
    Optional,
}

/// Client-certificate requirements per route group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteAuth {
    /// `/admin/...`, `/ca/v1/revoke`, `/v1/compliance/report` and
    /// `/v1/compliance/scans` (the caller's identity and a Cedar allow are
    /// needed too).
    pub admin: ClientCert,
    /// `/ca/v1/issue` (a join token stands in for a first certificate) and `/ca/v1/renew`.
    pub issuance: ClientCert,
    /// Everything else: decisions, bundle, CRL, health, metrics.
    pub decisions: ClientCert,
}

impl Default for RouteAuth {
    fn default() -> Self {
        Self {
            admin: ClientCert::Required,
            issuance: ClientCert::Required,
            decisions: ClientCert::Optional,
        }
    }
}

impl RouteAuth {
    /// The handshake mode these rules need.
    pub fn handshake(&self) -> ClientAuth {
        if [self.admin, self.issuance, self.decisions] == [ClientCert::Required; 3] {
            ClientAuth::Required
        } else {
            ClientAuth::Optional
        }
    }

    fn for_path(&self, path: &str) -> (ClientCert, &'static str) {
        if path.starts_with("/admin/")
            || path == "/ca/v1/revoke"
            || path == "/v1/compliance/report"
            || path == "/v1/compliance/scans"
        {
            (self.admin, "admin")
        } else if path == "/ca/v1/issue" || path == "/ca/v1/renew" || path == EXCHANGE_PATH {
            (self.issuance, "issuance")
        } else {
            (self.decisions, "decisions")
        }
    }
}

/// Settings of a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// DNS names of the server certificate (e.g. `localhost`).
    pub dns_names: Vec<String>,
    /// IP addresses of the server certificate (e.g. `127.0.0.1`).
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// The server's SPIFFE ID path (default `/palisade/server`).
    pub spiffe_path: String,
    /// Client certificates at the handshake.
    pub client_auth: ClientAuth,
    /// Client certificates per route group.
    pub route_auth: RouteAuth,
    /// Also accept TLS 1.2 (off: TLS 1.3 only).
    pub allow_tls12: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            dns_names: vec!["localhost".into()],
            ip_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            spiffe_path: "/palisade/server".into(),
            client_auth: ClientAuth::Optional,
            route_auth: RouteAuth::default(),
            allow_tls12: false,
        }
    }
}

struct Current {
    config: Arc<ServerConfig>,
    revision: u64,
    renew_at: time::OffsetDateTime,
}

/// A TLS front for an axum router, backed by the CA.
pub struct TlsListener {
    ca: Arc<CertificateAuthority>,
    settings: TlsSettings,
    current: RwLock<Arc<Current>>,
    rebuild: tokio::sync::Mutex<()>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsListener {
    /// Issues the server certificate and builds the first configuration.
    pub async fn new(
        ca: Arc<CertificateAuthority>,
        settings: TlsSettings,
    ) -> Result<Arc<Self>, CaError> {
        let current = Self::build(&ca, &settings).await?;
        Ok(Arc::new(Self {
            ca,
            settings,
            current: RwLock::new(Arc::new(current)),
            rebuild: tokio::sync::Mutex::new(()),
        }))
    }

    async fn build(ca: &CertificateAuthority, s: &TlsSettings) -> Result<Current, CaError> {
        let revision = ca.revision();
        let svid = ca
            .issue_own(
                IssueRequest {
                    spiffe_id: Some(format!(
                        "spiffe://{}{}",
                        ca.config().trust_domain,
                        s.spiffe_path
                    )),
                    dns_names: s.dns_names.clone(),
                    ip_addresses: s.ip_addresses.clone(),
                    ..Default::default()
                },
                "tls-listener",
            )
            .await?;
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(svid.chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| CaError::Crypto(format!("server chain: {e}")))?;
        let key_pem = svid
            .key_pem
            .as_ref()
            .map(|k| k.expose().to_owned())
            .unwrap_or_default();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| CaError::Crypto(format!("server key: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        for der in ca.roots_der() {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| CaError::Crypto(format!("trust bundle: {e}")))?;
        }
        let crls: Vec<CertificateRevocationListDer<'static>> = ca
            .crls()
            .await?
            .into_iter()
            .map(|c| CertificateRevocationListDer::from(c.der))
            .collect();
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .with_crls(crls)
            .only_check_end_entity_revocation();
        let verifier = match s.client_auth {
            ClientAuth::Required => builder.build(),
            ClientAuth::Optional => builder.allow_unauthenticated().build(),
        }
        .map_err(|e| CaError::Crypto(format!("client verifier: {e}")))?;
        let verifier = Arc::new(SvidVerifier {
            inner: verifier,
            trust_domain: ca.config().trust_domain.clone(),
        });
        let versions: &[&rustls::SupportedProtocolVersion] = if s.allow_tls12 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| CaError::Crypto(format!("TLS versions: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| CaError::Crypto(format!("server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let not_after = crate::timefmt::parse(&svid.not_after).unwrap_or_else(crate::timefmt::now);
        let now = crate::timefmt::now();
        Ok(Current {
            config: Arc::new(config),
            revision,
            renew_at: now + (not_after - now) / 2,
        })
    }

    /// The configuration to use for the next handshake (rebuilt when the CA
    /// changed or the server certificate reached half its lifetime).
    pub async fn config(&self) -> Result<Arc<ServerConfig>, CaError> {
        let cur = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if cur.revision == self.ca.revision() && crate::timefmt::now() < cur.renew_at {
            return Ok(cur.config.clone());
        }
        let _g = self.rebuild.lock().await;
        let cur = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if cur.revision == self.ca.revision() && crate::timefmt::now() < cur.renew_at {
            return Ok(cur.config.clone());
        }
        let new = Arc::new(Self::build(&self.ca, &self.settings).await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
        Ok(new.config.clone())
    }

    /// Serves `router` on `listener` until the task is dropped. Also polls
    /// the ledger for revocations made elsewhere every `poll`.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, router: Router, poll: Duration) {
        let ca = self.ca.clone();
        let _poller = AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(poll).await;
                if let Err(e) = ca.refresh_revocations().await {
                    tracing::warn!(error = %e, "cannot refresh revocations");
                }
            }
        }));
        loop {
            let (tcp, _peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let this = self.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let config = match this.config().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "TLS configuration unavailable");
                        return;
                    }
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let identity = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|leaf| crate::spiffe_id_of_der(leaf).ok());
                let rules = this.settings.route_auth;
                let verified = identity.is_some();
                let svc = router
                    .layer(axum::middleware::from_fn(move |req, next| {
                        enforce(rules, verified, req, next)
                    }))
                    .layer(axum::Extension(PeerIdentity(identity)));
                let svc = hyper_util::service::TowerToHyperService::new(svc);
                let io = hyper_util::rt::TokioIo::new(tls);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }
}

/// Client certificates must chain to the bundle, not be revoked (the inner
/// webpki verifier) *and* be X.509-SVIDs of this trust domain: exactly one
/// URI SAN, a SPIFFE ID of the CA's trust domain. Anything else fails the
/// handshake, so a request never sees a half-identified peer.
#[derive(Debug)]
struct SvidVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: String,
}

impl ClientCertVerifier for SvidVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let refuse = |why: String| {
            tracing::info!(reason = %why, "client certificate refused");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        };
        match crate::spiffe_id_of_der(end_entity) {
            Ok(id) if id.trust_domain() == self.trust_domain => Ok(verified),
            Ok(id) => refuse(format!(
                "SPIFFE ID {id} is outside the trust domain {}",
                self.trust_domain
            )),
            Err(e) => refuse(format!("not an X.509-SVID: {e}")),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Refuses a request of a route group that requires a client certificate
/// when the connection presented none (a join-token issuance excepted).
async fn enforce(
    rules: RouteAuth,
    verified: bool,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (need, group) = rules.for_path(req.uri().path());
    if verified || need == ClientCert::Optional {
        return next.run(req).await;
    }
    // The shape of every other 401 on the listener (the decision and admin APIs).
    let refuse = |why: String| {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": { "status": 401, "message": why } })),
        )
            .into_response()
    };
    if req.uri().path() == EXCHANGE_PATH {
        // A first certificate for an OIDC token: the token is the proof.
        return next.run(req).await;
    }
    if req.uri().path() != "/ca/v1/issue" {
        return refuse(format!(
            "the {group} routes require a client certificate from this CA (mTLS)"
        ));
    }
    // A first certificate: admitted with a join token in the body.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, crate::http::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return refuse(format!("cannot read the request: {e}")),
    };
    let has_token = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("join_token").is_some_and(|t| t.is_string()));
    if !has_token {
        return refuse(
            "issuance requires a client certificate from this CA (mTLS) or a join token".into(),
        );
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Stops the revocation poller when the serving future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
