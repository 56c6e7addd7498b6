//! RPM databases: the SQLite `rpmdb.sqlite` (rpm >= 4.16; RHEL 9, Fedora, Rocky/Alma 9, Amazon Linux 2023,
//! CBL-Mariner/Azure Linux, openSUSE/SLES 15.4+) whose `Packages` table holds one RPM header blob per package.
//!
//! A header blob (rpm's `headerImport` format without the lead) is `il: u32, dl: u32`, then `il` index entries of
//! 16 bytes (`tag i32, type u32, offset i32, count u32`, big-endian), then `dl` bytes of data that the entries
//! point into. Every entry is checked against the data store before use; only the tags needed for matching are
//! read (name, epoch, version, release, arch, source RPM, modularity label).

use super::sqlite::{record, Sqlite, Value};
use super::{Package, PackageKind};

/// rpm's own limits (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;
const TAG_MODULARITYLABEL: i32 = 5096;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// The fields of one installed RPM that matching needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RpmHeader {
    pub(crate) name: String,
    pub(crate) epoch: Option<i32>,
    pub(crate) version: String,
    pub(crate) release: String,
    pub(crate) arch: String,
    pub(crate) source_rpm: String,
    pub(crate) modularity_label: String,
}

/// Parses one header blob, bounded: an error for anything inconsistent, never a panic.
pub(crate) fn parse_header(blob: &[u8]) -> Result<RpmHeader, String> {
    let u32_at = |at: usize| -> Result<u32, String> {
        blob.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "header truncated".to_string())
    };
    let il = u32_at(0)? as usize;
    let dl = u32_at(4)? as usize;
    if il == 0 || il > MAX_TAGS {
        return Err(format!("header has {il} index entries"));
    }
    if dl > MAX_DATA {
        return Err(format!(
            "header data store of {dl} bytes is over rpm's limit"
        ));
    }
    let data_start = 8 + il * 16;
    if data_start + dl > blob.len() {
        return Err(format!(
            "header claims {il} entries and {dl} data bytes but the blob has {} bytes",
            blob.len()
        ));
    }
    let data = &blob[data_start..data_start + dl];
    let mut h = RpmHeader::default();
    for i in 0..il {
        let e = 8 + i * 16;
        let tag = u32_at(e)? as i32;
        let ty = u32_at(e + 4)?;
        let offset = u32_at(e + 8)? as i32;
        let count = u32_at(e + 12)? as usize;
        let wanted = matches!(
            tag,
            TAG_NAME
                | TAG_VERSION
                | TAG_RELEASE
                | TAG_EPOCH
                | TAG_ARCH
                | TAG_SOURCERPM
                | TAG_MODULARITYLABEL
        );
        if !wanted {
            continue;
        }
        if offset < 0 || offset as usize >= dl {
            return Err(format!("tag {tag}: offset {offset} outside the data store"));
        }
        let at = offset as usize;
        if tag == TAG_EPOCH {
            if ty != TYPE_INT32 || count < 1 {
                return Err(format!(
                    "tag {tag}: type {ty} count {count}, expected INT32"
                ));
            }
            let b = data
                .get(at..at + 4)
                .ok_or_else(|| format!("tag {tag}: value runs past the data store"))?;
            h.epoch = Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            continue;
        }
        if !matches!(ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) || count < 1 {
            return Err(format!(
                "tag {tag}: type {ty} count {count}, expected a string"
            ));
        }
        let rest = &data[at..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| format!("tag {tag}: string is not terminated"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        match tag {
            TAG_NAME => h.name = s,
            TAG_VERSION => h.version = s,
            TAG_RELEASE => h.release = s,
            TAG_ARCH => h.arch = s,
            TAG_SOURCERPM => h.source_rpm = s,
            _ => h.modularity_label = s,
        }
    }
    if h.name.is_empty() || h.version.is_empty() {
        return Err("header has no name or version".into());
    }
    Ok(h)
}

/// Splits a source RPM file name `name-version-release.src.rpm` (Trivy's `splitFileName`).
fn split_source_rpm(f: &str) -> Option<(&str, &str, &str)> {
    let f = f.strip_suffix(".rpm").unwrap_or(f);
    let (nvr, _arch) = f.rsplit_once('.')?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

fn evr(epoch: Option<i32>, version: &str, release: &str) -> String {
    let mut s = String::new();
    if let Some(e) = epoch.filter(|e| *e != 0) {
        s.push_str(&format!("{e}:"));
    }
    s.push_str(version);
    if !release.is_empty() {
        s.push('-');
        s.push_str(release);
    }
    s
}

impl RpmHeader {
    fn into_package(self, path: &str) -> Package {
        let version = evr(self.epoch, &self.version, &self.release);
        let mut p = Package::new(PackageKind::Rpm, &self.name, &version, path);
        p.arch = self.arch;
        // The source RPM's file name carries no epoch: the binary's epoch applies (as Trivy does).
        if let Some((n, v, r)) = split_source_rpm(&self.source_rpm) {
            p.src_name = n.to_string();
            p.src_version = evr(self.epoch, v, r);
        }
        p.modularity_label = self.modularity_label;
        p
    }
}

/// Reads every package of an `rpmdb.sqlite`. `gpg-pubkey` entries (imported signing keys) are not packages.
pub(crate) fn parse(path: &str, data: &[u8]) -> Result<Vec<Package>, String> {
    let db = Sqlite::open(data).map_err(|e| format!("{path}: {e}"))?;
    let root = db
        .table_root("Packages")
        .map_err(|e| format!("{path}: {e}"))?
        .ok_or_else(|| format!("{path}: no Packages table: not an RPM database"))?;
    let mut out = Vec::new();
    db.rows(root, &mut |rowid, payload| {
        let cols = record(payload)?;
        let blob = match cols.get(1) {
            Some(Value::Blob(b)) => *b,
            _ => return Err(format!("row {rowid}: no header blob")),
        };
        let h = parse_header(blob).map_err(|e| format!("package {rowid}: {e}"))?;
        if h.name != "gpg-pubkey" {
            out.push(h.into_package(path));
        }
        Ok(())
    })
    .map_err(|e| format!("{path}: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a header blob from (tag, type, value bytes) triples, values NUL-padded as rpm stores strings.
    fn blob(entries: &[(i32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, v) in entries {
            while *ty == TYPE_INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(v);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&index);
        b.extend_from_slice(&data);
        b
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    fn sample() -> Vec<u8> {
        blob(&[
            (TAG_NAME, TYPE_STRING, s("nodejs")),
            (TAG_VERSION, TYPE_STRING, s("10.21.0")),
            (TAG_RELEASE, TYPE_STRING, s("3.module_el8.2.0+391+8da3adc6")),
            (TAG_EPOCH, TYPE_INT32, 1i32.to_be_bytes().to_vec()),
            (TAG_ARCH, TYPE_STRING, s("x86_64")),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                s("nodejs-10.21.0-3.module_el8.2.0+391+8da3adc6.src.rpm"),
            ),
            (
                TAG_MODULARITYLABEL,
                TYPE_STRING,
                s("nodejs:10:8020020200707141642:6a468ee4"),
            ),
        ])
    }

    #[test]
    fn reads_the_fields() {
        let h = parse_header(&sample()).unwrap();
        assert_eq!(h.name, "nodejs");
        assert_eq!(h.epoch, Some(1));
        assert_eq!(h.modularity_label, "nodejs:10:8020020200707141642:6a468ee4");
        let p = h.into_package("var/lib/rpm/rpmdb.sqlite");
        assert_eq!(p.version, "1:10.21.0-3.module_el8.2.0+391+8da3adc6");
        assert_eq!(p.src_name, "nodejs");
        assert_eq!(p.src_version, "1:10.21.0-3.module_el8.2.0+391+8da3adc6");
        assert_eq!(p.arch, "x86_64");
    }

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            split_source_rpm("glibc-2.28-151.el8.src.rpm"),
            Some(("glibc", "2.28", "151.el8"))
        );
        assert_eq!(
            split_source_rpm("python3-pip-21.2.3-6.el9.src.rpm"),
            Some(("python3-pip", "21.2.3", "6.el9"))
        );
        assert_eq!(split_source_rpm("(none)"), None);
        assert_eq!(split_source_rpm(""), None);
    }

    #[test]
    fn hostile_headers_are_errors() {
        let good = sample();
        // Truncations at every length.
        for n in 0..good.len() {
            assert!(parse_header(&good[..n]).is_err(), "truncated to {n}");
        }
        // Entry count and data length over the limits or the blob.
        let mut b = good.clone();
        b[0..4].copy_from_slice(&0x0010_0000u32.to_be_bytes());
        assert!(parse_header(&b).is_err());
        let mut b = good.clone();
        b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&b).is_err());
        // An offset outside the data store, a negative one, and a string without its NUL.
        let mut b = good.clone();
        b[16..20].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
        assert!(parse_header(&b).unwrap_err().contains("outside"));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&(-4i32).to_be_bytes());
        assert!(parse_header(&b).is_err());
        let unterminated = blob(&[(TAG_NAME, TYPE_STRING, b"abc".to_vec())]);
        assert!(parse_header(&unterminated)
            .unwrap_err()
            .contains("not terminated"));
        // Epoch of the wrong type; epoch running off the end.
        let wrong = blob(&[
            (TAG_NAME, TYPE_STRING, s("a")),
            (TAG_EPOCH, TYPE_STRING, s("1")),
        ]);
        assert!(parse_header(&wrong).is_err());
        let short = blob(&[
            (TAG_NAME, TYPE_STRING, s("a")),
            (TAG_EPOCH, TYPE_INT32, vec![0, 1]),
        ]);
        assert!(parse_header(&short).is_err());
        // No name.
        assert!(parse_header(&blob(&[(TAG_VERSION, TYPE_STRING, s("1"))])).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_mutated_headers(flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..12)) {
            let mut b = sample();
            for (i, v) in flips {
                let n = b.len();
                b[i % n] = v;
            }
            let _ = parse_header(&b);
        }

        #[test]
        fn never_panics_on_random_blobs(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_header(&b);
        }
    }
}
