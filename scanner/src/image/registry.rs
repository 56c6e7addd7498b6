//! A minimal OCI distribution (registry v2) client: manifests, platform selection from an index, blobs streamed
//! and verified against their digests, bearer-token and basic authentication.

use std::io::Read;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::digest::{check, Digesting};
use super::{pick_platform, Manifest, Platform};
use crate::ScanError;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_MANIFEST: u64 = 4 << 20;

/// An image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host[:port] as written (`docker.io` when omitted).
    pub registry: String,
    /// Repository path (`library/debian`).
    pub repository: String,
    /// Tag or digest to fetch.
    pub reference: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.contains(':') {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{}{}",
            self.registry, self.repository, sep, self.reference
        )
    }
}

impl std::str::FromStr for Reference {
    type Err = ScanError;
    fn from_str(s: &str) -> Result<Self, ScanError> {
        let bad = || ScanError::Registry(format!("{s:?} is not an image reference"));
        if s.is_empty() || s.len() > 1024 || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        let (registry, rest) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest)
            }
            _ => ("docker.io".to_string(), name),
        };
        let (repo, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ => (rest, None),
        };
        let mut repository = repo.to_string();
        if registry == "docker.io" && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        if repository.is_empty() || repository.split('/').any(|c| c.is_empty() || c == "..") {
            return Err(bad());
        }
        let reference = match (digest, tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) if !t.is_empty() => t.to_string(),
            (None, Some(_)) => return Err(bad()),
            (None, None) => "latest".to_string(),
        };
        Ok(Reference {
            registry,
            repository,
            reference,
        })
    }
}

/// Registry credentials. The password is zeroed on drop and never printed.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Credentials for `registry` from `PALISADE_REGISTRY_USERNAME`/`PALISADE_REGISTRY_PASSWORD`, else from
    /// `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`) `auths` entries.
    pub fn from_environment(registry: &str) -> Option<Credentials> {
        if let (Ok(u), Ok(p)) = (
            std::env::var("PALISADE_REGISTRY_USERNAME"),
            std::env::var("PALISADE_REGISTRY_PASSWORD"),
        ) {
            return Some(Credentials {
                username: u,
                password: Zeroizing::new(p),
            });
        }
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker"))
            })?;
        let bytes = std::fs::read(dir.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let auths = v.get("auths")?.as_object()?;
        let keys = [
            registry.to_string(),
            format!("https://{registry}"),
            if registry == "docker.io" {
                "https://index.docker.io/v1/".into()
            } else {
                String::new()
            },
        ];
        let entry = keys.iter().find_map(|k| auths.get(k))?;
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(entry.get("auth")?.as_str()?)
            .ok()?;
        let raw = Zeroizing::new(String::from_utf8(raw).ok()?);
        let (u, p) = raw.split_once(':')?;
        Some(Credentials {
            username: u.to_string(),
            password: Zeroizing::new(p.to_string()),
        })
    }
}

/// A registry client.
pub struct RegistryClient {
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    plain_http: bool,
    token: Mutex<Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("plain_http", &self.plain_http)
            .finish()
    }
}

/// A blob being streamed; [`VerifiedBlob::finish`] drains it and checks the digest.
pub struct VerifiedBlob {
    inner: Digesting<Box<dyn Read + Send + Sync>>,
    expected: String,
    read: u64,
    cap: u64,
}

impl Read for VerifiedBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(
                "blob larger than the configured limit",
            ));
        }
        Ok(n)
    }
}

impl VerifiedBlob {
    /// Reads what is left and verifies the digest.
    pub fn finish(mut self) -> Result<(), ScanError> {
        std::io::copy(&mut self, &mut std::io::sink())
            .map_err(|e| ScanError::Registry(format!("blob {}: {e}", self.expected)))?;
        check(&self.inner.digest(), &self.expected).map_err(|e| {
            ScanError::Registry(format!(
                "blob {} does not match its digest ({e})",
                self.expected
            ))
        })
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

fn auth_param<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let i = header.find(&format!("{key}=\""))?;
    let rest = &header[i + key.len() + 2..];
    Some(&rest[..rest.find('"')?])
}

fn verify_digest(bytes: &[u8], digest: &str) -> Result<(), ScanError> {
    let Some(hexd) = digest.strip_prefix("sha256:") else {
        return Err(ScanError::Registry(format!(
            "unsupported digest algorithm in {digest}"
        )));
    };
    let got = hex::encode(Sha256::digest(bytes));
    if got != hexd {
        return Err(ScanError::Registry(format!(
            "digest mismatch: expected {digest}, got sha256:{got}"
        )));
    }
    Ok(())
}

impl RegistryClient {
    /// A client; plain HTTP is used for loopback registries or when `plain_http` is set.
    pub fn new(credentials: Option<Credentials>, plain_http: bool) -> RegistryClient {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(30))
            .timeout_read(std::time::Duration::from_secs(300))
            .build();
        RegistryClient {
            agent,
            credentials,
            plain_http,
            token: Mutex::new(None),
        }
    }

    fn base(&self, r: &Reference) -> String {
        let host = if r.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &r.registry
        };
        let scheme = if self.plain_http || is_loopback(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}/v2/{}", r.repository)
    }

    fn authorize(&self, r: &Reference, challenge: &str) -> Result<(), ScanError> {
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let c = self.credentials.as_ref().ok_or_else(|| ScanError::Registry(format!("{}: authentication required (set PALISADE_REGISTRY_USERNAME/PASSWORD or docker login)", r.registry)))?;
            use base64::Engine;
            let v = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                c.username,
                c.password.as_str()
            ));
            *self.token.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Zeroizing::new(format!("Basic {v}")));
            return Ok(());
        }
        let realm = auth_param(challenge, "realm").ok_or_else(|| {
            ScanError::Registry(format!("{}: unsupported auth challenge", r.registry))
        })?;
        let mut req = self
            .agent
            .get(realm)
            .query("scope", &format!("repository:{}:pull", r.repository));
        if let Some(s) = auth_param(challenge, "service") {
            req = req.query("service", s);
        }
        if let Some(c) = &self.credentials {
            use base64::Engine;
            let v = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                c.username,
                c.password.as_str()
            ));
            req = req.set("Authorization", &format!("Basic {v}"));
        }
        let resp = req.call().map_err(|e| {
            ScanError::Registry(format!(
                "{}: token request failed: {}",
                r.registry,
                short(e)
            ))
        })?;
        let v: serde_json::Value = resp
            .into_json()
            .map_err(|e| ScanError::Registry(format!("{}: bad token response: {e}", r.registry)))?;
        let t = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                ScanError::Registry(format!("{}: token response has no token", r.registry))
            })?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Zeroizing::new(format!("Bearer {t}")));
        Ok(())
    }

    fn get(
        &self,
        r: &Reference,
        path: &str,
        accept: Option<&str>,
    ) -> Result<ureq::Response, ScanError> {
        let url = format!("{}/{path}", self.base(r));
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.set("Accept", a);
            }
            if let Some(t) = self
                .token
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                req = req.set("Authorization", t.as_str());
            }
            match req.call() {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if attempt == 0 => {
                    let ch = resp
                        .header("WWW-Authenticate")
                        .unwrap_or_default()
                        .to_string();
                    self.authorize(r, &ch)?;
                }
                Err(e) => return Err(ScanError::Registry(format!("GET {url}: {}", short(e)))),
            }
        }
        Err(ScanError::Registry(format!("GET {url}: unauthorized")))
    }

    fn read_capped(resp: ureq::Response, cap: u64, what: &str) -> Result<Vec<u8>, ScanError> {
        let mut buf = Vec::new();
        resp.into_reader()
            .take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ScanError::Registry(format!("{what}: {e}")))?;
        if buf.len() as u64 > cap {
            return Err(ScanError::Registry(format!(
                "{what}: larger than {cap} bytes"
            )));
        }
        Ok(buf)
    }

    /// Fetches a manifest (or index) by tag or digest; returns it with its digest.
    pub(crate) fn manifest(
        &self,
        r: &Reference,
        reference: &str,
        accept: &str,
    ) -> Result<(Manifest, Vec<u8>, String), ScanError> {
        let resp = self.get(r, &format!("manifests/{reference}"), Some(accept))?;
        let bytes = Self::read_capped(resp, MAX_MANIFEST, "manifest")?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if reference.contains(':') {
            verify_digest(&bytes, reference)?;
        }
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ScanError::Registry(format!("{r}: bad manifest: {e}")))?;
        Ok((m, bytes, digest))
    }

    /// The image manifest for `platform` (following an index).
    pub(crate) fn manifest_for_platform(
        &self,
        r: &Reference,
        platform: &Platform,
    ) -> Result<(Manifest, String), ScanError> {
        let (mut m, _, mut digest) = self.manifest(r, &r.reference, MANIFEST_ACCEPT)?;
        for _ in 0..4 {
            if !m.is_index() {
                return Ok((m, digest));
            }
            let d = pick_platform(&m.manifests, platform)
                .ok_or_else(|| {
                    ScanError::Registry(format!(
                        "{r}: no manifest for {}/{}",
                        platform.os, platform.architecture
                    ))
                })?
                .digest
                .clone();
            let (m2, _, d2) = self.manifest(r, &d, MANIFEST_ACCEPT)?;
            m = m2;
            digest = d2;
        }
        Err(ScanError::Registry(format!("{r}: indexes nested too deep")))
    }

    /// A small blob, verified.
    pub(crate) fn blob_bytes(
        &self,
        r: &Reference,
        digest: &str,
        cap: u64,
    ) -> Result<Vec<u8>, ScanError> {
        let resp = self.get(r, &format!("blobs/{digest}"), None)?;
        let bytes = Self::read_capped(resp, cap, digest)?;
        verify_digest(&bytes, digest)?;
        Ok(bytes)
    }

    /// A blob as a stream; call [`VerifiedBlob::finish`] after reading to check its digest.
    pub fn blob_stream(&self, r: &Reference, digest: &str) -> Result<VerifiedBlob, ScanError> {
        // The digest is validated before it goes into a URL.
        Digesting::for_digest(std::io::empty(), digest)
            .map_err(|e| ScanError::Registry(format!("blob {digest}: {e}")))?;
        let resp = self.get(r, &format!("blobs/{digest}"), None)?;
        Ok(VerifiedBlob {
            inner: Digesting::for_digest(resp.into_reader(), digest)
                .map_err(|e| ScanError::Registry(format!("blob {digest}: {e}")))?,
            expected: digest.to_string(),
            read: 0,
            cap: 64 << 30,
        })
    }
}

fn short(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, resp) => format!("HTTP {code} {}", resp.status_text()),
        ureq::Error::Transport(t) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r: Reference = "alpine".parse().unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("docker.io", "library/alpine", "latest")
        );
        let r: Reference = "127.0.0.1:5000/palisade/bookworm:test".parse().unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("127.0.0.1:5000", "palisade/bookworm", "test")
        );
        let r: Reference = "ghcr.io/aquasecurity/trivy-db:2".parse().unwrap();
        assert_eq!(r.to_string(), "ghcr.io/aquasecurity/trivy-db:2");
        assert!("a b".parse::<Reference>().is_err());
        assert!("x.io/../y".parse::<Reference>().is_err());
    }
}
