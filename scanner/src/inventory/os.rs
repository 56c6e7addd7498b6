//! Operating system detection from `/etc/os-release` and its fallbacks.

use serde::Serialize;

/// Files that identify the OS, most specific first.
pub(crate) const PATHS: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/lsb-release",
];

/// The detected operating system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// Trivy's family name: `debian`, `ubuntu`, `alpine`, `redhat`, `rocky`, `alma`, `amazon`, ...
    #[serde(rename = "Family")]
    pub family: String,
    /// Version as the distribution states it (`12`, `22.04`, `3.19.1`).
    #[serde(rename = "Name")]
    pub version: String,
}

fn family(id: &str) -> String {
    match id {
        "rhel" => "redhat",
        "almalinux" => "alma",
        "amzn" => "amazon",
        "ol" => "oracle",
        "opensuse-leap" | "opensuse" => "opensuse.leap",
        "opensuse-tumbleweed" => "opensuse.tumbleweed",
        "sles" => "suse linux enterprise server",
        "sle-micro" | "sl-micro" => "suse linux enterprise micro",
        "mariner" => "cbl-mariner",
        other => other,
    }
    .to_string()
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(v)
}

/// Parses one of [`PATHS`].
pub(crate) fn parse(path: &str, data: &[u8]) -> Option<OsInfo> {
    let text = String::from_utf8_lossy(&data[..data.len().min(64 << 10)]);
    match path {
        "etc/alpine-release" => Some(OsInfo {
            family: "alpine".into(),
            version: text.trim().to_string(),
        }),
        "etc/debian_version" => {
            let v = text.trim();
            v.starts_with(|c: char| c.is_ascii_digit()).then(|| OsInfo {
                family: "debian".into(),
                version: v.to_string(),
            })
        }
        _ => {
            let mut id = None;
            let mut version = None;
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k.trim() {
                    "ID" | "DISTRIB_ID" => id = Some(unquote(v).to_ascii_lowercase()),
                    "VERSION_ID" | "DISTRIB_RELEASE" => version = Some(unquote(v).to_string()),
                    _ => {}
                }
            }
            Some(OsInfo {
                family: family(&id?),
                version: version.unwrap_or_default(),
            })
        }
    }
}
