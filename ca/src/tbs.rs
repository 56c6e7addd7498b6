//! To-be-signed certificates: serialized once, recorded in the ledger, then
//! signed as recorded.
//!
//! rcgen serializes and signs in one call. To record the exact bytes before
//! any signature exists, the certificate is first "signed" by a
//! [`TbsRecorder`] — a [`SigningKey`] with the CA's public key and algorithm
//! that produces no signature — which yields the to-be-signed certificate and
//! the signature algorithm identifier. [`TbsCertificate::sign`] then signs
//! those recorded bytes with the CA key and wraps them (RFC 5280 section
//! 4.1): the handed-out certificate contains, by construction, exactly the
//! TBS that the ledger holds. No throwaway signature, no re-parsing.

use rcgen::{CertificateParams, Issuer, KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::CaError;

/// The CA's public key and algorithm; "signs" with an empty signature.
pub(crate) struct TbsRecorder {
    public_key: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl TbsRecorder {
    /// A recorder standing for `key`.
    pub(crate) fn of(key: &KeyPair) -> Self {
        Self {
            public_key: key.der_bytes().to_vec(),
            algorithm: key.algorithm(),
        }
    }
}

impl PublicKeyData for TbsRecorder {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for TbsRecorder {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

/// A certificate's to-be-signed part and its signature algorithm identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TbsCertificate {
    /// The DER `TBSCertificate`: what is recorded and what is signed.
    pub(crate) der: Vec<u8>,
    /// The DER `AlgorithmIdentifier` of the signature.
    alg_id: Vec<u8>,
}

impl TbsCertificate {
    /// Serializes `params` for `subject_key`, issued by `recorder`'s CA.
    pub(crate) fn new(
        params: &CertificateParams,
        subject_key: &impl PublicKeyData,
        recorder: &Issuer<'_, TbsRecorder>,
    ) -> Result<Self, CaError> {
        let unsigned = params.signed_by(subject_key, recorder)?;
        let bad = || CaError::Crypto("rcgen produced a malformed certificate".into());
        let (body, rest) = der_element(unsigned.der()).ok_or_else(bad)?;
        if !rest.is_empty() || body.first() != Some(&0x30) {
            return Err(bad());
        }
        let content = &body[header_len(body).ok_or_else(bad)?..];
        let (tbs, rest) = der_element(content).ok_or_else(bad)?;
        let (alg_id, _empty_signature) = der_element(rest).ok_or_else(bad)?;
        Ok(Self {
            der: tbs.to_vec(),
            alg_id: alg_id.to_vec(),
        })
    }

    /// A to-be-signed certificate as recorded in the ledger. The signature
    /// algorithm identifier is taken from inside it (RFC 5280 section
    /// 4.1.2.3: the same as the certificate's outer one).
    pub(crate) fn from_recorded(der: Vec<u8>) -> Result<Self, CaError> {
        let bad = || CaError::Crypto("the recorded to-be-signed certificate is malformed".into());
        let (whole, rest) = der_element(&der).ok_or_else(bad)?;
        if !rest.is_empty() || whole.first() != Some(&0x30) {
            return Err(bad());
        }
        let mut fields = &whole[header_len(whole).ok_or_else(bad)?..];
        if fields.first() == Some(&0xa0) {
            fields = der_element(fields).ok_or_else(bad)?.1; // version
        }
        let (serial, rest) = der_element(fields).ok_or_else(bad)?;
        let (alg_id, _) = der_element(rest).ok_or_else(bad)?;
        if serial.first() != Some(&0x02) || alg_id.first() != Some(&0x30) {
            return Err(bad());
        }
        let alg_id = alg_id.to_vec();
        Ok(Self { der, alg_id })
    }

    /// Signs the recorded bytes with `key` and returns the certificate, DER.
    pub(crate) fn sign(&self, key: &impl SigningKey) -> Result<Vec<u8>, CaError> {
        let signature = key.sign(&self.der)?;
        let mut bit_string = Vec::with_capacity(signature.len() + 1);
        bit_string.push(0); // no unused bits
        bit_string.extend_from_slice(&signature);
        let mut content = Vec::with_capacity(self.der.len() + self.alg_id.len() + 80);
        content.extend_from_slice(&self.der);
        content.extend_from_slice(&self.alg_id);
        push_element(&mut content, 0x03, &bit_string);
        let mut cert = Vec::with_capacity(content.len() + 4);
        push_element(&mut cert, 0x30, &content);
        Ok(cert)
    }
}

/// Length of the tag and length octets of the DER element at the start of
/// `der` (single-byte tags only, which is all a certificate's top levels use).
fn header_len(der: &[u8]) -> Option<usize> {
    let first = *der.get(1)?;
    if first < 0x80 {
        Some(2)
    } else {
        let n = usize::from(first & 0x7f);
        (1..=4).contains(&n).then_some(2 + n)
    }
}

/// Splits the first DER element (header and content) off `der`.
fn der_element(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let header = header_len(der)?;
    let len = if header == 2 {
        usize::from(der[1])
    } else {
        der.get(2..header)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let end = header.checked_add(len)?;
    (end <= der.len()).then(|| der.split_at(end))
}

/// Appends a DER element with `tag` and `content`.
fn push_element(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{DistinguishedName, DnType, IsCa, SanType};
    use rustls_pki_types::CertificateDer;

    fn ca(alg: &'static SignatureAlgorithm) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "test CA");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (p.self_signed(&key).unwrap().der().to_vec(), key)
    }

    fn leaf() -> (CertificateParams, KeyPair) {
        let mut p = CertificateParams::default();
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x42; 20]));
        // Long enough that the certificate needs multi-byte lengths.
        for i in 0..20 {
            p.subject_alt_names.push(SanType::DnsName(
                format!("host-{i}.a-rather-long-domain-name.example.org")
                    .try_into()
                    .unwrap(),
            ));
        }
        (
            p,
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        )
    }

    #[test]
    fn same_bytes_as_rcgen_with_a_deterministic_signature() {
        // Ed25519 signatures are deterministic: rcgen's own signing and the
        // recorded-then-signed path must produce identical certificates.
        let (ca_der, ca_key) = ca(&rcgen::PKCS_ED25519);
        let der = CertificateDer::from(ca_der.as_slice());
        let real = Issuer::from_ca_cert_der(&der, &ca_key).unwrap();
        let recorder = Issuer::from_ca_cert_der(&der, TbsRecorder::of(&ca_key)).unwrap();
        let (params, subject) = leaf();
        let expected = params.signed_by(&subject, &real).unwrap().der().to_vec();
        let tbs = TbsCertificate::new(&params, &subject, &recorder).unwrap();
        assert_eq!(tbs.sign(&ca_key).unwrap(), expected);
    }

    #[test]
    fn ecdsa_certificate_carries_the_recorded_tbs_and_verifies() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
        ] {
            let (ca_der, ca_key) = ca(alg);
            let der = CertificateDer::from(ca_der.as_slice());
            let recorder = Issuer::from_ca_cert_der(&der, TbsRecorder::of(&ca_key)).unwrap();
            let (params, subject) = leaf();
            let tbs = TbsCertificate::new(&params, &subject, &recorder).unwrap();
            let cert = tbs.sign(&ca_key).unwrap();
            let (rest, x) = x509_parser::parse_x509_certificate(&cert).unwrap();
            assert!(rest.is_empty());
            assert_eq!(x.tbs_certificate.as_ref(), tbs.der.as_slice());
            let (_, issuer) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
            x.verify_signature(Some(issuer.public_key())).unwrap();
        }
    }

    #[test]
    fn a_recorded_tbs_signs_to_the_same_certificate_byte_for_byte() {
        // Deterministic CA keys (RFC 6979 for ECDSA): re-signing the bytes
        // the ledger holds re-derives the certificate handed out.
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let (ca_der, ring_key) = ca(alg);
            let ca_key = crate::keys::CaKey::from_pkcs8(ring_key.serialized_der()).unwrap();
            let der = CertificateDer::from(ca_der.as_slice());
            let recorder = Issuer::from_ca_cert_der(&der, TbsRecorder::of(ca_key.pair())).unwrap();
            let (params, subject) = leaf();
            let tbs = TbsCertificate::new(&params, &subject, &recorder).unwrap();
            let handed_out = tbs.sign(&ca_key).unwrap();
            let recorded = TbsCertificate::from_recorded(tbs.der.clone()).unwrap();
            assert_eq!(recorded, tbs);
            // A key loaded afresh from the same PKCS#8 (a restarted CA).
            let reloaded = crate::keys::CaKey::from_pkcs8(ring_key.serialized_der()).unwrap();
            assert_eq!(recorded.sign(&reloaded).unwrap(), handed_out);
            let (_, x) = x509_parser::parse_x509_certificate(&handed_out).unwrap();
            let (_, issuer) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
            x.verify_signature(Some(issuer.public_key())).unwrap();
        }
        assert!(TbsCertificate::from_recorded(vec![0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(TbsCertificate::from_recorded(vec![0x30, 0x05, 0xa0]).is_err());
        assert!(TbsCertificate::from_recorded(Vec::new()).is_err());
    }

    #[test]
    fn der_helpers_reject_truncation() {
        assert!(der_element(&[0x30, 0x05, 1, 2]).is_none());
        assert!(der_element(&[0x30, 0x82, 0x01]).is_none());
        assert!(der_element(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        let mut out = Vec::new();
        push_element(&mut out, 0x04, &[7; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der_element(&out), Some((out.as_slice(), &[][..])));
    }
}
