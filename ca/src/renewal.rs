//! Keeping a certificate/key pair on disk fresh (`palisade ca renew --watch`).
//!
//! [`RenewalClient::renew`] renews over mTLS with the current, still-valid
//! certificate: a fresh P-256 key, a CSR for the same SPIFFE ID, `POST
//! /ca/v1/renew` on a TLS 1.3 connection whose server certificate must chain
//! to the trust bundle. The new key and chain replace the files by atomic
//! replacement (temporary file, fsync, rename, directory fsync; the key file
//! mode 0600), the key first, then the chain.
//!
//! [`RenewalClient::watch`] renews at half the certificate's lifetime,
//! counted from when it was obtained (the certificate file's modification
//! time, within its validity: the CA backdates `notBefore` for clock skew).
//! Failures (server down, refused, unwritable files) are retried with
//! exponential backoff until the certificate expires; then it returns
//! [`CaError::Expired`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Request, Uri};
use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{CaError, KeyAlgorithm, SpiffeId};

/// Longest answer read from the server.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Time budget of one renewal request (connect, handshake, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The files of a certificate/key pair.
#[derive(Debug, Clone)]
pub struct PairFiles {
    /// The certificate chain (leaf first), PEM.
    pub cert: PathBuf,
    /// The private key (PKCS#8), PEM, mode 0600.
    pub key: PathBuf,
}

/// A certificate as read from its file.
#[derive(Debug, Clone)]
pub struct LeafInfo {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The SPIFFE ID.
    pub spiffe_id: SpiffeId,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
}

impl LeafInfo {
    /// Reads the first certificate of a PEM chain file.
    pub fn read(path: &Path) -> Result<Self, CaError> {
        let text = std::fs::read(path)
            .map_err(|e| CaError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
        let der = CertificateDer::pem_slice_iter(&text)
            .next()
            .ok_or_else(|| CaError::BadRequest(format!("{}: no PEM certificate", path.display())))?
            .map_err(|e| CaError::BadRequest(format!("{}: {e}", path.display())))?;
        Self::of_der(&der).map_err(|e| CaError::BadRequest(format!("{}: {e}", path.display())))
    }

    fn of_der(der: &[u8]) -> Result<Self, CaError> {
        let (_, x) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CaError::BadRequest(format!("not an X.509 certificate: {e}")))?;
        let time = |t: x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp())
                .map_err(|e| CaError::BadRequest(format!("validity: {e}")))
        };
        Ok(Self {
            serial: hex::encode(x.raw_serial()),
            spiffe_id: crate::authority::spiffe_id_of(&x)?,
            not_before: time(x.validity().not_before)?,
            not_after: time(x.validity().not_after)?,
        })
    }
}

/// What a renewal produced.
#[derive(Debug, Clone)]
pub struct Renewed {
    /// The new certificate.
    pub leaf: LeafInfo,
}

/// Settings of [`RenewalClient::watch`].
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Lifetime to ask for (default: the CA's default).
    pub ttl: Option<Duration>,
    /// First retry delay after a failure (doubled up to `max_backoff`).
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            ttl: None,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Renews certificates at a Palisade CA over mTLS.
#[derive(Debug, Clone)]
pub struct RenewalClient {
    authority: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    roots: Arc<rustls::RootCertStore>,
}

#[derive(Deserialize)]
struct Answer {
    chain: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

impl RenewalClient {
    /// A client for the server at `server` (`https://host:port`) whose
    /// certificate must chain to a root of `bundle_pem`.
    pub fn new(server: &str, bundle_pem: &str) -> Result<Self, CaError> {
        let bad = |why: String| CaError::BadRequest(format!("server URL `{server}`: {why}"));
        let uri: Uri = server.parse().map_err(|e| bad(format!("{e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("renewal needs https://".into()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host".into()))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned()).map_err(|e| bad(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(bundle_pem.as_bytes()) {
            let der = der.map_err(|e| CaError::BadRequest(format!("trust bundle: {e}")))?;
            roots
                .add(der)
                .map_err(|e| CaError::BadRequest(format!("trust bundle: {e}")))?;
        }
        if roots.is_empty() {
            return Err(CaError::BadRequest(
                "trust bundle: no PEM certificate".into(),
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
            authority: authority.to_string(),
            server_name,
            roots: Arc::new(roots),
        })
    }

    /// Renews the pair in `files` once and replaces both files.
    pub async fn renew(
        &self,
        files: &PairFiles,
        ttl: Option<Duration>,
    ) -> Result<Renewed, CaError> {
        let current = LeafInfo::read(&files.cert)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| CaError::BadRequest(format!("{}: {e}", files.cert.display())))?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| CaError::BadRequest(format!("{}: {e}", files.key.display())))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| CaError::Crypto(format!("TLS versions: {e}")))?
        .with_root_certificates(self.roots.clone())
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            CaError::BadRequest(format!(
                "{} and {} are not a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;

        // A fresh key for the new certificate.
        let new_key = KeyAlgorithm::P256.generate()?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.subject_alt_names.push(rcgen::SanType::URI(
            current
                .spiffe_id
                .as_str()
                .try_into()
                .map_err(|e| CaError::BadRequest(format!("SPIFFE ID: {e:?}")))?,
        ));
        let csr = params.serialize_request(&new_key)?.pem()?;
        let mut body = serde_json::json!({ "csr": csr });
        if let Some(t) = ttl {
            body["ttl_seconds"] = t.as_secs().into();
        }

        let answer = tokio::time::timeout(REQUEST_TIMEOUT, self.post(config, body))
            .await
            .map_err(|_| {
                CaError::Unavailable(format!(
                    "{}: no answer within {REQUEST_TIMEOUT:?}",
                    self.authority
                ))
            })??;
        let first = CertificateDer::pem_slice_iter(answer.chain.as_bytes())
            .next()
            .ok_or_else(|| CaError::Unavailable("the server's answer has no certificate".into()))?
            .map_err(|e| CaError::Unavailable(format!("the server's certificate: {e}")))?;
        let leaf = LeafInfo::of_der(&first)?;
        if leaf.spiffe_id != current.spiffe_id {
            return Err(CaError::Unavailable(format!(
                "the server answered with {} for {}",
                leaf.spiffe_id, current.spiffe_id
            )));
        }
        let key_pem = Zeroizing::new(new_key.serialize_pem());
        palisade_secrets::write_atomic(&files.key, key_pem.as_bytes())?;
        palisade_secrets::write_atomic(&files.cert, answer.chain.as_bytes())?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&files.cert, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| CaError::BadRequest(format!("{}: {e}", files.cert.display())))?;
        Ok(Renewed { leaf })
    }

    async fn post(
        &self,
        config: rustls::ClientConfig,
        body: serde_json::Value,
    ) -> Result<Answer, CaError> {
        let down = |what: &str, e: &dyn std::fmt::Display| {
            CaError::Unavailable(format!("{} {what}: {e}", self.authority))
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| down("connect", &e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| down("TLS handshake", &e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| down("HTTP", &e))?;
        let conn = tokio::spawn(conn);
        let req = Request::post("/ca/v1/renew")
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .map_err(|e| down("request", &e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| down("request", &e))?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| down("answer", &e))?;
        conn.abort();
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorAnswer>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            return Err(CaError::Unavailable(format!(
                "{} refused the renewal ({status}): {why}",
                self.authority
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| down("answer", &e))
    }

    /// Keeps `files` fresh: renews at half the lifetime, retries failures
    /// with backoff, calls `renewed` after each renewal. Returns only with an
    /// error: the files are unusable, or the certificate expired before it
    /// could be renewed ([`CaError::Expired`]).
    pub async fn watch(
        &self,
        files: &PairFiles,
        options: &WatchOptions,
        mut renewed: impl FnMut(&Renewed),
    ) -> CaError {
        loop {
            let leaf = match LeafInfo::read(&files.cert) {
                Ok(l) => l,
                Err(e) => return e,
            };
            let renew_at = renewal_time(&leaf, obtained_at(&files.cert));
            sleep_until(renew_at).await;
            let mut backoff = options.initial_backoff;
            loop {
                let now = OffsetDateTime::now_utc();
                if now >= leaf.not_after {
                    return CaError::Expired(format!(
                        "{} ({}, serial {}) expired at {} without renewal; obtain a new \
                         certificate (join token) and restart",
                        files.cert.display(),
                        leaf.spiffe_id,
                        leaf.serial,
                        crate::timefmt::rfc3339(leaf.not_after)
                    ));
                }
                match self.renew(files, options.ttl).await {
                    Ok(r) => {
                        renewed(&r);
                        break;
                    }
                    Err(e) => {
                        let left = leaf.not_after - OffsetDateTime::now_utc();
                        tracing::warn!(error = %e, retry_in = ?backoff, "renewal failed");
                        let pause = backoff.min(left.try_into().unwrap_or(Duration::ZERO));
                        tokio::time::sleep(pause).await;
                        backoff = (backoff * 2).min(options.max_backoff);
                    }
                }
            }
        }
    }
}

/// When the certificate in `path` was obtained: its modification time.
fn obtained_at(path: &Path) -> Option<OffsetDateTime> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(OffsetDateTime::from(modified))
}

/// Half of the lifetime left when the certificate was obtained (clamped to
/// its validity).
fn renewal_time(leaf: &LeafInfo, obtained: Option<OffsetDateTime>) -> OffsetDateTime {
    let start = obtained
        .unwrap_or(leaf.not_before)
        .clamp(leaf.not_before, leaf.not_after);
    start + (leaf.not_after - start) / 2
}

async fn sleep_until(t: OffsetDateTime) {
    let wait = t - OffsetDateTime::now_utc();
    if let Ok(d) = Duration::try_from(wait) {
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(nb: i64, na: i64) -> LeafInfo {
        LeafInfo {
            serial: "01".into(),
            spiffe_id: SpiffeId::parse("spiffe://example.org/w").unwrap(),
            not_before: OffsetDateTime::from_unix_timestamp(nb).unwrap(),
            not_after: OffsetDateTime::from_unix_timestamp(na).unwrap(),
        }
    }

    #[test]
    fn renews_at_half_the_lifetime_left_when_obtained() {
        let t = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        // Backdated notBefore (1000), obtained at 1030, expires 1090: at 1060.
        assert_eq!(renewal_time(&leaf(1000, 1090), Some(t(1030))), t(1060));
        // Unknown or out-of-range times fall back to the validity.
        assert_eq!(renewal_time(&leaf(1000, 1100), None), t(1050));
        assert_eq!(renewal_time(&leaf(1000, 1100), Some(t(500))), t(1050));
        assert_eq!(renewal_time(&leaf(1000, 1100), Some(t(2000))), t(1100));
    }
}
