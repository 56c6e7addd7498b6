//! The shell's client of a running `palisade serve` (`palisade health`, `palisade gate --record --server`):
//! TLS 1.3 only, the server's certificate verified against a CA bundle (never the system roots), the caller
//! identified by an OIDC bearer token, an mTLS client certificate, or both. Bounded: one deadline for the
//! whole exchange, the answer read up to [`MAX_ANSWER_BYTES`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use zeroize::Zeroizing;

/// Largest answer read from the server.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Deadline of one exchange (connect, handshake, request, answer).
const DEADLINE: Duration = Duration::from_secs(30);

/// How to reach `palisade serve` as an admin caller.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// With --record: post the summary to this `palisade serve` (https://HOST:PORT), which signs and keeps
    /// it (admin action `admin:compliance.record`), instead of keeping it in the local store.
    #[arg(long, value_name = "URL", requires = "record")]
    pub server: Option<String>,
    /// CA bundle (PEM) the server's certificate must chain to. Default: DATA_DIR/ca-bundle.pem.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub ca_bundle: Option<PathBuf>,
    /// A file holding the caller's OIDC bearer token. Default: the PALISADE_TOKEN variable, if set.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub token_file: Option<PathBuf>,
    /// The caller's client certificate chain (PEM) for mTLS, e.g. from `palisade ca issue`.
    #[arg(long, value_name = "FILE", requires_all = ["server", "client_key"])]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// `http(s)://HOST:PORT/PATH` → (TLS?, `HOST:PORT`, `/PATH`).
pub fn split_url(url: &str) -> anyhow::Result<(bool, &str, &str)> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        anyhow::bail!("`{url}`: only https:// and http:// URLs are supported");
    };
    Ok(match rest.find('/') {
        Some(i) => (tls, &rest[..i], &rest[i..]),
        None => (tls, rest, "/"),
    })
}

/// The name the server's certificate must carry: `host` (`HOST:PORT`) without the port.
pub fn server_name(host: &str) -> anyhow::Result<ServerName<'static>> {
    let name = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(name.to_owned())
        .with_context(|| format!("`{name}` is not a DNS name or IP address"))
}

/// A TLS 1.3 client trusting only the certificates in `bundle`, presenting the client certificate chain
/// and key of `identity` when given.
pub fn tls_config(
    bundle: &Path,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(bundle)
        .with_context(|| format!("cannot read the CA bundle {}", bundle.display()))?
    {
        roots.add(cert.with_context(|| format!("CA bundle {}", bundle.display()))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    Ok(Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("client certificate {}", cert.display()))?;
            anyhow::ensure!(
                !chain.is_empty(),
                "client certificate {}: no certificate in it",
                cert.display()
            );
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("client key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("the client certificate does not match its key")?
        }
    }))
}

/// A caller of `palisade serve`'s admin routes.
pub struct ServerClient {
    /// `HOST:PORT`.
    authority: String,
    /// The URL's path prefix, without the trailing `/`.
    prefix: String,
    name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    /// `Bearer <token>`, when the caller has one.
    authorization: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("authority", &self.authority)
            .field("bearer_token", &self.authorization.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerClient {
    /// A client of `url` (`https://HOST:PORT`) with the credentials of `args`; `default_bundle` when no
    /// `--ca-bundle` is given.
    pub fn new(url: &str, args: &ServerArgs, default_bundle: &Path) -> anyhow::Result<Self> {
        let (tls, authority, path) = split_url(url)?;
        anyhow::ensure!(
            tls,
            "`{url}`: credentials go to the server over https:// only"
        );
        let token = match &args.token_file {
            Some(p) => Some(Zeroizing::new(std::fs::read_to_string(p).with_context(
                || format!("cannot read the token file {}", p.display()),
            )?)),
            None => std::env::var("PALISADE_TOKEN").ok().map(Zeroizing::new),
        };
        let token = token.filter(|t| !t.trim().is_empty());
        anyhow::ensure!(
            token.is_some() || args.client_cert.is_some(),
            "no credentials for {url}: give --token-file (or PALISADE_TOKEN) and/or --client-cert/--client-key"
        );
        let bundle = args.ca_bundle.as_deref().unwrap_or(default_bundle);
        let identity = args.client_cert.as_deref().zip(args.client_key.as_deref());
        Ok(Self {
            authority: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
            name: server_name(authority)?,
            tls: tls_config(bundle, identity)?,
            authorization: token.map(|t| Zeroizing::new(format!("Bearer {}", t.trim()))),
        })
    }

    /// POSTs the JSON `body` to `path`; the answer's status and body.
    pub async fn post_json(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Bytes)> {
        tokio::time::timeout(DEADLINE, self.exchange(path, body))
            .await
            .with_context(|| {
                format!(
                    "{}: no answer within {}s",
                    self.authority,
                    DEADLINE.as_secs()
                )
            })?
    }

    async fn exchange(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(u16, Bytes)> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("cannot connect to {}", self.authority))?;
        tcp.set_nodelay(true)?;
        let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(self.name.clone(), tcp)
            .await
            .with_context(|| format!("TLS with {}", self.authority))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let conn = tokio::spawn(conn);
        let mut request = hyper::Request::post(format!("{}{path}", self.prefix))
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json");
        if let Some(a) = &self.authorization {
            let mut v = HeaderValue::from_str(a.as_str())
                .context("the bearer token is not a header value")?;
            v.set_sensitive(true);
            request = request.header(AUTHORIZATION, v);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body)))?)
            .await
            .with_context(|| format!("{}: the request failed", self.authority))?;
        let status = response.status().as_u16();
        let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{}: reading the answer: {e}", self.authority))?
            .to_bytes();
        conn.abort();
        Ok((status, answer))
    }
}

/// The message of an error answer (`{"error":{"message":...}}`), else its text.
pub fn error_message(answer: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(answer).ok();
    match v.as_ref().map(|v| &v["error"]) {
        Some(serde_json::Value::String(m)) => m.clone(),
        Some(e) if e["message"].is_string() => e["message"].as_str().unwrap_or_default().to_owned(),
        _ => String::from_utf8_lossy(answer).trim().to_owned(),
    }
}
