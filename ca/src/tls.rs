//! TLS 1.3 with client-certificate authentication for Palisade's listeners.
//!
//! [`TlsListener`] holds the server's own certificate (issued by its CA,
//! renewed at half its lifetime) and a client verifier built from the
//! trust bundle and the CRLs; both are rebuilt when the CA's
//! [`CertificateAuthority::revision`] changes, so a revoked client
//! certificate is refused at the handshake. Each request carries the
//! caller's SPIFFE ID as [`PeerIdentity`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::http::PeerIdentity;
use crate::{CaError, CertificateAuthority, IssueRequest, Requester};

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Handshakes without a client certificate fail.
    Required,
    /// A certificate is verified when presented; handlers decide per route.
    Optional,
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
    /// Client certificates.
    pub client_auth: ClientAuth,
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
            .issue(
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
                &Requester::Admin("tls-listener".into()),
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
                let svc = router.layer(axum::Extension(PeerIdentity(identity)));
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

/// Stops the revocation poller when the serving future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
