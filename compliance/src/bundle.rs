//! The signed evidence bundle: the report (with the evidence it cites) and
//! a DSSE envelope whose payload is a manifest — the SHA-256 of every
//! control result, check result and evidence piece, and of the whole report,
//! each over its RFC 8785 canonical JSON — signed with the platform's
//! Ed25519 key. [`verify`] checks the signature, then names exactly what
//! changed: which controls, checks or evidence, added, removed or altered.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assess::Report;
use crate::error::ComplianceError;
use crate::jcs;
use crate::signing::{self, Signer};

/// The DSSE payload type of the manifest.
pub const PAYLOAD_TYPE: &str = "application/vnd.palisade.compliance-manifest+json";
/// The manifest's schema name.
const MANIFEST_SCHEMA: &str = "palisade-evidence-bundle/1";

/// A DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsseSignature {
    /// Key id (first 8 bytes of the public key's SHA-256, hex).
    pub keyid: String,
    /// Ed25519 signature over the DSSE pre-authentication encoding, base64.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The manifest (canonical JSON), base64.
    pub payload: String,
    /// Signatures.
    pub signatures: Vec<DsseSignature>,
}

/// A report with its signed manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The signed manifest.
    pub dsse: Envelope,
    /// The report, with the evidence it cites.
    pub report: Report,
}

/// DSSE's pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    m.extend_from_slice(payload);
    m
}

fn digests<T: Serialize>(items: &[T], key: impl Fn(&T) -> &str) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| {
            (
                key(i).to_owned(),
                jcs::digest(&serde_json::to_value(i).unwrap_or(Value::Null)),
            )
        })
        .collect()
}

fn manifest(r: &Report) -> Result<Value, ComplianceError> {
    Ok(serde_json::json!({
        "schema": MANIFEST_SCHEMA,
        "framework": r.framework.id,
        "generated_at": r.generated_at,
        "report_sha256": jcs::digest(&serde_json::to_value(r).map_err(ComplianceError::json)?),
        "controls": digests(&r.controls, |c| c.id.as_str()),
        "checks": digests(&r.checks, |c| c.check.as_str()),
        "evidence": digests(&r.evidence, |e| e.id.as_str()),
    }))
}

/// Signs `report` into a bundle.
pub fn sign(report: &Report, signer: &dyn Signer) -> Result<Bundle, ComplianceError> {
    let payload = jcs::canonicalize(&manifest(report)?);
    let sig = signer.sign(&pae(PAYLOAD_TYPE, payload.as_bytes()));
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Bundle {
        dsse: Envelope {
            payload_type: PAYLOAD_TYPE.into(),
            payload: b64.encode(payload.as_bytes()),
            signatures: vec![DsseSignature {
                keyid: signer.key_id(),
                sig: b64.encode(sig),
            }],
        },
        report: report.clone(),
    })
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether the manifest's signature verifies with the key.
    pub signature_valid: bool,
    /// Every difference between the manifest and the report, in words.
    pub changes: Vec<String>,
}

impl Verification {
    /// Whether the bundle is exactly what was signed.
    pub fn is_intact(&self) -> bool {
        self.signature_valid && self.changes.is_empty()
    }
}

fn compare(kind: &str, signed: &Value, now: &BTreeMap<String, String>, out: &mut Vec<String>) {
    let signed: BTreeMap<String, String> = signed
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    for (id, h) in &signed {
        match now.get(id) {
            None => out.push(format!("{kind} `{id}` was removed")),
            Some(n) if n != h => out.push(format!("{kind} `{id}` was changed")),
            Some(_) => {}
        }
    }
    for id in now.keys() {
        if !signed.contains_key(id) {
            out.push(format!("{kind} `{id}` was added"));
        }
    }
}

/// Verifies `bundle` against `public_key` and says what changed.
pub fn verify(bundle: &Bundle, public_key: &[u8]) -> Verification {
    let mut v = Verification::default();
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(payload) = b64.decode(&bundle.dsse.payload) else {
        v.changes.push("the DSSE payload is not base64".into());
        return v;
    };
    v.signature_valid = bundle.dsse.payload_type == PAYLOAD_TYPE
        && bundle.dsse.signatures.iter().any(|s| {
            s.keyid == signing::key_id(public_key)
                && b64.decode(&s.sig).is_ok_and(|sig| {
                    signing::verify(public_key, &pae(PAYLOAD_TYPE, &payload), &sig)
                })
        });
    if !v.signature_valid {
        v.changes.push("the manifest's signature does not verify with this key: the manifest or signature was altered, or another key signed it".into());
    }
    let signed: Value = match serde_json::from_slice(&payload) {
        Ok(m) => m,
        Err(e) => {
            v.changes.push(format!("the manifest is not JSON: {e}"));
            return v;
        }
    };
    let r = &bundle.report;
    for e in &r.evidence {
        if !e.hash_matches() {
            v.changes.push(format!(
                "evidence `{}`: content does not match its sha256",
                e.id
            ));
        }
    }
    compare(
        "control",
        &signed["controls"],
        &digests(&r.controls, |c| c.id.as_str()),
        &mut v.changes,
    );
    compare(
        "check",
        &signed["checks"],
        &digests(&r.checks, |c| c.check.as_str()),
        &mut v.changes,
    );
    compare(
        "evidence",
        &signed["evidence"],
        &digests(&r.evidence, |e| e.id.as_str()),
        &mut v.changes,
    );
    let whole = serde_json::to_value(r)
        .map(|x| jcs::digest(&x))
        .unwrap_or_default();
    if signed["report_sha256"].as_str() != Some(whole.as_str()) && v.changes.is_empty() {
        v.changes
            .push("the report's header or summary was changed".into());
    }
    v
}
