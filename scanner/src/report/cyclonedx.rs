//! CycloneDX 1.5 JSON: the inventory as components with package URLs, optionally with vulnerabilities.

use serde_json::{json, Value};

use super::Report;

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn render(r: &Report, with_vulns: bool) -> String {
    let os = r.inventory.os.as_ref();
    let mut components: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(o) = os {
        components.push(json!({
            "bom-ref": format!("os:{}-{}", o.family, o.version),
            "type": "operating-system",
            "name": o.family,
            "version": o.version,
        }));
    }
    for p in &r.inventory.packages {
        let purl = p.purl(os);
        let bom_ref = if p.kind.is_os() {
            purl.clone()
        } else {
            format!("{purl}#{}", p.path)
        };
        if !seen.insert(bom_ref.clone()) {
            continue;
        }
        let mut props = vec![json!({"name": "palisade:PkgType", "value": p.kind.trivy_type()})];
        if !p.path.is_empty() {
            props.push(json!({"name": "palisade:FilePath", "value": p.path}));
        }
        if p.kind.is_os() {
            props.push(json!({"name": "palisade:SrcName", "value": p.src_name}));
            props.push(json!({"name": "palisade:SrcVersion", "value": p.src_version}));
        }
        if let Some(l) = &p.layer {
            if !l.diff_id.is_empty() {
                props.push(json!({"name": "palisade:LayerDiffID", "value": l.diff_id}));
            }
        }
        components.push(json!({
            "bom-ref": bom_ref,
            "type": "library",
            "name": p.name,
            "version": p.version,
            "purl": purl,
            "properties": props,
        }));
    }
    let mut doc = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_v4()),
        "version": 1,
        "metadata": {
            "timestamp": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "tools": {"components": [{"type": "application", "name": "palisade", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {
                "bom-ref": "root",
                "type": if r.artifact_type == super::ArtifactType::ContainerImage { "container" } else { "application" },
                "name": r.artifact_name,
            }
        },
        "components": components,
    });
    if with_vulns {
        let mut vulns: Vec<Value> = Vec::new();
        for f in &r.findings {
            let bom_ref = if f.kind.is_os() {
                f.purl.clone()
            } else {
                format!("{}#{}", f.purl, f.pkg_path)
            };
            let ratings: Vec<Value> = f
                .cvss
                .iter()
                .filter(|(_, c)| c.v3_score > 0.0)
                .map(|(src, c)| json!({"source": {"name": src}, "score": c.v3_score, "severity": f.vendor_severity.get(src).map(|s| s.0.as_str().to_ascii_lowercase()).unwrap_or_else(|| "unknown".into()), "method": if c.v3_vector.starts_with("CVSS:3.1") { "CVSSv31" } else { "CVSSv3" }, "vector": c.v3_vector}))
                .chain(std::iter::once(json!({"source": {"name": f.severity_source}, "severity": f.severity.0.as_str().to_ascii_lowercase()})))
                .collect();
            let cwes: Vec<u64> = f
                .cwe_ids
                .iter()
                .filter_map(|c| c.strip_prefix("CWE-")?.parse().ok())
                .collect();
            vulns.push(json!({
                "bom-ref": format!("{}#{}", f.id, bom_ref),
                "id": f.id,
                "source": {"name": f.data_source.as_ref().map(|d| d.id.clone()).unwrap_or_default(), "url": f.data_source.as_ref().map(|d| d.url.clone()).unwrap_or_default()},
                "ratings": ratings,
                "cwes": cwes,
                "description": f.title,
                "detail": f.description,
                "recommendation": if f.fixed_version.is_empty() { String::new() } else { format!("Upgrade {} to version {}", f.pkg_name, f.fixed_version) },
                "advisories": f.references.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
                "affects": [{"ref": bom_ref, "versions": [{"version": f.installed_version, "status": "affected"}]}],
            }));
        }
        doc["vulnerabilities"] = Value::Array(vulns);
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
