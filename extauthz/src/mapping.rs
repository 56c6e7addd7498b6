//! From an HTTP request seen by Envoy to a Cedar request.
//!
//! Both transports (gRPC `CheckRequest`, the HTTP variant) first build an
//! [`HttpCheck`]; this module turns it into the action, the resource and the
//! context of a Cedar request. The principal is established separately
//! (see `authorizer.rs`).
//!
//! | Cedar     | from |
//! |-----------|------|
//! | action    | the first matching `routes` entry, else `methods[METHOD]` |
//! | resource  | `RESOURCE_TYPE::"HOST/PATH"` (host lower case without port, path without query), attributes `host`, `path`, `segments` |
//! | context   | `method`, `path`, `query`, `host`, `scheme`, `source_address`, `source_principal`, `destination_principal`, `headers` (the configured `context_headers`), `token` (claims chosen by the issuer's mapping) |
//!
//! Paths that are not in normal form (dot segments, empty segments,
//! percent-encoded `/`, `\` or `.`, backslashes) are refused: what the
//! policy sees must be what the upstream serves.

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde_json::{json, Map, Value};

use crate::{DenyReason, ExtAuthzConfig};

/// One HTTP request as Envoy describes it, independent of the transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCheck {
    /// Envoy's request id (`x-request-id`); empty: none.
    pub id: String,
    /// HTTP method, upper case.
    pub method: String,
    /// The request target: path and query string.
    pub path: String,
    /// The `:authority` / `Host`.
    pub host: String,
    /// `http` or `https`; empty when unknown.
    pub scheme: String,
    /// Request headers, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The downstream's address (`ip:port`); empty when unknown.
    pub source_address: String,
    /// The downstream's SPIFFE ID as verified by Envoy on mTLS; empty: none.
    pub source_principal: String,
    /// This proxy's own SPIFFE ID; empty: none.
    pub destination_principal: String,
}

impl HttpCheck {
    /// The values of header `name` (lower case).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Bytes of the headers, path and host together (what the size limit counts).
    pub fn size(&self) -> usize {
        self.path.len()
            + self.host.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// The action, resource and context of a request (the principal is added by
/// the authorizer).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MappedRequest {
    pub(crate) action: EntityUid,
    pub(crate) resource: EntityUid,
    pub(crate) resource_entity: Value,
    pub(crate) context: Map<String, Value>,
}

/// `host` without port, lower case; IPv6 literals keep their brackets.
fn bare_host(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if a.starts_with('[') {
        return match a.find(']') {
            Some(end) => a[..=end].to_owned(),
            None => a,
        };
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
        _ => a,
    }
}

/// Whether `path` is in the normal form Envoy's `normalize_path` and
/// `merge_slashes` produce (and nothing an upstream might decode into
/// another path).
fn normal_path(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return false;
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return false;
    }
    let inner = &path[1..];
    inner.is_empty()
        || inner.split('/').enumerate().all(|(i, s)| {
            s != "." && s != ".." && (!s.is_empty() || i == inner.matches('/').count())
        })
}

fn route_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, DenyReason> {
    let ty: EntityTypeName = ty
        .parse()
        .map_err(|e| DenyReason::Unmappable(format!("entity type {ty:?}: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

/// Maps everything but the principal.
pub(crate) fn map_request(
    cfg: &ExtAuthzConfig,
    check: &HttpCheck,
) -> Result<MappedRequest, DenyReason> {
    if check.headers.len() > cfg.max_headers {
        return Err(DenyReason::TooLarge(format!(
            "{} headers; at most {} are accepted",
            check.headers.len(),
            cfg.max_headers
        )));
    }
    let size = check.size();
    if size > cfg.max_request_bytes {
        return Err(DenyReason::TooLarge(format!(
            "{size} bytes of headers, path and host; at most {} are accepted",
            cfg.max_request_bytes
        )));
    }
    if check.method.is_empty() || !check.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(DenyReason::Unmappable(format!(
            "method {:?} is not an upper-case HTTP method",
            check.method.chars().take(32).collect::<String>()
        )));
    }
    let (path, query) = match check.path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (check.path.as_str(), ""),
    };
    let path = path.split('#').next().unwrap_or_default();
    if !normal_path(path) {
        return Err(DenyReason::Unmappable(
            "path is not in normal form (dot or empty segments, encoded separators)".into(),
        ));
    }
    let host = bare_host(&check.host);
    if host.is_empty() {
        return Err(DenyReason::Unmappable("request without a host".into()));
    }
    let action = cfg
        .routes
        .iter()
        .find(|r| {
            route_matches(&r.path_prefix, path)
                && (r.methods.is_empty() || r.methods.contains(&check.method))
                && (r.host.is_empty() || r.host.eq_ignore_ascii_case(&host))
        })
        .map(|r| r.action.as_str())
        .or_else(|| cfg.methods.get(&check.method).map(String::as_str))
        .ok_or_else(|| DenyReason::Unmappable(format!("no action for method {}", check.method)))?;
    let action = uid("Action", action)?;
    let resource = uid(&cfg.resource_type, &format!("{host}{path}"))?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resource_entity = json!({
        "uid": { "type": cfg.resource_type, "id": format!("{host}{path}") },
        "attrs": { "host": host, "path": path, "segments": segments },
        "parents": [],
    });
    let mut headers = Map::new();
    for name in &cfg.context_headers {
        let mut values = check.header_values(name);
        if let Some(first) = values.next() {
            let joined = values.fold(first.to_owned(), |acc, v| acc + "," + v);
            headers.insert(name.clone(), Value::String(joined));
        }
    }
    let mut context = Map::new();
    for (k, v) in [
        ("method", check.method.as_str()),
        ("path", path),
        ("query", query),
        ("host", host.as_str()),
        ("scheme", check.scheme.as_str()),
        ("source_address", check.source_address.as_str()),
        ("source_principal", check.source_principal.as_str()),
        (
            "destination_principal",
            check.destination_principal.as_str(),
        ),
    ] {
        context.insert(k.into(), Value::String(v.to_owned()));
    }
    context.insert("headers".into(), Value::Object(headers));
    Ok(MappedRequest {
        action,
        resource,
        resource_entity,
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteAction;

    fn check(method: &str, path: &str) -> HttpCheck {
        HttpCheck {
            method: method.into(),
            path: path.into(),
            host: "Orders.Shop.svc:8080".into(),
            headers: vec![("user-agent".into(), "curl/8".into())],
            ..Default::default()
        }
    }

    #[test]
    fn maps_method_route_host_and_path() {
        let mut cfg = ExtAuthzConfig {
            context_headers: vec!["user-agent".into(), "x-missing".into()],
            ..Default::default()
        };
        cfg.routes.push(RouteAction {
            path_prefix: "/admin/".into(),
            methods: vec!["POST".into()],
            host: String::new(),
            action: "http:admin".into(),
        });
        let m = map_request(&cfg, &check("GET", "/v1/orders/42?x=1")).unwrap();
        assert_eq!(m.action.to_string(), r#"Action::"http:read""#);
        assert_eq!(
            m.resource.to_string(),
            r#"HttpRoute::"orders.shop.svc/v1/orders/42""#
        );
        assert_eq!(
            m.resource_entity["attrs"]["segments"],
            json!(["v1", "orders", "42"])
        );
        assert_eq!(m.context["query"], "x=1");
        assert_eq!(m.context["host"], "orders.shop.svc");
        assert_eq!(m.context["headers"], json!({"user-agent": "curl/8"}));
        let admin = map_request(&cfg, &check("POST", "/admin")).unwrap();
        assert_eq!(admin.action.to_string(), r#"Action::"http:admin""#);
        let not_admin = map_request(&cfg, &check("POST", "/administrator")).unwrap();
        assert_eq!(not_admin.action.to_string(), r#"Action::"http:write""#);
        let e = map_request(&cfg, &check("BREW", "/")).unwrap_err();
        assert!(matches!(e, DenyReason::Unmappable(_)), "{e}");
    }

    #[test]
    fn refuses_paths_an_upstream_could_read_otherwise() {
        let cfg = ExtAuthzConfig::default();
        for ok in ["/", "/a", "/a/b/", "/a.b/c..d"] {
            assert!(map_request(&cfg, &check("GET", ok)).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/../admin",
            "/./a",
            "//admin",
            "/a//b",
            "/a%2fb",
            "/%2E%2E/x",
            "/a\\b",
            "/a b",
        ] {
            assert!(
                matches!(
                    map_request(&cfg, &check("GET", bad)),
                    Err(DenyReason::Unmappable(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn bounds_size_and_header_count() {
        let cfg = ExtAuthzConfig::default();
        let mut c = check("GET", "/");
        c.headers.push(("x-big".into(), "a".repeat(70 * 1024)));
        assert!(matches!(
            map_request(&cfg, &c),
            Err(DenyReason::TooLarge(_))
        ));
        let mut c = check("GET", "/");
        c.headers = (0..201).map(|i| (format!("x-{i}"), "v".into())).collect();
        assert!(matches!(
            map_request(&cfg, &c),
            Err(DenyReason::TooLarge(_))
        ));
        assert_eq!(bare_host("[::1]:443"), "[::1]");
        assert_eq!(bare_host("example.com"), "example.com");
    }
}
