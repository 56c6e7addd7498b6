//! Reading a CycloneDX JSON SBOM made by another tool (syft, Trivy, cdxgen) back into an [`Inventory`].

use serde::Deserialize;

use crate::inventory::{Inventory, OsInfo, Package, PackageKind};
use crate::ScanError;

#[derive(Deserialize)]
struct Bom {
    #[serde(rename = "bomFormat", default)]
    bom_format: String,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    properties: Vec<Property>,
}

#[derive(Deserialize)]
struct Property {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Type (`deb`, `npm`, ...).
    pub ty: String,
    /// Namespace, decoded.
    pub namespace: String,
    /// Name, decoded.
    pub name: String,
    /// Version, decoded.
    pub version: String,
    /// Qualifiers, decoded.
    pub qualifiers: Vec<(String, String)>,
}

impl Purl {
    /// Parses `pkg:type/namespace/name@version?qualifiers#subpath`.
    pub fn parse(s: &str) -> Option<Purl> {
        let rest = s.strip_prefix("pkg:")?;
        let rest = rest.split('#').next()?;
        let (main, q) = match rest.split_once('?') {
            Some((m, q)) => (m, q),
            None => (rest, ""),
        };
        let (path, version) = match main.rsplit_once('@') {
            Some((p, v)) if !p.is_empty() => (p, pct_decode(v)),
            _ => (main, String::new()),
        };
        let mut segs: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
        if segs.len() < 2 {
            return None;
        }
        let ty = segs.remove(0).to_ascii_lowercase();
        let name = pct_decode(segs.pop()?);
        let namespace = segs
            .iter()
            .map(|s| pct_decode(s))
            .collect::<Vec<_>>()
            .join("/");
        let qualifiers = q
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), pct_decode(v)))
            .collect();
        Some(Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
        })
    }

    /// A qualifier's value.
    pub fn qualifier(&self, k: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
    }
}

fn walk(cs: &[Component], depth: usize, inv: &mut Inventory) {
    if depth > 32 {
        return;
    }
    for c in cs {
        if c.kind == "operating-system" && inv.os.is_none() && !c.name.is_empty() {
            inv.os = Some(OsInfo {
                family: c.name.to_ascii_lowercase(),
                version: c.version.clone(),
            });
        }
        if let Some(p) = c.purl.as_deref().and_then(Purl::parse) {
            let kind = match p.ty.as_str() {
                "deb" => Some(PackageKind::Deb),
                "apk" => Some(PackageKind::Apk),
                "rpm" => Some(PackageKind::Rpm),
                "cargo" => Some(PackageKind::Cargo),
                "npm" => Some(PackageKind::Npm),
                "pypi" => Some(PackageKind::Pip),
                "golang" => Some(PackageKind::GoModule),
                _ => None,
            };
            if let Some(kind) = kind {
                let name = match kind {
                    PackageKind::Npm if !p.namespace.is_empty() => {
                        format!("{}/{}", p.namespace, p.name)
                    }
                    PackageKind::GoModule if !p.namespace.is_empty() => {
                        format!("{}/{}", p.namespace, p.name)
                    }
                    // pypi purls carry the normalised name; the component keeps the distribution's spelling.
                    PackageKind::Pip if !c.name.is_empty() => c.name.clone(),
                    _ => p.name.clone(),
                };
                let version = if p.version.is_empty() {
                    c.version.clone()
                } else {
                    p.version.clone()
                };
                let mut pkg = Package::new(kind, &name, &version, "");
                pkg.arch = p.qualifier("arch").unwrap_or_default().to_string();
                if let Some(up) = p.qualifier("upstream") {
                    match up.split_once('@') {
                        Some((n, v)) => {
                            pkg.src_name = n.to_string();
                            pkg.src_version = v.to_string();
                        }
                        None => pkg.src_name = up.to_string(),
                    }
                }
                for prop in &c.properties {
                    match prop.name.as_str() {
                        "aquasecurity:trivy:SrcName"
                        | "syft:metadata:source"
                        | "palisade:SrcName" => pkg.src_name = prop.value.clone(),
                        "aquasecurity:trivy:SrcVersion"
                        | "syft:metadata:sourceVersion"
                        | "palisade:SrcVersion" => pkg.src_version = prop.value.clone(),
                        "aquasecurity:trivy:FilePath"
                        | "syft:location:0:path"
                        | "palisade:FilePath" => {
                            pkg.path = prop.value.trim_start_matches('/').to_string()
                        }
                        _ => {}
                    }
                }
                if kind.is_os() {
                    pkg.path.clear();
                    if inv.os.is_none() {
                        if let Some((fam, ver)) =
                            p.qualifier("distro").and_then(|d| d.split_once('-'))
                        {
                            inv.os = Some(OsInfo {
                                family: fam.to_string(),
                                version: ver.to_string(),
                            });
                        }
                    }
                }
                inv.packages.push(pkg);
            }
        }
        walk(&c.components, depth + 1, inv);
    }
}

/// Reads a CycloneDX JSON SBOM.
pub fn read_cyclonedx(bytes: &[u8]) -> Result<Inventory, ScanError> {
    let bom: Bom = serde_json::from_slice(bytes)
        .map_err(|e| ScanError::Sbom(format!("not CycloneDX JSON: {e}")))?;
    if bom.bom_format != "CycloneDX" {
        return Err(ScanError::Sbom(format!(
            "bomFormat is {:?}, expected \"CycloneDX\"",
            bom.bom_format
        )));
    }
    let mut inv = Inventory::default();
    if let Some(c) = bom.metadata.and_then(|m| m.component) {
        walk(std::slice::from_ref(&c), 0, &mut inv);
    }
    walk(&bom.components, 0, &mut inv);
    inv.normalize();
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let p = Purl::parse(
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&upstream=glibc&distro=debian-12",
        )
        .unwrap();
        assert_eq!(
            (
                p.ty.as_str(),
                p.namespace.as_str(),
                p.name.as_str(),
                p.version.as_str()
            ),
            ("deb", "debian", "libc6", "2.36-9+deb12u10")
        );
        assert_eq!(p.qualifier("upstream"), Some("glibc"));
        let p = Purl::parse("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("@babel", "core"));
        assert!(Purl::parse("pkg:%").is_none());
        assert!(Purl::parse("nonsense").is_none());
    }
}
