//! deploy/: the Kustomize overlays render with `kubectl kustomize`, hold what a production deployment needs,
//! and — with the container's Dockerfile — pass Palisade's own configuration scanner under the restricted
//! profile with zero findings. The container's probe (`palisade health`) answers for a live server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{palisade, Server};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize` of one overlay; fails loudly when kubectl is missing (scripts/test.sh installs it).
fn render(overlay: &str) -> String {
    let dir = repo().join("deploy/kubernetes/overlays").join(overlay);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl is required (Debian: kubernetes-client; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn documents(yaml: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn kinds(docs: &[serde_yaml::Value]) -> Vec<String> {
    let mut k: Vec<String> = docs
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

/// Renders both overlays into `dir` and copies the Dockerfile beside them.
fn rendered_tree(dir: &Path) -> Vec<(String, Vec<serde_yaml::Value>)> {
    std::fs::copy(repo().join("deploy/Dockerfile"), dir.join("Dockerfile")).unwrap();
    ["single", "ha"]
        .iter()
        .map(|o| {
            let text = render(o);
            std::fs::write(dir.join(format!("{o}.yaml")), &text).unwrap();
            (o.to_string(), documents(&text))
        })
        .collect()
}

/// `palisade scan config DIR --profile restricted --fail-on low -f json`: (exit code, report).
fn scan_restricted(dir: &Path) -> (i32, Value) {
    let out = palisade()
        .args([
            "scan",
            "config",
            "--profile",
            "restricted",
            "--fail-on",
            "low",
            "-f",
            "json",
        ])
        .arg(dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scan report is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn finding_ids(report: &Value, key: &str) -> Vec<(String, String)> {
    let mut ids = vec![];
    for r in report["Results"].as_array().unwrap() {
        for f in r[key].as_array().into_iter().flatten() {
            let f = f.get("Finding").unwrap_or(f);
            ids.push((
                Path::new(r["Target"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                f["ID"].as_str().unwrap().to_owned(),
            ));
        }
    }
    ids.sort();
    ids
}

#[test]
fn overlays_render_and_hold_a_production_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let overlays = rendered_tree(dir.path());
    for (name, docs) in &overlays {
        let kinds = kinds(docs);
        let mut want = vec![
            "ConfigMap",
            "Deployment",
            "Namespace",
            "NetworkPolicy",
            "NetworkPolicy",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
        ];
        match name.as_str() {
            "single" => want.push("PersistentVolumeClaim"),
            _ => want.extend([
                "HorizontalPodAutoscaler",
                "NetworkPolicy",
                "PodDisruptionBudget",
            ]),
        }
        want.sort();
        assert_eq!(kinds, want, "{name}");
        // Secrets come from an existing Secret, never from the manifests.
        assert!(!kinds.iter().any(|k| k == "Secret"), "{name}");
        for d in docs {
            if d["kind"] != "Namespace" {
                assert_eq!(d["metadata"]["namespace"], "palisade", "{name}: {d:?}");
            }
        }
        let deny = docs
            .iter()
            .find(|d| d["metadata"]["name"] == "default-deny")
            .unwrap();
        assert_eq!(
            deny["spec"]["podSelector"],
            serde_yaml::Value::Mapping(Default::default()),
            "{name}: the default deny selects every pod"
        );
        let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let replicas = deploy["spec"]["replicas"].as_u64().unwrap();
        assert_eq!(replicas, if name == "single" { 1 } else { 3 }, "{name}");
        // The ConfigMap's palisade.toml is a configuration Palisade accepts (unknown keys are refused).
        let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        let toml_path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&toml_path, cm["data"]["palisade.toml"].as_str().unwrap()).unwrap();
        let out = palisade()
            .arg("--config")
            .arg(&toml_path)
            .args(["policy", "validate"])
            .arg(repo().join("examples/policies"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn deploy_passes_the_restricted_profile_of_palisades_own_scanner() {
    let dir = tempfile::tempdir().unwrap();
    rendered_tree(dir.path());
    let (code, report) = scan_restricted(dir.path());
    assert_eq!(
        finding_ids(&report, "Misconfigurations"),
        vec![],
        "{report:#}"
    );
    assert_eq!(code, 0, "{report:#}");
    // The one suppression: the image digest, set by the release pipeline.
    assert_eq!(
        finding_ids(&report, "SuppressedMisconfigurations"),
        vec![
            ("ha.yaml".to_owned(), "PAL-K8S-042".to_owned()),
            ("single.yaml".to_owned(), "PAL-K8S-042".to_owned()),
        ]
    );
}

#[test]
fn the_scan_sees_every_rendered_file_a_regression_fails_it() {
    // The same tree with one regression per file: each is found, so the clean pass above is a real pass.
    let dir = tempfile::tempdir().unwrap();
    rendered_tree(dir.path());
    let edit = |file: &str, from: &str, to: &str| {
        let p: PathBuf = dir.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    };
    edit("Dockerfile", "USER 65532:65532", "USER root");
    edit(
        "single.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    );
    edit(
        "ha.yaml",
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
    );
    let (code, report) = scan_restricted(dir.path());
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        finding_ids(&report, "Misconfigurations"),
        vec![
            ("Dockerfile".to_owned(), "PAL-DF-001".to_owned()),
            ("ha.yaml".to_owned(), "PAL-K8S-017".to_owned()),
            ("single.yaml".to_owned(), "PAL-K8S-040".to_owned()),
        ]
    );
}

#[test]
fn health_probe_answers_for_a_live_server_and_fails_for_none() {
    let server = Server::start();
    let ok = palisade()
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(["health", "--url"])
        .arg(format!("{}/readyz", server.base))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let missing = palisade()
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(["health", "--url"])
        .arg(format!("{}/no-such-route", server.base))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    drop(server);
    let port = common::free_port();
    let down = palisade()
        .args(["health", "--timeout", "1", "--url"])
        .arg(format!("http://127.0.0.1:{port}/readyz"))
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));
}

/// Every `palisade_*` metric name in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("palisade_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn alert_rules_pass_promtool_and_rules_and_dashboard_use_exported_metrics() {
    let rules = repo().join("deploy/prometheus/palisade.rules.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool is required (Debian: prometheus; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    for alert in [
        "PalisadeCaCertificateExpiringSoon",
        "PalisadeCrlStale",
        "PalisadeDecisionLogDropping",
        "PalisadePolicyReloadFailing",
        "PalisadeDenyRateHigh",
    ] {
        assert!(rules_text.contains(&format!("alert: {alert}")), "{alert}");
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/palisade-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is valid JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");

    // What a running server with the CA exports.
    let server = Server::builder()
        .config("[ca]\nserve = true\n")
        .policies(|policy_dir| {
            let data_dir = policy_dir.parent().unwrap().join("data");
            let out = palisade()
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["ca", "init", "--trust-domain", "example.org"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .start();
    let exported = common::poll_until("the CA gauges on /metrics", || {
        let text = server.get("/metrics").expect(200).text;
        text.contains("palisade_ca_crl_next_update_timestamp_seconds{")
            .then(|| metric_names(&text))
    });
    for (what, text) in [("rules", rules_text), ("dashboard", exprs.join("\n"))] {
        let used = metric_names(&text);
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} name metrics the server does not export: {unknown:?}"
        );
    }
}

/// `bash deploy/ci/gate.sh` with these paths: (exit code, SARIF files written).
fn gate(paths: &str, out: &Path) -> (i32, Vec<Value>) {
    let status = Command::new("bash")
        .arg(repo().join("deploy/ci/gate.sh"))
        .env("PALISADE", common::BIN)
        .env("PALISADE_GATE_PATHS", paths)
        .env("PALISADE_GATE_FAIL_ON", "high")
        .env("PALISADE_GATE_OUT", out)
        .status()
        .unwrap();
    let mut sarif: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sarif.sort();
    let docs = sarif
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    (status.code().unwrap(), docs)
}

fn sarif_rule_ids(doc: &Value) -> Vec<String> {
    doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ci_gate_script_passes_clean_config_fails_findings_and_writes_sarif() {
    // The action runs the script; the example workflow uploads its SARIF with the permission it needs.
    let action: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("action.yml")).unwrap()).unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    assert!(steps.iter().any(|s| s["run"]
        .as_str()
        .is_some_and(|r| r.contains("deploy/ci/gate.sh"))));
    assert!(steps.iter().any(|s| s["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))));
    let example: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("deploy/ci/github-workflow-example.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(example["permissions"]["security-events"], "write");

    let clean = tempfile::tempdir().unwrap();
    rendered_tree(clean.path());
    let out = tempfile::tempdir().unwrap();
    let (code, sarif) = gate(clean.path().to_str().unwrap(), &out.path().join("ok"));
    assert_eq!(code, 0);
    assert_eq!(sarif.len(), 1);
    assert_eq!(sarif_rule_ids(&sarif[0]), Vec::<String>::new());

    let bad = tempfile::tempdir().unwrap();
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    std::fs::write(
        bad.path().join("Dockerfile"),
        dockerfile.replace("USER 65532:65532", "USER root"),
    )
    .unwrap();
    let missing = bad.path().join("no-such-dir");
    let (code, sarif) = gate(
        &format!("{} {}", clean.path().display(), bad.path().display()),
        &out.path().join("bad"),
    );
    assert_eq!(code, 1, "the worst verdict wins");
    assert_eq!(sarif.len(), 2);
    assert_eq!(sarif_rule_ids(&sarif[1]), ["PAL-DF-001"]);
    let loc = &sarif[1]["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("Dockerfile"));
    assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    let (code, _) = gate(missing.to_str().unwrap(), &out.path().join("missing"));
    assert_eq!(code, 2, "a scan that cannot run fails the gate");
}

#[test]
fn json_logs_are_one_json_object_per_line() {
    let server = Server::builder()
        .config("[observability]\nlog_format = \"json\"\n")
        .start();
    let logs = server.logs();
    let stderr = logs.split_once("--- stderr\n").unwrap().1;
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let admin = lines
        .iter()
        .find(|l| l["message"] == "break-glass admin token enabled")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(admin["level"], "WARN");
    assert!(admin["timestamp"].as_str().unwrap().contains('T'));
    assert!(admin["token_file"]
        .as_str()
        .unwrap()
        .ends_with("admin.token"));
    // A value that is neither text nor json is refused, by name.
    let out = palisade()
        .env("PALISADE_LOG_FORMAT", "xml")
        .args(["health", "--url", "http://127.0.0.1:1/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PALISADE_LOG_FORMAT"));
}
