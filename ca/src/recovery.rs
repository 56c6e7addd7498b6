//! Re-deriving a certificate from its ledger reservation.
//!
//! Issuance answers once the reservation — serial, every ledger field and
//! the exact to-be-signed bytes — is durable; the signed certificate follows
//! with the next group commit. A crash in between leaves a reservation
//! without its certificate. CA signatures are deterministic (RFC 6979 for
//! ECDSA, Ed25519 by construction), so signing the recorded bytes again with
//! the same key gives back, byte for byte, the certificate that was handed
//! out; it is verified against the issuer's public key before it is recorded.

use palisade_store::{CertCompletion, CertRecord};

use crate::keys::CaKey;
use crate::tbs::TbsCertificate;
use crate::CaError;

/// The certificate of reservation `rec`, signed again by its issuer (`key`,
/// certificate `issuer_der`) and verified.
pub(crate) fn rederive(
    rec: &CertRecord,
    key: &CaKey,
    issuer_der: &[u8],
) -> Result<CertCompletion, CaError> {
    let fail = |why: String| CaError::Crypto(format!("certificate {}: {why}", rec.serial));
    let tbs = TbsCertificate::from_recorded(rec.tbs_der.clone())?;
    let der = tbs.sign(key)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| fail(format!("re-signed certificate does not parse: {e}")))?;
    if hex::encode(cert.raw_serial()) != rec.serial {
        return Err(fail("the recorded certificate has another serial".into()));
    }
    let (_, issuer) = x509_parser::parse_x509_certificate(issuer_der)
        .map_err(|e| fail(format!("issuer certificate: {e}")))?;
    if cert.issuer() != issuer.subject() {
        return Err(fail("the recorded certificate names another issuer".into()));
    }
    cert.verify_signature(Some(issuer.public_key()))
        .map_err(|e| fail(format!("re-signed certificate does not verify: {e}")))?;
    Ok(CertCompletion {
        serial: rec.serial.clone(),
        cert_der: der,
    })
}
