//! The certificate authority: hierarchy, issuance, revocation, CRLs, bundles.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use palisade_secrets::{KeyWrapper, SealedBlob};
use palisade_store::{
    CertCompletion, CertFilter, CertLedger, CertRecord, IssuerRecord, JoinTokenRecord,
};
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::authz::{authorize, uid, Caller, IssueAuthorizer, Requester, ADMIN, JOIN_TOKEN, SPIFFE};
use crate::keys::{key_from_pem, key_from_pkcs8, key_pem, CaKey, KeyAlgorithm, PrivateKeyPem};
use crate::ledger_writer::LedgerWriter;
use crate::tbs::{TbsCertificate, TbsRecorder};
use crate::timefmt::{now, parse, rfc3339};
use crate::{CaError, SpiffeId};

/// Serial numbers: 20 bytes, top bit clear, first byte non-zero (≥ 152 random bits).
const SERIAL_LEN: usize = 20;
/// Longest CSR accepted, in bytes.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// Most DNS/IP SANs on one certificate.
pub const MAX_EXTRA_SANS: usize = 32;

/// CA settings.
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// Trust domain, e.g. `example.org`.
    pub trust_domain: String,
    /// Algorithm of new CA keys.
    pub key_algorithm: KeyAlgorithm,
    /// Default leaf lifetime (1 hour).
    pub leaf_ttl: Duration,
    /// Longest leaf lifetime a caller may ask for (24 hours).
    pub max_leaf_ttl: Duration,
    /// Shortest leaf lifetime a caller may ask for (60 seconds).
    pub min_leaf_ttl: Duration,
    /// Root lifetime (10 years).
    pub root_ttl: Duration,
    /// Intermediate lifetime (1 year).
    pub intermediate_ttl: Duration,
    /// CRL lifetime: nextUpdate = thisUpdate + this (24 hours); regenerated at half.
    pub crl_ttl: Duration,
    /// Bundle refresh hint for SPIFFE bundle consumers (5 minutes).
    pub bundle_refresh_hint: Duration,
    /// Organization name in CA subjects.
    pub organization: String,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            trust_domain: "example.org".into(),
            key_algorithm: KeyAlgorithm::P256,
            leaf_ttl: Duration::from_secs(3600),
            max_leaf_ttl: Duration::from_secs(24 * 3600),
            min_leaf_ttl: Duration::from_secs(60),
            root_ttl: Duration::from_secs(10 * 365 * 24 * 3600),
            intermediate_ttl: Duration::from_secs(365 * 24 * 3600),
            crl_ttl: Duration::from_secs(24 * 3600),
            bundle_refresh_hint: Duration::from_secs(300),
            organization: "Palisade".into(),
        }
    }
}

/// A certificate request.
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    /// The workload's CSR (DER). `None`: the CA generates the key (convenience path).
    pub csr_der: Option<Vec<u8>>,
    /// The SPIFFE ID asked for. When `None`, the CSR's single URI SAN.
    pub spiffe_id: Option<String>,
    /// Extra DNS SANs (added to the CSR's).
    pub dns_names: Vec<String>,
    /// Extra IP SANs (added to the CSR's).
    pub ip_addresses: Vec<IpAddr>,
    /// Lifetime; default the configured leaf TTL.
    pub ttl: Option<Duration>,
}

/// A certificate handed out (recorded in the ledger first).
#[derive(Debug)]
pub struct IssuedCert {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The SPIFFE ID.
    pub spiffe_id: String,
    /// The leaf, PEM.
    pub cert_pem: String,
    /// The leaf, DER.
    pub cert_der: Vec<u8>,
    /// Leaf followed by the intermediate, PEM (what a TLS peer sends).
    pub chain_pem: String,
    /// The generated key, when the CA generated it.
    pub key_pem: Option<PrivateKeyPem>,
    /// RFC 3339.
    pub not_after: String,
}

/// A request that passed step 1 of issuance (not yet authorized).
struct CheckedRequest {
    id: SpiffeId,
    public_key: rcgen::PublicKey,
    generated: Option<KeyPair>,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    ttl: Duration,
}

/// A CRL in both encodings.
#[derive(Debug, Clone)]
pub struct Crl {
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
    /// CRL number.
    pub number: i64,
    /// RFC 3339.
    pub next_update: String,
    /// The issuer it covers.
    pub issuer_id: String,
    this_update: OffsetDateTime,
}

/// A join token as created (the secret part is shown once).
#[derive(Debug)]
pub struct JoinToken {
    /// The token: give it to the workload; it is stored only hashed.
    pub token: Zeroizing<String>,
    /// The SPIFFE ID it obtains.
    pub spiffe_id: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// RFC 5280 revocation reasons accepted by [`CertificateAuthority::revoke`].
pub const REVOCATION_REASONS: &[&str] = &[
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
];

fn reason_code(r: &str) -> Option<RevocationReason> {
    Some(match r {
        "unspecified" => RevocationReason::Unspecified,
        "keyCompromise" => RevocationReason::KeyCompromise,
        "cACompromise" => RevocationReason::CaCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        "certificateHold" => RevocationReason::CertificateHold,
        "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
        _ => return None,
    })
}

/// The online signer: the active intermediate with its unsealed key.
struct Signer {
    id: String,
    cert_pem: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    /// Signs deterministically (see [`CaKey`]).
    issuer: Issuer<'static, CaKey>,
    /// Same name, key identifier, algorithm and public key, no signature:
    /// serializes the to-be-signed certificate recorded before signing.
    recorder: Issuer<'static, TbsRecorder>,
}

struct State {
    signer: Arc<Signer>,
    /// Roots in the trust bundle (active and retiring), PEM and DER.
    roots: Vec<(String, Vec<u8>)>,
    /// Intermediates not retired (their CRLs are published).
    intermediates: Vec<IssuerRecord>,
    /// The bundle's `spiffe_sequence`: persisted in the ledger, bumped
    /// whenever the roots in the bundle change (rotation, retirement).
    sequence: u64,
}

/// The certificate authority.
pub struct CertificateAuthority {
    config: CaConfig,
    ledger: Arc<dyn CertLedger>,
    writer: LedgerWriter,
    kek: Arc<dyn KeyWrapper>,
    policy: Arc<dyn IssueAuthorizer>,
    state: RwLock<Arc<State>>,
    crls: RwLock<Vec<Crl>>,
    crl_lock: tokio::sync::Mutex<()>,
    /// Bumped whenever the trust material or the revocation set changes.
    revision: std::sync::atomic::AtomicU64,
    revoked_seen: std::sync::atomic::AtomicUsize,
    /// Certificates re-derived when the ledger was opened.
    recovered_at_open: usize,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.config.trust_domain)
            .field("kek", &self.kek.describe())
            .finish_non_exhaustive()
    }
}

fn cert_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn pem_of(der: &[u8]) -> String {
    let b = B64.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// SHA-256 over the bundle's root certificates (DER, length-prefixed, in
/// order), hex: what the bundle's sequence number tracks.
fn bundle_digest(roots: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    for (_, der) in roots {
        h.update((der.len() as u64).to_be_bytes());
        h.update(der);
    }
    hex::encode(h.finalize())
}

/// Parses the first certificate of a PEM text into DER.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, CaError> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| CaError::BadRequest(format!("not a PEM certificate: {e}")))
}

fn random_serial() -> (Vec<u8>, String) {
    let mut b = vec![0u8; SERIAL_LEN];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[0] &= 0x7f;
    if b[0] == 0 {
        b[0] = 0x01;
    }
    let hex = hex::encode(&b);
    (b, hex)
}

fn seal_context(id: &str) -> String {
    format!("palisade-ca/issuer/{id}")
}

fn ca_params(
    cn: String,
    org: &str,
    path_len: Option<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(SerialNumber::from_slice(&random_serial().0));
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    p.use_authority_key_identifier_extension = path_len.is_some();
    p
}

/// RFC 7093 section 2 method 1: the leftmost 160 bits of the SHA-256 of the
/// subjectPublicKey bits (a method pkilint and other linters recognize).
fn key_id(public_key_raw: &[u8]) -> KeyIdMethod {
    KeyIdMethod::PreSpecified(Sha256::digest(public_key_raw)[..20].to_vec())
}

fn x509_time(t: x509_parser::time::ASN1Time) -> OffsetDateTime {
    t.to_datetime()
}

impl CertificateAuthority {
    /// Creates the hierarchy: a root and an online intermediate, both keys
    /// sealed under `kek` in the ledger's issuer table. With
    /// `export_root_key`, the root key is returned instead of stored: keep it
    /// offline (it is needed again only for intermediate rollover).
    pub async fn init(
        ledger: Arc<dyn CertLedger>,
        kek: Arc<dyn KeyWrapper>,
        config: &CaConfig,
        export_root_key: bool,
    ) -> Result<Option<PrivateKeyPem>, CaError> {
        if !ledger.issuers().await?.is_empty() {
            return Err(CaError::AlreadyInitialized);
        }
        let td = crate::spiffe::parse_trust_domain(&config.trust_domain)?;
        let t = now();
        let root_key = config.key_algorithm.generate()?;
        let mut root_params = ca_params(
            format!("Palisade Root CA {td} {}", t.date()),
            &config.organization,
            None,
            t - time::Duration::minutes(5),
            t + config.root_ttl,
        );
        root_params.key_identifier_method = key_id(root_key.public_key_raw());
        let root_cert = root_params.self_signed(&root_key)?;
        let root_der = root_cert.der().to_vec();
        let root_id = cert_id(&root_der);
        let sealed_root = if export_root_key {
            None
        } else {
            Some(Self::seal_key(kek.as_ref(), &root_id, &root_key).await?)
        };
        ledger
            .put_issuer(&IssuerRecord {
                id: root_id.clone(),
                kind: "root".into(),
                status: "active".into(),
                cert_pem: pem_of(&root_der),
                sealed_key: sealed_root,
                parent_id: None,
                not_after: rfc3339(t + config.root_ttl),
                created_at: rfc3339(t),
            })
            .await?;
        Self::new_intermediate(ledger.as_ref(), kek.as_ref(), config, &root_der, &root_key).await?;
        Ok(export_root_key.then(|| key_pem(&root_key)))
    }

    async fn seal_key(kek: &dyn KeyWrapper, id: &str, key: &KeyPair) -> Result<String, CaError> {
        let der = Zeroizing::new(key.serialize_der());
        let blob = palisade_secrets::seal(kek, &der, &seal_context(id)).await?;
        serde_json::to_string(&blob).map_err(|e| CaError::Crypto(e.to_string()))
    }

    async fn unseal_key(kek: &dyn KeyWrapper, rec: &IssuerRecord) -> Result<KeyPair, CaError> {
        key_from_pkcs8(&Self::unseal_der(kek, rec).await?)
    }

    /// An issuer's key for signing certificates (deterministic signatures).
    async fn unseal_ca_key(kek: &dyn KeyWrapper, rec: &IssuerRecord) -> Result<CaKey, CaError> {
        CaKey::from_pkcs8(&Self::unseal_der(kek, rec).await?)
    }

    async fn unseal_der(
        kek: &dyn KeyWrapper,
        rec: &IssuerRecord,
    ) -> Result<Zeroizing<Vec<u8>>, CaError> {
        let sealed = rec.sealed_key.as_deref().ok_or_else(|| {
            CaError::Crypto(format!(
                "the key of {} {} is kept offline",
                rec.kind, rec.id
            ))
        })?;
        let blob: SealedBlob = serde_json::from_str(sealed)
            .map_err(|e| CaError::Crypto(format!("sealed key of {}: {e}", rec.id)))?;
        Ok(palisade_secrets::open_sealed(kek, &blob, &seal_context(&rec.id)).await?)
    }

    async fn new_intermediate(
        ledger: &dyn CertLedger,
        kek: &dyn KeyWrapper,
        config: &CaConfig,
        root_der: &[u8],
        root_key: &KeyPair,
    ) -> Result<String, CaError> {
        let td = crate::spiffe::parse_trust_domain(&config.trust_domain)?;
        let t = now();
        let (_, root) = x509_parser::parse_x509_certificate(root_der)
            .map_err(|e| CaError::Crypto(format!("root certificate: {e}")))?;
        let root_not_after = x509_time(root.validity().not_after);
        let not_after = (t + config.intermediate_ttl).min(root_not_after);
        let key = config.key_algorithm.generate()?;
        let mut params = ca_params(
            format!("Palisade Intermediate CA {td} {}", t.date()),
            &config.organization,
            Some(0),
            t - time::Duration::minutes(5),
            not_after,
        );
        params.key_identifier_method = key_id(key.public_key_raw());
        let root_issuer = Issuer::from_ca_cert_der(&CertificateDer::from(root_der), root_key)?;
        let cert = params.signed_by(&key, &root_issuer)?;
        let der = cert.der().to_vec();
        let id = cert_id(&der);
        let sealed = Self::seal_key(kek, &id, &key).await?;
        // The previous active intermediate keeps signing CRLs until it retires.
        for mut old in ledger.issuers().await? {
            if old.kind == "intermediate" && old.status == "active" {
                old.status = "retiring".into();
                ledger.put_issuer(&old).await?;
            }
        }
        ledger
            .put_issuer(&IssuerRecord {
                id: id.clone(),
                kind: "intermediate".into(),
                status: "active".into(),
                cert_pem: pem_of(&der),
                sealed_key: Some(sealed),
                parent_id: Some(cert_id(root_der)),
                not_after: rfc3339(not_after),
                created_at: rfc3339(t),
            })
            .await?;
        Ok(id)
    }

    /// Loads an initialized CA: unseals the active intermediate's key,
    /// completes the certificates whose completion a crash lost (see
    /// [`Self::recovered_at_open`]) and starts the ledger's group-commit
    /// writer (needs a Tokio runtime).
    pub async fn load(
        ledger: Arc<dyn CertLedger>,
        kek: Arc<dyn KeyWrapper>,
        config: CaConfig,
        policy: impl IssueAuthorizer,
    ) -> Result<Self, CaError> {
        let mut config = config;
        config.trust_domain = crate::spiffe::parse_trust_domain(&config.trust_domain)?;
        let state = Self::load_state(ledger.as_ref(), kek.as_ref()).await?;
        let recovered_at_open =
            Self::complete_lost(ledger.as_ref(), kek.as_ref(), &state.signer).await?;
        if recovered_at_open > 0 {
            tracing::warn!(
                certificates = recovered_at_open,
                "re-derived certificates whose completion a crash lost (reserved, signed \
                 again from the recorded to-be-signed bytes, verified, completed)"
            );
        }
        Ok(Self {
            writer: LedgerWriter::spawn(ledger.clone()),
            config,
            ledger,
            kek,
            policy: Arc::new(policy),
            state: RwLock::new(Arc::new(state)),
            crls: RwLock::new(Vec::new()),
            crl_lock: tokio::sync::Mutex::new(()),
            revision: std::sync::atomic::AtomicU64::new(1),
            revoked_seen: std::sync::atomic::AtomicUsize::new(0),
            recovered_at_open,
        })
    }

    /// How many certificates [`Self::load`] found reserved but never
    /// completed (the process stopped between the two) and completed by
    /// signing their recorded to-be-signed bytes again. CA signatures are
    /// deterministic, so each is byte for byte the certificate handed out.
    pub fn recovered_at_open(&self) -> usize {
        self.recovered_at_open
    }

    /// Returns once every certificate issued so far is recorded in full
    /// (completions ride the next group commit; call this before a clean
    /// exit so that the next start has nothing to recover).
    pub async fn flush(&self) -> Result<(), CaError> {
        self.writer.flush().await
    }

    async fn load_state(ledger: &dyn CertLedger, kek: &dyn KeyWrapper) -> Result<State, CaError> {
        let issuers = ledger.issuers().await?;
        if issuers.is_empty() {
            return Err(CaError::NotInitialized);
        }
        let active = issuers
            .iter()
            .rev()
            .find(|i| i.kind == "intermediate" && i.status == "active")
            .ok_or(CaError::NotInitialized)?;
        let key = Self::unseal_ca_key(kek, active).await?;
        let der = pem_to_der(&active.cert_pem)?;
        let (_, x) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CaError::Crypto(format!("intermediate certificate: {e}")))?;
        let signer = Signer {
            id: active.id.clone(),
            not_before: x509_time(x.validity().not_before),
            not_after: x509_time(x.validity().not_after),
            recorder: Issuer::from_ca_cert_der(
                &CertificateDer::from(der.as_slice()),
                TbsRecorder::of(key.pair()),
            )?,
            issuer: Issuer::from_ca_cert_der(&CertificateDer::from(der.as_slice()), key)?,
            cert_pem: active.cert_pem.clone(),
        };
        let roots = issuers
            .iter()
            .filter(|i| i.kind == "root" && i.status != "retired")
            .map(|i| Ok((i.cert_pem.clone(), pem_to_der(&i.cert_pem)?)))
            .collect::<Result<Vec<_>, CaError>>()?;
        let intermediates = issuers
            .into_iter()
            .filter(|i| i.kind == "intermediate" && i.status != "retired")
            .collect();
        let sequence = ledger
            .bundle_sequence(&bundle_digest(&roots), &rfc3339(now()))
            .await?;
        Ok(State {
            signer: Arc::new(signer),
            roots,
            intermediates,
            sequence,
        })
    }

    /// Completes every reservation without its certificate (see
    /// [`crate::recovery`]); returns how many. One that cannot be re-derived
    /// (its issuer's key kept offline, a corrupt record) is reported and
    /// left reserved: it stays in the ledger, and CRLs can still list it.
    async fn complete_lost(
        ledger: &dyn CertLedger,
        kek: &dyn KeyWrapper,
        signer: &Signer,
    ) -> Result<usize, CaError> {
        let lost = ledger.incomplete_certs().await?;
        if lost.is_empty() {
            return Ok(0);
        }
        let issuers = ledger.issuers().await?;
        let mut keys: std::collections::HashMap<String, Option<(CaKey, Vec<u8>)>> =
            std::collections::HashMap::new();
        let mut done = Vec::with_capacity(lost.len());
        for rec in &lost {
            let derived = if rec.issuer_id == signer.id {
                let der = pem_to_der(&signer.cert_pem)?;
                crate::recovery::rederive(rec, signer.issuer.key(), &der)
            } else {
                if !keys.contains_key(&rec.issuer_id) {
                    let loaded = match issuers.iter().find(|i| i.id == rec.issuer_id) {
                        Some(i) => match Self::unseal_ca_key(kek, i).await {
                            Ok(k) => Some((k, pem_to_der(&i.cert_pem)?)),
                            Err(e) => {
                                tracing::error!(issuer = %i.id, error = %e, "cannot unseal an issuer key to recover its certificates");
                                None
                            }
                        },
                        None => None,
                    };
                    keys.insert(rec.issuer_id.clone(), loaded);
                }
                match keys.get(&rec.issuer_id).and_then(Option::as_ref) {
                    Some((key, der)) => crate::recovery::rederive(rec, key, der),
                    None => Err(CaError::Crypto(format!(
                        "certificate {}: the key of issuer {} is not available",
                        rec.serial, rec.issuer_id
                    ))),
                }
            };
            match derived {
                Ok(c) => done.push(c),
                Err(e) => tracing::error!(
                    serial = %rec.serial,
                    error = %e,
                    "cannot re-derive a reserved certificate; it stays reserved"
                ),
            }
        }
        for chunk in done.chunks(256) {
            ledger.write_batch(&[], chunk).await?;
        }
        Ok(done.len())
    }

    /// Re-reads the issuers (after a rollover) and swaps the signer in.
    pub async fn reload(&self) -> Result<(), CaError> {
        let st = Self::load_state(self.ledger.as_ref(), self.kek.as_ref()).await?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(st);
        self.crls.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.bump();
        Ok(())
    }

    fn bump(&self) {
        self.revision
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Changes whenever the bundle, the signer or the revocation set
    /// changes (TLS listeners rebuild their verifiers when it does).
    pub fn revision(&self) -> u64 {
        self.revision.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Picks up revocations made by another process (the CLI) on the same
    /// ledger: when the set of revoked certificates changed, the CRLs are
    /// regenerated and the revision bumped. Returns whether it changed.
    pub async fn refresh_revocations(&self) -> Result<bool, CaError> {
        let n = self
            .ledger
            .list_certs(&CertFilter {
                statuses: vec!["revoked".into()],
                limit: u32::MAX,
                ..Default::default()
            })
            .await?
            .len();
        let before = self
            .revoked_seen
            .swap(n, std::sync::atomic::Ordering::SeqCst);
        if before != n {
            self.crls.write().unwrap_or_else(|e| e.into_inner()).clear();
            self.crls().await?;
            self.bump();
            return Ok(true);
        }
        Ok(false)
    }

    fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn CertLedger> {
        &self.ledger
    }

    /// The active intermediate, PEM.
    pub fn intermediate_pem(&self) -> String {
        self.state().signer.cert_pem.clone()
    }

    /// Introduces a new intermediate signed by the root (its key from the
    /// store, or `root_key_pem` when the root is kept offline). The old
    /// intermediate becomes `retiring`: its certificates stay valid and its
    /// CRL stays published. Takes effect at once for this instance.
    pub async fn rotate_intermediate(&self, root_key_pem: Option<&str>) -> Result<String, CaError> {
        let issuers = self.ledger.issuers().await?;
        let root = issuers
            .iter()
            .rev()
            .find(|i| i.kind == "root" && i.status == "active")
            .ok_or(CaError::NotInitialized)?;
        let root_key = match root_key_pem {
            Some(p) => key_from_pem(p)?,
            None => Self::unseal_key(self.kek.as_ref(), root).await?,
        };
        let id = Self::new_intermediate(
            self.ledger.as_ref(),
            self.kek.as_ref(),
            &self.config,
            &pem_to_der(&root.cert_pem)?,
            &root_key,
        )
        .await?;
        self.reload().await?;
        Ok(id)
    }

    /// Introduces a new root and a new intermediate under it. The old root
    /// stays in the trust bundle (`retiring`) until [`Self::retire`] is
    /// called, once every certificate under it has expired.
    pub async fn rotate_root(&self) -> Result<String, CaError> {
        let t = now();
        let td = self.config.trust_domain.clone();
        let mut issuers = self.ledger.issuers().await?;
        for old in issuers
            .iter_mut()
            .filter(|i| i.kind == "root" && i.status == "active")
        {
            old.status = "retiring".into();
            self.ledger.put_issuer(old).await?;
        }
        let root_key = self.config.key_algorithm.generate()?;
        let mut params = ca_params(
            format!("Palisade Root CA {td} {}", t.date()),
            &self.config.organization,
            None,
            t - time::Duration::minutes(5),
            t + self.config.root_ttl,
        );
        params.key_identifier_method = key_id(root_key.public_key_raw());
        let der = params.self_signed(&root_key)?.der().to_vec();
        let id = cert_id(&der);
        let sealed = Self::seal_key(self.kek.as_ref(), &id, &root_key).await?;
        self.ledger
            .put_issuer(&IssuerRecord {
                id: id.clone(),
                kind: "root".into(),
                status: "active".into(),
                cert_pem: pem_of(&der),
                sealed_key: Some(sealed),
                parent_id: None,
                not_after: rfc3339(t + self.config.root_ttl),
                created_at: rfc3339(t),
            })
            .await?;
        Self::new_intermediate(
            self.ledger.as_ref(),
            self.kek.as_ref(),
            &self.config,
            &der,
            &root_key,
        )
        .await?;
        self.reload().await?;
        Ok(id)
    }

    /// Retires a `retiring` issuer: it leaves the trust bundle (a root) or
    /// stops publishing CRLs (an intermediate). Refused while certificates
    /// it issued are still valid, unless `force`.
    pub async fn retire(&self, issuer_id: &str, force: bool) -> Result<(), CaError> {
        let mut issuers = self.ledger.issuers().await?;
        let Some(pos) = issuers.iter().position(|i| i.id == issuer_id) else {
            return Err(CaError::BadRequest(format!("no issuer {issuer_id}")));
        };
        if issuers[pos].status != "retiring" {
            return Err(CaError::BadRequest(format!(
                "issuer {issuer_id} is {}, only a retiring issuer can retire",
                issuers[pos].status
            )));
        }
        if !force {
            let children: Vec<String> = std::iter::once(issuer_id.to_owned())
                .chain(
                    issuers
                        .iter()
                        .filter(|i| i.parent_id.as_deref() == Some(issuer_id))
                        .map(|i| i.id.clone()),
                )
                .collect();
            let valid = self
                .ledger
                .list_certs(&CertFilter {
                    statuses: vec!["issued".into(), "reserved".into()],
                    expires_after: Some(rfc3339(now())),
                    limit: 100_000,
                    ..Default::default()
                })
                .await?
                .into_iter()
                .filter(|c| children.contains(&c.issuer_id))
                .count();
            if valid > 0 {
                return Err(CaError::BadRequest(format!(
                    "{valid} certificates under {issuer_id} are still valid (use force to retire anyway)"
                )));
            }
        }
        issuers[pos].status = "retired".into();
        self.ledger.put_issuer(&issuers[pos]).await?;
        self.reload().await
    }

    /// Creates a one-time join token for `spiffe_id`, valid for `ttl`.
    pub async fn create_join_token(
        &self,
        spiffe_id: &str,
        ttl: Duration,
        created_by: &str,
    ) -> Result<JoinToken, CaError> {
        let id = SpiffeId::parse(spiffe_id)?;
        id.require_member_of(&self.config.trust_domain)?;
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(raw.as_mut());
        let token = Zeroizing::new(format!("pjt_{}", B64URL.encode(raw.as_ref())));
        let t = now();
        let expires_at = rfc3339(t + ttl);
        self.ledger
            .put_join_token(&JoinTokenRecord {
                token_hash: token_hash(&token),
                spiffe_id: id.to_string(),
                expires_at: expires_at.clone(),
                created_by: created_by.into(),
                created_at: rfc3339(t),
                used_at: None,
            })
            .await?;
        Ok(JoinToken {
            token,
            spiffe_id: id.to_string(),
            expires_at,
        })
    }

    async fn authenticate(&self, requester: &Requester) -> Result<Caller, CaError> {
        Ok(match requester {
            Requester::Admin(name) => Caller {
                principal: uid(&ADMIN, name),
                method: "admin",
                bound: None,
                caller: None,
                label: format!("admin:{name}"),
                entities: None,
            },
            Requester::JoinToken(token) => {
                let hash = token_hash(token);
                let rec = self
                    .ledger
                    .burn_join_token(&hash, &rfc3339(now()))
                    .await?
                    .ok_or_else(|| {
                        CaError::Unauthenticated(
                            "join token unknown, expired or already used".into(),
                        )
                    })?;
                let short = &hash[..16];
                Caller {
                    principal: uid(&JOIN_TOKEN, short),
                    method: "join_token",
                    bound: Some(rec.spiffe_id),
                    caller: None,
                    label: format!("join-token:{short}"),
                    entities: None,
                }
            }
            Requester::Workload(id) => Caller {
                principal: uid(&SPIFFE, id.as_str()),
                method: "mtls",
                bound: None,
                caller: Some(id.to_string()),
                label: format!("mtls:{id}"),
                entities: None,
            },
            Requester::Token {
                principal,
                spiffe_id,
            } => Caller {
                principal: principal.uid.clone(),
                method: "oidc",
                bound: Some(spiffe_id.to_string()),
                caller: None,
                label: format!("oidc:{}", principal.uid.id().unescaped()),
                entities: Some(serde_json::Value::Array(vec![principal.entity.clone()])),
            },
        })
    }

    /// Issues an X.509-SVID. Order: validate the request, authenticate the
    /// caller (a join token burns here), authorize (`ca:issue`), reserve the
    /// serial and record the to-be-signed certificate (durable; the recorded
    /// bytes are signed meanwhile), answer; the certificate is recorded with
    /// the next group commit. The signature is deterministic, so the
    /// reservation alone fixes the certificate: should the process stop
    /// before the completion is written, [`Self::load`] re-derives it.
    pub async fn issue(
        &self,
        req: IssueRequest,
        requester: &Requester,
    ) -> Result<IssuedCert, CaError> {
        let checked = self.check_request(req)?;
        let caller = self.authenticate(requester).await?;
        authorize(self.policy.as_ref(), &caller, &checked.id)?;
        self.sign_and_record(checked, &caller.label).await
    }

    /// Issues the serving process's own certificate (`palisade serve`'s TLS
    /// listener): the same checks, ledger order and record as [`Self::issue`]
    /// (requester `server:<name>`), without a `ca:issue` decision — the
    /// process holding the CA key is not a caller of its policy, so a policy
    /// bundle without CA rules does not keep the server from starting.
    pub async fn issue_own(&self, req: IssueRequest, name: &str) -> Result<IssuedCert, CaError> {
        let checked = self.check_request(req)?;
        self.sign_and_record(checked, &format!("server:{name}"))
            .await
    }

    /// Step 1 of issuance: the request's public key, identity, SANs and TTL.
    fn check_request(&self, req: IssueRequest) -> Result<CheckedRequest, CaError> {
        let (public_key, generated, csr_params) = match &req.csr_der {
            Some(der) => {
                if der.len() > MAX_CSR_BYTES {
                    return Err(CaError::BadRequest(format!(
                        "CSR larger than {MAX_CSR_BYTES} bytes"
                    )));
                }
                let csr = CertificateSigningRequestParams::from_der(
                    &CertificateSigningRequestDer::from(der.as_slice()),
                )
                .map_err(|e| CaError::BadRequest(format!("CSR rejected: {e}")))?;
                if KeyAlgorithm::of(csr.public_key.algorithm()).is_none() {
                    return Err(CaError::BadRequest(
                        "CSR key must be ECDSA P-256, P-384 or Ed25519".into(),
                    ));
                }
                (csr.public_key.clone(), None, Some(csr.params))
            }
            None => {
                let key = KeyAlgorithm::P256.generate()?;
                (rcgen_public_key(&key)?, Some(key), None)
            }
        };
        let mut uris = Vec::new();
        let mut dns = req.dns_names.clone();
        let mut ips = req.ip_addresses.clone();
        if let Some(p) = &csr_params {
            for san in &p.subject_alt_names {
                match san {
                    SanType::URI(u) => uris.push(u.as_str().to_owned()),
                    SanType::DnsName(d) => dns.push(d.as_str().to_owned()),
                    SanType::IpAddress(ip) => ips.push(*ip),
                    _ => {
                        return Err(CaError::BadRequest(
                            "CSR has an unsupported SAN type".into(),
                        ))
                    }
                }
            }
        }
        if uris.len() > 1 {
            return Err(CaError::BadRequest(
                "an X.509-SVID has exactly one URI SAN; the CSR has several".into(),
            ));
        }
        let requested = match (&req.spiffe_id, uris.first()) {
            (Some(a), Some(b)) if a != b => {
                return Err(CaError::BadRequest(format!(
                    "requested SPIFFE ID {a} differs from the CSR's URI SAN {b}"
                )))
            }
            (Some(a), _) => a.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => return Err(CaError::BadRequest("no SPIFFE ID requested".into())),
        };
        let id = SpiffeId::parse(&requested)?;
        id.require_member_of(&self.config.trust_domain)?;
        dns.sort();
        dns.dedup();
        ips.sort();
        ips.dedup();
        if dns.len() + ips.len() > MAX_EXTRA_SANS {
            return Err(CaError::BadRequest(format!(
                "more than {MAX_EXTRA_SANS} DNS/IP SANs"
            )));
        }
        let ttl = req.ttl.unwrap_or(self.config.leaf_ttl);
        if ttl > self.config.max_leaf_ttl || ttl < self.config.min_leaf_ttl {
            return Err(CaError::BadRequest(format!(
                "TTL must be between {} s and {} s",
                self.config.min_leaf_ttl.as_secs(),
                self.config.max_leaf_ttl.as_secs()
            )));
        }
        Ok(CheckedRequest {
            id,
            public_key,
            generated,
            dns,
            ips,
            ttl,
        })
    }

    /// Steps 4-8 of issuance, after the caller was authorized: build the
    /// certificate, reserve and record, sign, record, answer.
    async fn sign_and_record(
        &self,
        checked: CheckedRequest,
        requester_label: &str,
    ) -> Result<IssuedCert, CaError> {
        let CheckedRequest {
            id,
            public_key,
            generated,
            dns,
            ips,
            ttl,
        } = checked;
        // 4. The certificate.
        let st = self.state();
        let signer = st.signer.clone();
        let t = now();
        let not_before = (t - time::Duration::seconds(30)).max(signer.not_before);
        let not_after = (t + ttl).min(signer.not_after);
        if not_after <= t {
            return Err(CaError::Crypto(
                "the intermediate has expired: rotate it".into(),
            ));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.config.organization.as_str());
        if let Some(first) = dns.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = key_id(public_key.der_bytes());
        params.subject_alt_names.push(SanType::URI(
            id.as_str()
                .try_into()
                .map_err(|e| CaError::BadRequest(format!("SPIFFE ID: {e:?}")))?,
        ));
        for d in &dns {
            validate_dns(d)?;
            params.subject_alt_names.push(SanType::DnsName(
                d.as_str()
                    .try_into()
                    .map_err(|e| CaError::BadRequest(format!("DNS SAN {d}: {e:?}")))?,
            ));
        }
        for ip in &ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        let spki = public_key.subject_public_key_info();
        let pk_hash = hex::encode(Sha256::digest(&spki));
        let mut sans: Vec<String> = dns.clone();
        sans.extend(ips.iter().map(|i| i.to_string()));

        // 5. Reserve the serial and record the to-be-signed certificate;
        // 6. sign exactly the recorded bytes while the reservation commits.
        let mut attempt = 0;
        let (serial_hex, der) = loop {
            let (serial, serial_hex) = random_serial();
            params.serial_number = Some(SerialNumber::from_slice(&serial));
            let tbs = TbsCertificate::new(&params, &public_key, &signer.recorder)?;
            let rec = CertRecord {
                serial: serial_hex.clone(),
                issuer_id: signer.id.clone(),
                spiffe_id: id.to_string(),
                sans: sans.clone(),
                public_key_hash: pk_hash.clone(),
                not_before: rfc3339(not_before),
                not_after: rfc3339(not_after),
                requester: requester_label.to_owned(),
                status: "reserved".into(),
                tbs_der: tbs.der.clone(),
                cert_der: None,
                revoked_at: None,
                revocation_reason: None,
                created_at: rfc3339(t),
            };
            let (reserved, signed) = tokio::join!(self.writer.reserve(rec), async {
                tbs.sign(signer.issuer.key())
            });
            match reserved {
                Ok(()) => break (serial_hex, signed?),
                // A serial collision (2^-152) or a transient error: new serial.
                Err(e) if attempt < 2 => {
                    tracing::warn!(error = %e, "ledger reservation failed, retrying with a new serial");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };

        // 7. Record the result with the next group commit, 8. answer now:
        // the reservation is durable and determines the certificate.
        self.writer
            .complete_later(CertCompletion {
                serial: serial_hex.clone(),
                cert_der: der.clone(),
            })
            .await?;
        let cert_pem = pem_of(&der);
        Ok(IssuedCert {
            serial: serial_hex,
            spiffe_id: id.to_string(),
            chain_pem: format!("{cert_pem}{}", signer.cert_pem),
            cert_pem,
            cert_der: der,
            key_pem: generated.as_ref().map(key_pem),
            not_after: rfc3339(not_after),
        })
    }

    /// Revokes a certificate and regenerates its issuer's CRL.
    pub async fn revoke(&self, serial: &str, reason: &str) -> Result<(), CaError> {
        if reason_code(reason).is_none() {
            return Err(CaError::BadRequest(format!(
                "unknown revocation reason `{reason}`: one of {}",
                REVOCATION_REASONS.join(", ")
            )));
        }
        let serial = serial.trim().to_ascii_lowercase().replace(':', "");
        if !self
            .ledger
            .revoke_cert(&serial, reason, &rfc3339(now()))
            .await?
        {
            return Err(CaError::UnknownSerial(serial));
        }
        self.crls.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.crl().await?;
        self.revoked_seen
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.bump();
        Ok(())
    }

    /// The CRLs of every published intermediate (active first), regenerated
    /// when a revocation happened or half their lifetime has passed.
    pub async fn crls(&self) -> Result<Vec<Crl>, CaError> {
        let t = now();
        let half =
            time::Duration::try_from(self.config.crl_ttl / 2).unwrap_or(time::Duration::HOUR);
        let st = self.state();
        {
            let cached = self.crls.read().unwrap_or_else(|e| e.into_inner());
            if !cached.is_empty()
                && cached.len() == st.intermediates.len()
                && cached.iter().all(|c| t < c.this_update + half)
            {
                return Ok(cached.clone());
            }
        }
        let _guard = self.crl_lock.lock().await;
        // Replicas sharing the ledger regenerate one at a time, so CRL
        // numbers follow the order of their thisUpdate times.
        let shared = self.ledger.singleton("crl").await?;
        let mut out = Vec::new();
        let mut ordered = st.intermediates.clone();
        ordered.sort_by_key(|i| i.id != st.signer.id);
        for rec in &ordered {
            out.push(self.make_crl(rec, &st).await?);
        }
        shared.release().await;
        *self.crls.write().unwrap_or_else(|e| e.into_inner()) = out.clone();
        Ok(out)
    }

    /// The active intermediate's CRL.
    pub async fn crl(&self) -> Result<Crl, CaError> {
        self.crls()
            .await?
            .into_iter()
            .next()
            .ok_or(CaError::NotInitialized)
    }

    async fn make_crl(&self, rec: &IssuerRecord, st: &State) -> Result<Crl, CaError> {
        let t = now();
        let revoked = self.ledger.revoked_certs(&rec.id, &rfc3339(t)).await?;
        let number = self.ledger.next_crl_number(&rec.id, &rfc3339(t)).await?;
        let key = if rec.id == st.signer.id {
            None
        } else {
            Some(Self::unseal_key(self.kek.as_ref(), rec).await?)
        };
        let der = pem_to_der(&rec.cert_pem)?;
        let params = CertificateRevocationListParams {
            this_update: t,
            next_update: t + self.config.crl_ttl,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(
                        &hex::decode(&c.serial).unwrap_or_default(),
                    ),
                    revocation_time: c.revoked_at.as_deref().and_then(parse).unwrap_or(t),
                    reason_code: c
                        .revocation_reason
                        .as_deref()
                        .and_then(reason_code)
                        .filter(|r| *r != RevocationReason::Unspecified),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: key_id(match &key {
                None => st.signer.issuer.key().pair().public_key_raw(),
                Some(k) => k.public_key_raw(),
            }),
        };
        let crl = match &key {
            None => params.signed_by(&st.signer.issuer)?,
            Some(k) => params.signed_by(&Issuer::from_ca_cert_der(
                &CertificateDer::from(der.as_slice()),
                k,
            )?)?,
        };
        Ok(Crl {
            der: crl.der().to_vec(),
            pem: crl.pem()?,
            number,
            next_update: rfc3339(t + self.config.crl_ttl),
            issuer_id: rec.id.clone(),
            this_update: t,
        })
    }

    /// The trust bundle: root certificates (active and retiring), PEM.
    pub fn bundle_pem(&self) -> String {
        self.state().roots.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// Root certificates, DER.
    pub fn roots_der(&self) -> Vec<Vec<u8>> {
        self.state().roots.iter().map(|(_, d)| d.clone()).collect()
    }

    /// Certificates of the intermediates not retired, DER.
    pub fn intermediates_der(&self) -> Vec<Vec<u8>> {
        self.state()
            .intermediates
            .iter()
            .filter_map(|i| pem_to_der(&i.cert_pem).ok())
            .collect()
    }

    /// The SPIFFE trust bundle (a JWK Set): one `x509-svid` key per root
    /// with `x5c`, plus `spiffe_sequence` and `spiffe_refresh_hint`.
    pub fn bundle_jwks(&self) -> Result<serde_json::Value, CaError> {
        let st = self.state();
        let mut keys = Vec::new();
        for (_, der) in &st.roots {
            let (_, x) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| CaError::Crypto(format!("root certificate: {e}")))?;
            let mut jwk = jwk_of(x.public_key())?;
            jwk["use"] = "x509-svid".into();
            jwk["x5c"] = serde_json::json!([B64.encode(der)]);
            keys.push(jwk);
        }
        Ok(serde_json::json!({
            "keys": keys,
            "spiffe_sequence": st.sequence,
            "spiffe_refresh_hint": self.config.bundle_refresh_hint.as_secs(),
        }))
    }

    /// Checks a client certificate chain presented by a workload (leaf
    /// first) for renewal: valid under the bundle now, not revoked, an
    /// X.509-SVID of this trust domain. Returns its SPIFFE ID.
    pub async fn verify_workload(&self, chain: &[Vec<u8>]) -> Result<SpiffeId, CaError> {
        let leaf = chain
            .first()
            .ok_or_else(|| CaError::Unauthenticated("no client certificate".into()))?;
        let roots = self.roots_der();
        let anchors: Vec<_> = roots
            .iter()
            .map(|d| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(d.as_slice()))
                    .map(|a| a.to_owned())
                    .map_err(|e| CaError::Crypto(format!("trust anchor: {e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let inter: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let ee_der = CertificateDer::from(leaf.as_slice());
        let ee = webpki::EndEntityCert::try_from(&ee_der)
            .map_err(|e| CaError::Unauthenticated(format!("client certificate: {e:?}")))?;
        let unix = rustls_pki_types::UnixTime::now();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &inter,
            unix,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| CaError::Unauthenticated(format!("client certificate: {e:?}")))?;
        let (_, x) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| CaError::Unauthenticated(format!("client certificate: {e}")))?;
        let id = spiffe_id_of(&x)?;
        id.require_member_of(&self.config.trust_domain)?;
        let serial = hex::encode(x.raw_serial());
        match self.ledger.cert(&serial).await? {
            Some(c) if c.status == "revoked" => Err(CaError::Unauthenticated(format!(
                "certificate {serial} is revoked"
            ))),
            Some(_) => Ok(id),
            None => Err(CaError::Unauthenticated(format!(
                "certificate {serial} is not in this CA's ledger"
            ))),
        }
    }

    /// Ledger entries matching `filter`.
    pub async fn list(&self, filter: &CertFilter) -> Result<Vec<CertRecord>, CaError> {
        Ok(self.ledger.list_certs(filter).await?)
    }
}

fn rcgen_public_key(key: &KeyPair) -> Result<rcgen::PublicKey, CaError> {
    // Round-trip through a self-made CSR: the only public constructor.
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    let csr = p.serialize_request(key)?;
    Ok(CertificateSigningRequestParams::from_der(csr.der())?.public_key)
}

fn validate_dns(d: &str) -> Result<(), CaError> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').enumerate().all(|(i, label)| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && (label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    || (i == 0 && label == "*"))
        });
    if ok {
        Ok(())
    } else {
        Err(CaError::BadRequest(format!(
            "invalid DNS name `{}`",
            d.chars().take(64).collect::<String>()
        )))
    }
}

/// The SPIFFE ID of an X.509-SVID: its only URI SAN.
pub(crate) fn spiffe_id_of(
    x: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<SpiffeId, CaError> {
    use x509_parser::extensions::GeneralName;
    let san = x
        .subject_alternative_name()
        .map_err(|e| CaError::Unauthenticated(format!("SAN extension: {e}")))?
        .ok_or_else(|| CaError::Unauthenticated("certificate has no SAN".into()))?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [one] => SpiffeId::parse(one),
        _ => Err(CaError::Unauthenticated(format!(
            "an X.509-SVID has exactly one URI SAN, this one has {}",
            uris.len()
        ))),
    }
}

/// The SPIFFE ID of a DER certificate.
pub fn spiffe_id_of_der(der: &[u8]) -> Result<SpiffeId, CaError> {
    let (_, x) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CaError::Unauthenticated(format!("certificate: {e}")))?;
    spiffe_id_of(&x)
}

fn jwk_of(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<serde_json::Value, CaError> {
    let oid = spki.algorithm.algorithm.to_id_string();
    let point = spki.subject_public_key.data.as_ref();
    match oid.as_str() {
        // id-ecPublicKey
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let (crv, n) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256", 32),
                "1.3.132.0.34" => ("P-384", 48),
                other => return Err(CaError::Crypto(format!("unsupported curve {other}"))),
            };
            if point.len() != 1 + 2 * n || point[0] != 4 {
                return Err(CaError::Crypto("EC point is not uncompressed".into()));
            }
            Ok(serde_json::json!({
                "kty": "EC",
                "crv": crv,
                "x": B64URL.encode(&point[1..1 + n]),
                "y": B64URL.encode(&point[1 + n..]),
            }))
        }
        "1.3.101.112" => Ok(serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64URL.encode(point),
        })),
        other => Err(CaError::Crypto(format!(
            "unsupported key algorithm {other}"
        ))),
    }
}

/// SHA-256 of a join token, hex: all the ledger keeps.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
