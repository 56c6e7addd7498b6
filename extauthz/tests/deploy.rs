//! The Istio and Envoy examples in `deploy/` parse and agree with each
//! other and with Palisade's ext_authz defaults: the provider the
//! AuthorizationPolicy names exists, nothing fails open, mTLS is STRICT, and
//! Envoy's ext_authz cluster speaks HTTP/2 to Palisade's gRPC port. (No Envoy
//! or Istio control plane runs here: Debian ships neither.)

use std::path::PathBuf;

use palisade_extauthz::ExtAuthzConfig;
use serde_yaml::Value;

fn deploy(path: &str) -> Value {
    let p: PathBuf = repo_root().join("deploy").join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn port_of(addr: &str) -> u64 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The `typed_config` of the named HTTP filter of the first listener.
fn http_filter<'a>(bootstrap: &'a Value, name: &str) -> &'a Value {
    let hcm = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    assert_eq!(
        hcm["normalize_path"], true,
        "paths are normalised before the check"
    );
    assert_eq!(hcm["merge_slashes"], true);
    hcm["http_filters"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map(|f| &f["typed_config"])
        .unwrap_or_else(|| panic!("no {name} filter"))
}

fn cluster_port(bootstrap: &Value, name: &str) -> u64 {
    let cluster = bootstrap["static_resources"]["clusters"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name}"));
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"]["port_value"]
        .as_u64()
        .unwrap()
}

#[test]
fn istio_policy_routes_to_a_declared_fail_closed_provider() {
    let mesh = deploy("istio/mesh-config.yaml");
    let providers = mesh["spec"]["meshConfig"]["extensionProviders"]
        .as_sequence()
        .unwrap();
    let policy = deploy("istio/authorization-policy.yaml");
    assert_eq!(policy["kind"], "AuthorizationPolicy");
    assert_eq!(policy["spec"]["action"], "CUSTOM");
    let name = policy["spec"]["provider"]["name"].as_str().unwrap();
    let provider = providers
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("provider {name} is not in the mesh config"));
    let grpc = &provider["envoyExtAuthzGrpc"];
    assert_eq!(grpc["failOpen"], false);
    assert_eq!(
        grpc["port"].as_u64().unwrap(),
        port_of(&ExtAuthzConfig::default().grpc_listen)
    );
    for p in providers {
        let (_, body) = p
            .as_mapping()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "name")
            .unwrap();
        assert_eq!(body["failOpen"], false, "{p:?}");
    }
    let http = providers
        .iter()
        .find_map(|p| p.get("envoyExtAuthzHttp"))
        .expect("an HTTP provider");
    let upstream: Vec<&str> = http["headersToUpstreamOnAllow"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(upstream.contains(&ExtAuthzConfig::default().principal_header.as_str()));

    let peer = deploy("istio/peer-authentication.yaml");
    assert_eq!(peer["kind"], "PeerAuthentication");
    assert_eq!(peer["spec"]["mtls"]["mode"], "STRICT");
    assert_eq!(
        peer["metadata"]["namespace"],
        policy["metadata"]["namespace"]
    );
}

#[test]
fn envoy_bootstraps_fail_closed_and_reach_palisade() {
    let grpc = deploy("envoy/envoy.yaml");
    let f = http_filter(&grpc, "envoy.filters.http.ext_authz");
    assert_eq!(f["failure_mode_allow"], false);
    assert_eq!(f["transport_api_version"], "V3");
    let cluster = f["grpc_service"]["envoy_grpc"]["cluster_name"]
        .as_str()
        .unwrap();
    assert_eq!(
        cluster_port(&grpc, cluster),
        port_of(&ExtAuthzConfig::default().grpc_listen)
    );
    let tls = &grpc["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"]
        ["typed_config"];
    assert_eq!(
        tls["require_client_certificate"], true,
        "callers need a SPIFFE ID"
    );

    let http = deploy("envoy/envoy-http.yaml");
    let f = http_filter(&http, "envoy.filters.http.ext_authz");
    assert_eq!(f["failure_mode_allow"], false);
    let patterns: Vec<&str> = f["http_service"]["authorization_response"]
        ["allowed_upstream_headers"]["patterns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["exact"].as_str().unwrap())
        .collect();
    assert!(patterns.contains(&ExtAuthzConfig::default().principal_header.as_str()));
}

/// The workspace root, from this crate's own manifest directory (a
/// dependency's compile-time path may belong to another checkout).
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}
