//! RFC 8785 JSON Canonicalization Scheme (JCS): object members sorted by
//! their UTF-16 code units, no insignificant whitespace, strings with the
//! minimal escapes, numbers in ECMAScript form.
//!
//! Palisade's documents carry integers only; a non-integer number is written
//! with the shortest round-trip form, which is ECMAScript's for the values
//! Palisade produces (no exponents below 1e21).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical form of `v`.
pub fn canonicalize(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// SHA-256 of the canonical form, hex.
pub fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(canonicalize(v).as_bytes()))
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f == f.trunc() && f.abs() < 1e21 {
                    out.push_str(&format!("{f:.0}"));
                } else {
                    out.push_str(&n.to_string());
                }
            }
        }
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc8785_ordering_and_escapes() {
        // Keys sort by UTF-16 code units: U+20AC (0x20AC) before U+1F600 (0xD83D 0xDE00).
        let v = json!({"b": 1, "a": [true, null, "x\ny\u{1}"], "\u{1f600}": 2, "\u{20ac}": 3, "10": -5});
        assert_eq!(
            canonicalize(&v),
            "{\"10\":-5,\"a\":[true,null,\"x\\ny\\u0001\"],\"b\":1,\"\u{20ac}\":3,\"\u{1f600}\":2}"
        );
    }
}
