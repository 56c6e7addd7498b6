//! Reading a compact JWS before it is verified: only to route it (issuer,
//! key id, kind) and to refuse the obviously wrong early. Nothing read here
//! is trusted until the signature has been checked.

use base64::Engine as _;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Map, Value};

use crate::{Rejection, TokenKind};

/// The parts of an unverified token that routing needs.
#[derive(Debug)]
pub(crate) struct Unverified {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) kind: TokenKind,
    pub(crate) claims: Map<String, Value>,
}

/// The asymmetric JWS algorithm named `s`, if it is one.
pub(crate) fn asymmetric_alg(s: &str) -> Option<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    let alg: A = serde_json::from_value(Value::String(s.into())).ok()?;
    match alg {
        A::RsaSsaPkcs1V15Sha256
        | A::RsaSsaPkcs1V15Sha384
        | A::RsaSsaPkcs1V15Sha512
        | A::RsaSsaPssSha256
        | A::RsaSsaPssSha384
        | A::RsaSsaPssSha512
        | A::EcdsaP256Sha256
        | A::EcdsaP384Sha384
        | A::EdDsa => Some(alg),
        _ => None,
    }
}

fn part(s: &str, what: &str) -> Result<Map<String, Value>, Rejection> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Rejection::Malformed(format!("{what} is not base64url")))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Rejection::Malformed(format!("{what} is not a JSON object"))),
    }
}

/// Splits and decodes `token` (whose size was already checked).
pub(crate) fn peek(token: &str) -> Result<Unverified, Rejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed(
            "not a compact JWS (three dot-separated parts)".into(),
        ));
    };
    let header = part(h, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(Rejection::Malformed("header has no alg".into())),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Rejection::AlgNone);
    }
    if alg.len() >= 2 && alg[..2].eq_ignore_ascii_case("HS") {
        return Err(Rejection::HmacAlgorithm(alg));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(Rejection::Malformed("kid is not a string".into())),
    };
    let kind = match header.get("typ") {
        None => TokenKind::Id,
        Some(Value::String(t)) => {
            let t = t.to_ascii_lowercase();
            match t.strip_prefix("application/").unwrap_or(&t) {
                "at+jwt" => TokenKind::Access,
                "jwt" => TokenKind::Id,
                other => return Err(Rejection::UnsupportedType(format!("typ {other:?}"))),
            }
        }
        Some(_) => return Err(Rejection::Malformed("typ is not a string".into())),
    };
    let claims = part(p, "claims")?;
    Ok(Unverified {
        alg,
        kid,
        kind,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn refuses_none_and_hmac_before_anything_else() {
        let t = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"iss":"x"}"#));
        assert_eq!(peek(&t).unwrap_err(), Rejection::AlgNone);
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"iss":"x"}"#)
        );
        assert_eq!(
            peek(&t).unwrap_err(),
            Rejection::HmacAlgorithm("HS256".into())
        );
    }

    #[test]
    fn classifies_kinds_and_refuses_garbage() {
        let t = format!(
            "{}.{}.s",
            b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#),
            b64("{}")
        );
        let u = peek(&t).unwrap();
        assert_eq!((u.kind, u.kid.as_deref()), (TokenKind::Access, Some("k")));
        let t = format!("{}.{}.s", b64(r#"{"alg":"RS256","typ":"JWT"}"#), b64("{}"));
        assert_eq!(peek(&t).unwrap().kind, TokenKind::Id);
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.s",
            &format!("{}.W10.s", b64(r#"{"alg":"RS256"}"#)),
        ] {
            assert!(matches!(peek(bad), Err(Rejection::Malformed(_))), "{bad}");
        }
        let t = format!(
            "{}.{}.s",
            b64(r#"{"alg":"RS256","typ":"dpop+jwt"}"#),
            b64("{}")
        );
        assert!(matches!(peek(&t), Err(Rejection::UnsupportedType(_))));
        assert!(asymmetric_alg("ES256").is_some() && asymmetric_alg("HS256").is_none());
        assert!(asymmetric_alg("none").is_none() && asymmetric_alg("bogus").is_none());
    }
}
