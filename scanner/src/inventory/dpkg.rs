//! dpkg's database: `/var/lib/dpkg/status` and distroless-style `/var/lib/dpkg/status.d/*`.

use super::{Package, PackageKind};

/// Parses a status file: one paragraph per package; only installed packages count.
pub(crate) fn parse(path: &str, data: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut name = "";
        let mut version = "";
        let mut source = "";
        let mut arch = "";
        let mut status = None;
        for line in para.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k {
                "Package" => name = v,
                "Version" => version = v,
                "Source" => source = v,
                "Architecture" => arch = v,
                "Status" => status = Some(v),
                _ => {}
            }
        }
        if name.is_empty() || version.is_empty() {
            continue;
        }
        if let Some(s) = status {
            // "want flag status": only fully installed packages.
            if s.split_whitespace().nth(2) != Some("installed") {
                continue;
            }
        }
        let mut p = Package::new(PackageKind::Deb, name, version, path);
        p.arch = arch.to_string();
        if !source.is_empty() {
            match source.split_once('(') {
                Some((n, v)) => {
                    p.src_name = n.trim().to_string();
                    p.src_version = v.trim_end_matches(')').trim().to_string();
                }
                None => p.src_name = source.to_string(),
            }
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paragraphs() {
        let s = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u10\nDescription: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bsdutils\nStatus: install ok installed\nSource: util-linux (2.38.1-5)\nVersion: 1:2.38.1-5+deb12u3\n";
        let p = parse("var/lib/dpkg/status", s);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].src_name.as_str(), p[0].src_version.as_str()),
            ("glibc", "2.36-9+deb12u10")
        );
        assert_eq!(
            (p[1].src_name.as_str(), p[1].src_version.as_str()),
            ("util-linux", "2.38.1-5")
        );
        assert_eq!(p[1].version, "1:2.38.1-5+deb12u3");
    }
}
