//! Reading a compact JWS before it is verified: only to route it (issuer,
//! key id, kind) and to refuse the obviously wrong early. Nothing read here
//! is trusted until the signature has been checked.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::{Rejection, TokenKind};

/// The parts of an unverified token that routing needs.
#[derive(Debug)]
pub(crate) struct Unverified {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) kind: TokenKind,
    pub(crate) claims: Map<String, Value>,
    /// Length of the signing input (`header.payload`) at the token's start.
    pub(crate) signed_len: usize,
    /// The decoded signature.
    pub(crate) signature: Vec<u8>,
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
    let (Some(h), Some(p), Some(sig), None) =
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
    if header.contains_key("crit") {
        // RFC 7515 4.1.11: extensions the recipient must understand; none are.
        return Err(Rejection::UnsupportedType(
            "crit header parameters are not supported".into(),
        ));
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
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| Rejection::Malformed("signature is not base64url".into()))?;
    Ok(Unverified {
        alg,
        kid,
        kind,
        claims,
        signed_len: h.len() + 1 + p.len(),
        signature,
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
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#),
            b64("{}")
        );
        let u = peek(&t).unwrap();
        assert_eq!((u.kind, u.kid.as_deref()), (TokenKind::Access, Some("k")));
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64("{}")
        );
        assert_eq!(peek(&t).unwrap().kind, TokenKind::Id);
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.c2ln",
            &format!("{}.W10.c2ln", b64(r#"{"alg":"RS256"}"#)),
        ] {
            assert!(matches!(peek(bad), Err(Rejection::Malformed(_))), "{bad}");
        }
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"dpop+jwt"}"#),
            b64("{}")
        );
        assert!(matches!(peek(&t), Err(Rejection::UnsupportedType(_))));
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","crit":["exp"]}"#),
            b64("{}")
        );
        assert!(matches!(peek(&t), Err(Rejection::UnsupportedType(_))));
        let t = format!("{}.{}.s*", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert!(matches!(peek(&t), Err(Rejection::Malformed(_))));
    }
}
