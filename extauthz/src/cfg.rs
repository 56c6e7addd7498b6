//! Configuration (`[ext_authz]` in Palisade's TOML) and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ExtAuthzError;

/// Where a request's principal may come from, tried in the configured order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalSource {
    /// A bearer token in the token header, verified against the configured
    /// OIDC issuers (`[identity]`).
    Bearer,
    /// The SPIFFE ID Envoy verified on the downstream mTLS connection
    /// (`attributes.source.principal`; gRPC only).
    Spiffe,
}

/// A route that names its own Cedar action (checked before the method table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAction {
    /// The route matches paths equal to this prefix or below it (segment-wise:
    /// `/admin` matches `/admin` and `/admin/x`, not `/administrator`).
    pub path_prefix: String,
    /// Methods the route applies to (upper case); empty: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Host the route applies to (without port); empty: every host.
    #[serde(default)]
    pub host: String,
    /// The Cedar action id (`Action::"ID"`).
    pub action: String,
}

/// The whole ext_authz configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtAuthzConfig {
    /// Serve ext_authz at all.
    pub enabled: bool,
    /// Address of the gRPC server (`envoy.service.auth.v3.Authorization`
    /// and `grpc.health.v1.Health`).
    pub grpc_listen: String,
    /// Address of the HTTP ext_authz variant; empty: not served.
    pub http_listen: String,
    /// Prefix Envoy's `http_service.path_prefix` puts before the original
    /// path (stripped before mapping).
    pub http_path_prefix: String,
    /// Where the principal comes from, in order. The first source present
    /// decides: a present but invalid credential is a 401, never a fallback.
    pub principal_sources: Vec<PrincipalSource>,
    /// Header carrying `Bearer TOKEN`.
    pub token_header: String,
    /// Header set on allowed requests for the upstream: the principal's
    /// Cedar uid (replacing any value the client sent).
    pub principal_header: String,
    /// Cedar entity type of resources: `TYPE::"HOST/PATH"` with attributes
    /// `host`, `path` and `segments`.
    pub resource_type: String,
    /// Cedar action id per HTTP method; a method not listed is denied.
    pub methods: BTreeMap<String, String>,
    /// Routes with their own action, first match wins.
    pub routes: Vec<RouteAction>,
    /// Request headers copied into `context.headers` (lower case; missing
    /// ones are left out).
    pub context_headers: Vec<String>,
    /// Requests whose headers, path and host add up to more bytes are denied.
    pub max_request_bytes: usize,
    /// Requests with more headers are denied.
    pub max_headers: usize,
}

impl Default for ExtAuthzConfig {
    fn default() -> Self {
        let methods = [
            ("GET", "http:read"),
            ("HEAD", "http:read"),
            ("OPTIONS", "http:read"),
            ("POST", "http:write"),
            ("PUT", "http:write"),
            ("PATCH", "http:write"),
            ("DELETE", "http:delete"),
        ]
        .into_iter()
        .map(|(m, a)| (m.to_owned(), a.to_owned()))
        .collect();
        Self {
            enabled: false,
            grpc_listen: "127.0.0.1:9191".into(),
            http_listen: String::new(),
            http_path_prefix: String::new(),
            principal_sources: vec![PrincipalSource::Bearer, PrincipalSource::Spiffe],
            token_header: "authorization".into(),
            principal_header: "x-palisade-principal".into(),
            resource_type: "HttpRoute".into(),
            methods,
            routes: Vec::new(),
            context_headers: Vec::new(),
            max_request_bytes: 64 * 1024,
            max_headers: 200,
        }
    }
}

fn header_name(what: &str, h: &str) -> Result<(), ExtAuthzError> {
    let ok = !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ExtAuthzError::Config(format!(
            "{what}: {h:?} is not a lower-case header name"
        )))
    }
}

impl ExtAuthzConfig {
    /// Checks everything that can be checked without binding or policies.
    pub fn validate(&self) -> Result<(), ExtAuthzError> {
        let bad = |m: String| Err(ExtAuthzError::Config(m));
        if self.principal_sources.is_empty() {
            return bad("principal_sources is empty: every request would be a 401".into());
        }
        header_name("token_header", &self.token_header)?;
        header_name("principal_header", &self.principal_header)?;
        for h in &self.context_headers {
            header_name("context_headers", h)?;
        }
        if let Err(e) = self.resource_type.parse::<cedar_policy::EntityTypeName>() {
            return bad(format!(
                "resource_type {:?} is not a Cedar entity type: {e}",
                self.resource_type
            ));
        }
        for (m, a) in &self.methods {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return bad(format!("methods: {m:?} is not an upper-case HTTP method"));
            }
            if a.is_empty() {
                return bad(format!("methods: the action of {m} is empty"));
            }
        }
        for r in &self.routes {
            if !r.path_prefix.starts_with('/') {
                return bad(format!(
                    "routes: path_prefix {:?} must start with /",
                    r.path_prefix
                ));
            }
            if r.action.is_empty() {
                return bad(format!("routes: the action of {} is empty", r.path_prefix));
            }
        }
        if !self.http_path_prefix.is_empty() && !self.http_path_prefix.starts_with('/') {
            return bad("http_path_prefix must start with /".into());
        }
        if self.max_request_bytes < 1024 {
            return bad("max_request_bytes below 1024 refuses ordinary requests".into());
        }
        if self.max_headers == 0 {
            return bad("max_headers is 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_mistakes_are_named() {
        ExtAuthzConfig::default().validate().unwrap();
        let c: ExtAuthzConfig = serde_json::from_value(serde_json::json!({
            "enabled": true,
            "principal_sources": ["spiffe"],
            "routes": [{"path_prefix": "/admin", "methods": ["POST"], "action": "http:admin"}],
        }))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.principal_sources, [PrincipalSource::Spiffe]);
        for (json, want) in [
            (
                serde_json::json!({"principal_sources": []}),
                "principal_sources",
            ),
            (
                serde_json::json!({"token_header": "Authorization"}),
                "token_header",
            ),
            (
                serde_json::json!({"resource_type": "not a type"}),
                "resource_type",
            ),
            (serde_json::json!({"methods": {"get": "x"}}), "methods"),
            (
                serde_json::json!({"routes": [{"path_prefix": "admin", "action": "a"}]}),
                "path_prefix",
            ),
        ] {
            let c: ExtAuthzConfig = serde_json::from_value(json).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        assert!(
            serde_json::from_value::<ExtAuthzConfig>(serde_json::json!({"listen": "x"})).is_err()
        );
    }
}
