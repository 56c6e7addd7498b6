//! Go build information read from real Go binaries (Debian's Go toolchain builds them once, cached, for ELF
//! 64- and 32-bit, PE and Mach-O): the modules the scanner reports are exactly those `go version -m` (Go's own
//! reader, the oracle) prints, with `=>` replacements applied and the toolchain as `stdlib`.

mod support;

use std::collections::BTreeMap;

use palisade_scanner::layers::Limits;
use palisade_scanner::{scan_source_tree, PackageKind};

/// `(name, version)` pairs Go itself reads from a binary, in the scanner's terms.
fn oracle(buildinfo: &str) -> Vec<(String, String)> {
    let mut lines = buildinfo.lines();
    let toolchain = lines.next().and_then(|l| l.rsplit(' ').next()).unwrap();
    let mut out = vec![(
        "stdlib".to_string(),
        format!("v{}", toolchain.trim_start_matches("go")),
    )];
    for line in lines {
        let f: Vec<&str> = line.trim_start().split('\t').collect();
        match f.as_slice() {
            ["dep", m, v, ..] => out.push((m.to_string(), v.to_string())),
            ["=>", m, v, ..] => *out.last_mut().unwrap() = (m.to_string(), v.to_string()),
            _ => {}
        }
    }
    out.sort();
    out
}

#[test]
fn real_go_binaries_match_go_version_m() {
    let env = support::run_script("scripts/testdata/go-binaries.sh", &[]);
    let dir = std::path::PathBuf::from(&env["PALISADE_TEST_GO_BIN_DIR"]);
    let inv = scan_source_tree(&dir, &Limits::default()).unwrap();
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &inv.packages {
        assert_eq!(p.kind, PackageKind::GoBinary, "{p:?}");
        found
            .entry(p.path.clone())
            .or_default()
            .push((p.name.clone(), p.version.clone()));
    }
    let mut binaries = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(bin) = name.strip_suffix(".buildinfo") else {
            continue;
        };
        binaries += 1;
        let expected = oracle(&std::fs::read_to_string(&path).unwrap());
        // The oracle really lists the vendored dependency and the replaced one.
        assert!(expected.contains(&("github.com/example/greet".into(), "v1.4.2".into())));
        assert!(expected.contains(&("golang.org/x/text".into(), "v0.3.8".into())));
        let mut got = found.remove(bin).unwrap_or_default();
        got.sort();
        assert_eq!(got, expected, "{bin}");
    }
    assert_eq!(binaries, 4, "ELF 64, ELF 32, PE and Mach-O binaries");
    assert!(
        found.is_empty(),
        "packages from unexpected files: {found:?}"
    );
}
