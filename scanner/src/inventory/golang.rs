//! Go: `go.mod` requirements and the build information embedded in Go binaries (Go 1.18+ inline format).

use super::{Package, PackageKind};

pub(crate) fn parse_gomod(path: &str, data: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            push_req(line, path, &mut out);
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
            } else {
                push_req(rest, path, &mut out);
            }
        }
    }
    out
}

fn push_req(line: &str, path: &str, out: &mut Vec<Package>) {
    let mut it = line.split_whitespace();
    if let (Some(m), Some(v)) = (it.next(), it.next()) {
        out.push(Package::new(PackageKind::GoModule, m, v, path));
    }
}

const MAGIC: &[u8] = b"\xff Go buildinf:";

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        x |= u64::from(c & 0x7f) << (7 * i);
        if c < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

fn read_str(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, used) = uvarint(b)?;
    let n = usize::try_from(n).ok()?;
    let rest = b.get(used..)?;
    Some((rest.get(..n)?, rest.get(n..)?))
}

/// Go modules built into an ELF binary, plus `stdlib` at the toolchain version. `None` if it is not one.
pub(crate) fn parse_binary(path: &str, data: &[u8]) -> Option<Vec<Package>> {
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    let mut at = None;
    let mut i = 0;
    while i + MAGIC.len() <= data.len() {
        if data[i..].starts_with(MAGIC) {
            at = Some(i);
            break;
        }
        i += 16; // the header is 16-byte aligned
    }
    let start = at?;
    let head = data.get(start..start + 32)?;
    if head[15] & 0x02 == 0 {
        // pre-1.18 pointer format: not supported
        return None;
    }
    let (version, rest) = read_str(data.get(start + 32..)?)?;
    let (modinfo, _) = read_str(rest)?;
    let mut modinfo = modinfo;
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    let mut out = Vec::new();
    let version = String::from_utf8_lossy(version);
    if let Some(v) = version.strip_prefix("go") {
        let v = v.split([' ', '-']).next().unwrap_or_default();
        out.push(Package::new(
            PackageKind::GoBinary,
            "stdlib",
            &format!("v{v}"),
            path,
        ));
    }
    let text = String::from_utf8_lossy(modinfo);
    let mut last_dep: Option<usize> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod", m, v, ..] if *v != "(devel)" => {
                out.push(Package::new(PackageKind::GoBinary, m, v, path));
                last_dep = None;
            }
            ["dep", m, v, ..] => {
                out.push(Package::new(PackageKind::GoBinary, m, v, path));
                last_dep = Some(out.len() - 1);
            }
            ["=>", m, v, ..] => {
                if let Some(i) = last_dep {
                    out[i].name = m.to_string();
                    out[i].version = v.to_string();
                    out[i].src_name = m.to_string();
                    out[i].src_version = v.to_string();
                }
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gomod() {
        let p = parse_gomod("go.mod", b"module x\n\ngo 1.21\n\nrequire github.com/a/b v1.0.0\nrequire (\n\tgolang.org/x/text v0.14.0 // indirect\n)\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].version, "v0.14.0");
    }

    #[test]
    fn buildinfo_inline() {
        let mut b = b"\x7fELF".to_vec();
        b.resize(64, 0);
        let mut h = MAGIC.to_vec();
        h.push(8);
        h.push(2);
        h.resize(32, 0);
        b.extend(h);
        let v = b"go1.21.5";
        b.push(v.len() as u8);
        b.extend(v);
        let m = b"0123456789abcdef\npath\tex.com/x\nmod\tex.com/x\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.0\th1:x\n0123456789abcdef";
        b.push(m.len() as u8);
        b.extend(m);
        let p = parse_binary("bin/x", &b).unwrap();
        let v: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            v,
            vec![("stdlib", "v1.21.5"), ("golang.org/x/text", "v0.3.0")]
        );
        assert!(parse_binary("x", b"\x7fELF nothing").is_none());
    }
}
