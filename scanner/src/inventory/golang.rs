//! Go: `go.mod` requirements and the build information embedded in Go binaries: the Go 1.18+ inline format and
//! the older pointer format (addresses resolved through the ELF, Mach-O or PE segment tables, every read bounded).

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

/// The executable formats whose data Go's build information lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Elf,
    MachO,
    Pe,
}

fn format(data: &[u8]) -> Option<Format> {
    match data.get(..4)? {
        b"\x7fELF" => Some(Format::Elf),
        [0xcf, 0xfa, 0xed, 0xfe]
        | [0xce, 0xfa, 0xed, 0xfe]
        | [0xfe, 0xed, 0xfa, 0xcf]
        | [0xfe, 0xed, 0xfa, 0xce] => Some(Format::MachO),
        [b'M', b'Z', ..] => Some(Format::Pe),
        _ => None,
    }
}

/// Reads a `size`-byte unsigned integer at `at` (`size` 2, 4 or 8).
fn uint(data: &[u8], at: usize, size: usize, big_endian: bool) -> Option<u64> {
    let b = data.get(at..at.checked_add(size)?)?;
    let mut v = 0u64;
    for i in 0..size {
        let byte = if big_endian { b[i] } else { b[size - 1 - i] };
        v = (v << 8) | u64::from(byte);
    }
    Some(v)
}

/// A loaded range of the image: virtual address, file offset, length in the file.
#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    offset: u64,
    size: u64,
}

/// At most this many segments or sections are read from a header (real binaries have a few dozen).
const MAX_SEGMENTS: u64 = 256;

/// The loaded segments of an ELF, Mach-O or PE file, every field bounds-checked.
fn segments(data: &[u8], f: Format) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    match f {
        Format::Elf => {
            let wide = *data.get(4)? == 2;
            let be = *data.get(5)? == 2;
            let (phoff, phentsize, phnum) = if wide {
                (
                    uint(data, 32, 8, be)?,
                    uint(data, 54, 2, be)?,
                    uint(data, 56, 2, be)?,
                )
            } else {
                (
                    uint(data, 28, 4, be)?,
                    uint(data, 42, 2, be)?,
                    uint(data, 44, 2, be)?,
                )
            };
            for i in 0..phnum.min(MAX_SEGMENTS) {
                let h = usize::try_from(phoff.checked_add(i * phentsize)?).ok()?;
                if uint(data, h, 4, be)? != 1 {
                    continue; // not PT_LOAD
                }
                let (offset, vaddr, size) = if wide {
                    (
                        uint(data, h + 8, 8, be)?,
                        uint(data, h + 16, 8, be)?,
                        uint(data, h + 32, 8, be)?,
                    )
                } else {
                    (
                        uint(data, h + 4, 4, be)?,
                        uint(data, h + 8, 4, be)?,
                        uint(data, h + 16, 4, be)?,
                    )
                };
                out.push(Segment {
                    vaddr,
                    offset,
                    size,
                });
            }
        }
        Format::MachO => {
            let be = data[0] == 0xfe;
            let wide = uint(data, 0, 4, be)? == 0xfeed_facf;
            let ncmds = uint(data, 16, 4, be)?;
            let mut at = if wide { 32usize } else { 28 };
            for _ in 0..ncmds.min(MAX_SEGMENTS) {
                let cmd = uint(data, at, 4, be)?;
                let size = usize::try_from(uint(data, at + 4, 4, be)?).ok()?;
                match cmd {
                    0x19 => out.push(Segment {
                        vaddr: uint(data, at + 24, 8, be)?,
                        offset: uint(data, at + 40, 8, be)?,
                        size: uint(data, at + 48, 8, be)?,
                    }),
                    0x1 => out.push(Segment {
                        vaddr: uint(data, at + 24, 4, be)?,
                        offset: uint(data, at + 32, 4, be)?,
                        size: uint(data, at + 36, 4, be)?,
                    }),
                    _ => {}
                }
                if size < 8 {
                    return None;
                }
                at = at.checked_add(size)?;
            }
        }
        Format::Pe => {
            let pe = usize::try_from(uint(data, 0x3c, 4, false)?).ok()?;
            if data.get(pe..pe + 4)? != b"PE\0\0" {
                return None;
            }
            let coff = pe + 4;
            let nsections = uint(data, coff + 2, 2, false)?;
            let opt_size = usize::try_from(uint(data, coff + 16, 2, false)?).ok()?;
            let opt = coff + 20;
            let image_base = match uint(data, opt, 2, false)? {
                0x10b => uint(data, opt + 28, 4, false)?,
                0x20b => uint(data, opt + 24, 8, false)?,
                _ => return None,
            };
            let table = opt.checked_add(opt_size)?;
            for i in 0..nsections.min(MAX_SEGMENTS) as usize {
                let s = table.checked_add(i * 40)?;
                let vsize = uint(data, s + 8, 4, false)?;
                let rva = uint(data, s + 12, 4, false)?;
                let raw_size = uint(data, s + 16, 4, false)?;
                let raw = uint(data, s + 20, 4, false)?;
                out.push(Segment {
                    vaddr: image_base.checked_add(rva)?,
                    offset: raw,
                    size: raw_size.min(vsize.max(raw_size)),
                });
            }
        }
    }
    Some(out)
}

/// `len` bytes at virtual address `addr`, when a segment maps them from the file.
fn read_at<'a>(data: &'a [u8], segs: &[Segment], addr: u64, len: u64) -> Option<&'a [u8]> {
    let end = addr.checked_add(len)?;
    let s = segs.iter().find(|s| {
        addr >= s.vaddr
            && s.vaddr
                .checked_add(s.size)
                .is_some_and(|seg_end| end <= seg_end)
    })?;
    let off = usize::try_from(s.offset.checked_add(addr - s.vaddr)?).ok()?;
    data.get(off..off.checked_add(usize::try_from(len).ok()?)?)
}

/// Go < 1.18: the header holds pointers to the `runtime.buildVersion` and `runtime.modinfo` string headers
/// (`{data pointer, length}`), which point into the data segment.
fn pointer_strings<'a>(data: &'a [u8], f: Format, head: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let ptr_size = usize::from(head[14]);
    if ptr_size != 4 && ptr_size != 8 {
        return None;
    }
    let be = head[15] & 0x01 != 0;
    let segs = segments(data, f)?;
    let string = |ptr_at: usize| -> Option<&'a [u8]> {
        let hdr_addr = uint(head, ptr_at, ptr_size, be)?;
        let hdr = read_at(data, &segs, hdr_addr, 2 * ptr_size as u64)?;
        let addr = uint(hdr, 0, ptr_size, be)?;
        let len = uint(hdr, ptr_size, ptr_size, be)?;
        if len > super::MAX_ANALYZED_FILE {
            return None;
        }
        read_at(data, &segs, addr, len)
    };
    Some((string(16)?, string(16 + ptr_size)?))
}

/// Go modules built into a binary (ELF, Mach-O or PE; Go 1.18+ inline build information or the older
/// pointer-based form), plus `stdlib` at the toolchain version. `None` if it is not a Go binary.
pub(crate) fn parse_binary(path: &str, data: &[u8]) -> Option<Vec<Package>> {
    let f = format(data)?;
    let mut at = None;
    let mut i = 0;
    while i + 32 <= data.len() {
        if data[i..].starts_with(MAGIC) {
            at = Some(i);
            break;
        }
        i += 16; // the header is 16-byte aligned
    }
    let start = at?;
    let head = data.get(start..start + 32)?;
    let (version, mut modinfo) = if head[15] & 0x02 != 0 {
        let (version, rest) = read_str(data.get(start + 32..)?)?;
        (version, read_str(rest)?.0)
    } else {
        pointer_strings(data, f, head)?
    };
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
    use proptest::prelude::*;

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

    /// A Go < 1.18 image: the build-info header at file offset 0x1000 with pointers to string headers, mapped at
    /// virtual address `base` by the format's own segment table.
    fn legacy(f: Format, big_endian: bool, ptr: usize) -> Vec<u8> {
        let put = |b: &mut Vec<u8>, at: usize, v: u64, size: usize, be: bool| {
            for i in 0..size {
                let shift = if be { 8 * (size - 1 - i) } else { 8 * i };
                b[at + i] = (v >> shift) as u8;
            }
        };
        let base: u64 = match f {
            Format::Pe => 0x1_4000_1000,
            _ => 0x40_1000,
        };
        let mut b = vec![0u8; 0x1000];
        let mut body = vec![0u8; 0x200];
        body[..14].copy_from_slice(MAGIC);
        body[14] = ptr as u8;
        body[15] = u8::from(big_endian);
        put(&mut body, 16, base + 0x40, ptr, big_endian);
        put(
            &mut body,
            16 + ptr,
            base + 0x40 + 2 * ptr as u64,
            ptr,
            big_endian,
        );
        let version = b"go1.16.15";
        let modinfo = b"0123456789abcdef\npath\tex.com/app\nmod\tex.com/app\t(devel)\t\ndep\tgithub.com/gorilla/websocket\tv1.4.0\th1:x=\ndep\tgolang.org/x/net\tv0.0.0-2019\th1:y=\n=>\tgolang.org/x/net\tv0.7.0\th1:z=\n0123456789abcdef";
        put(&mut body, 0x40, base + 0x80, ptr, big_endian);
        put(&mut body, 0x40 + ptr, version.len() as u64, ptr, big_endian);
        put(&mut body, 0x40 + 2 * ptr, base + 0xc0, ptr, big_endian);
        put(
            &mut body,
            0x40 + 3 * ptr,
            modinfo.len() as u64,
            ptr,
            big_endian,
        );
        body[0x80..0x80 + version.len()].copy_from_slice(version);
        body[0xc0..0xc0 + modinfo.len()].copy_from_slice(modinfo);
        let size = body.len() as u64;
        match f {
            Format::Elf if ptr == 8 => {
                b[..4].copy_from_slice(b"\x7fELF");
                b[4] = 2;
                b[5] = if big_endian { 2 } else { 1 };
                put(&mut b, 32, 64, 8, big_endian);
                put(&mut b, 54, 56, 2, big_endian);
                put(&mut b, 56, 1, 2, big_endian);
                put(&mut b, 64, 1, 4, big_endian);
                put(&mut b, 64 + 8, 0x1000, 8, big_endian);
                put(&mut b, 64 + 16, base, 8, big_endian);
                put(&mut b, 64 + 32, size, 8, big_endian);
            }
            Format::Elf => {
                b[..4].copy_from_slice(b"\x7fELF");
                b[4] = 1;
                b[5] = if big_endian { 2 } else { 1 };
                put(&mut b, 28, 52, 4, big_endian);
                put(&mut b, 42, 32, 2, big_endian);
                put(&mut b, 44, 1, 2, big_endian);
                put(&mut b, 52, 1, 4, big_endian);
                put(&mut b, 52 + 4, 0x1000, 4, big_endian);
                put(&mut b, 52 + 8, base, 4, big_endian);
                put(&mut b, 52 + 16, size, 4, big_endian);
            }
            Format::MachO => {
                put(&mut b, 0, 0xfeed_facf, 4, false);
                put(&mut b, 16, 1, 4, false);
                put(&mut b, 32, 0x19, 4, false);
                put(&mut b, 36, 72, 4, false);
                put(&mut b, 32 + 24, base, 8, false);
                put(&mut b, 32 + 40, 0x1000, 8, false);
                put(&mut b, 32 + 48, size, 8, false);
            }
            Format::Pe => {
                b[..2].copy_from_slice(b"MZ");
                put(&mut b, 0x3c, 0x80, 4, false);
                b[0x80..0x84].copy_from_slice(b"PE\0\0");
                put(&mut b, 0x84 + 2, 1, 2, false);
                put(&mut b, 0x84 + 16, 240, 2, false);
                put(&mut b, 0x98, 0x20b, 2, false);
                put(&mut b, 0x98 + 24, 0x1_4000_0000, 8, false);
                let sec = 0x98 + 240;
                put(&mut b, sec + 8, size, 4, false);
                put(&mut b, sec + 12, 0x1000, 4, false);
                put(&mut b, sec + 16, size, 4, false);
                put(&mut b, sec + 20, 0x1000, 4, false);
            }
        }
        b.extend(body);
        b
    }

    #[test]
    fn buildinfo_before_go_1_18() {
        for (f, be, ptr) in [
            (Format::Elf, false, 8),
            (Format::Elf, true, 8),
            (Format::Elf, true, 4),
            (Format::Elf, false, 4),
            (Format::MachO, false, 8),
            (Format::Pe, false, 8),
        ] {
            let bin = legacy(f, be, ptr);
            let p =
                parse_binary("bin/app", &bin).unwrap_or_else(|| panic!("{f:?} be={be} ptr={ptr}"));
            let v: Vec<_> = p
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect();
            assert_eq!(
                v,
                vec![
                    ("stdlib", "v1.16.15"),
                    ("github.com/gorilla/websocket", "v1.4.0"),
                    ("golang.org/x/net", "v0.7.0"),
                ],
                "{f:?} be={be} ptr={ptr}"
            );
            // Every truncation and pointer corruption is `None` or fewer modules, never a panic.
            for cut in (0..bin.len()).step_by(7) {
                let _ = parse_binary("bin/app", &bin[..cut]);
            }
            for at in 0x1010..0x1050 {
                let mut bad = bin.clone();
                bad[at] ^= 0xff;
                let _ = parse_binary("bin/app", &bad);
            }
            let mut bad = bin.clone();
            // A string length far past the file: not read.
            let len_at = 0x1040 + ptr + if be { 0 } else { ptr - 1 };
            bad[len_at] = 0xff;
            assert!(parse_binary("bin/app", &bad).is_none());
        }
    }

    #[test]
    fn scan_fs_finds_go_binaries_and_go_mod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        let bin = dir.path().join("bin/app");
        std::fs::write(&bin, legacy(Format::Elf, false, 8)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The same bytes without the executable bit are not a binary to analyze.
        std::fs::write(dir.path().join("bin/data"), legacy(Format::Elf, false, 8)).unwrap();
        std::fs::write(
            dir.path().join("svc/go.mod"),
            "module ex.com/svc\n\nrequire github.com/docker/distribution v2.7.0+incompatible\n",
        )
        .unwrap();
        let inv =
            crate::image::scan_source_tree(dir.path(), &crate::layers::Limits::default()).unwrap();
        let got: Vec<_> = inv
            .packages
            .iter()
            .map(|p| (p.kind, p.path.as_str(), p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    PackageKind::GoModule,
                    "svc/go.mod",
                    "github.com/docker/distribution",
                    "v2.7.0+incompatible"
                ),
                (
                    PackageKind::GoBinary,
                    "bin/app",
                    "github.com/gorilla/websocket",
                    "v1.4.0"
                ),
                (
                    PackageKind::GoBinary,
                    "bin/app",
                    "golang.org/x/net",
                    "v0.7.0"
                ),
                (PackageKind::GoBinary, "bin/app", "stdlib", "v1.16.15"),
            ]
        );
    }

    proptest! {
        /// Crafted pointer-format images with arbitrary bytes overwritten (headers, segment tables, pointers,
        /// lengths): never a panic, and whatever is found stays inside the file.
        #[test]
        fn mutated_images_never_panic(
            which in 0usize..6,
            flips in proptest::collection::vec((0usize..0x1200, any::<u8>()), 1..16),
        ) {
            let (f, be, ptr) = [
                (Format::Elf, false, 8),
                (Format::Elf, true, 8),
                (Format::Elf, true, 4),
                (Format::Elf, false, 4),
                (Format::MachO, false, 8),
                (Format::Pe, false, 8),
            ][which];
            let mut bin = legacy(f, be, ptr);
            for (at, v) in flips {
                let at = at % bin.len();
                bin[at] = v;
            }
            if let Some(pkgs) = parse_binary("bin/app", &bin) {
                prop_assert!(pkgs.len() <= bin.len());
            }
        }
    }
}
