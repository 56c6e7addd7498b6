//! Hostile images: path traversal, absolute paths, symlink loops, hard-link tricks, decompression bombs, oversized
//! files, truncated and corrupt layers, zstd layers, whiteouts and opaque directories, and random corruption of a
//! whole archive. Every case is an error or a skipped file with a warning, never a panic.

use std::io::{Read, Write};
use std::path::Path;

use palisade_scanner::image::{Image, Platform};
use palisade_scanner::layers::Limits;
use palisade_scanner::{Inventory, PackageKind};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

enum E<'a> {
    File(&'a [u8], &'a [u8]),
    Sym(&'a [u8], &'a [u8]),
    Hard(&'a [u8], &'a [u8]),
}

/// A tar layer with raw (unchecked) member names, as an attacker would write them.
fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, link): (&[u8], &[u8], tar::EntryType, &[u8]) = match e {
            E::File(n, d) => (n, d, tar::EntryType::Regular, b""),
            E::Sym(n, t) => (n, b"", tar::EntryType::Symlink, t),
            E::Hard(n, t) => (n, b"", tar::EntryType::Link, t),
        };
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name);
            g.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The diff_id of a layer: the digest of its uncompressed tar (of the bytes as given when they do not
/// decompress: corrupt layers then fail on their content first).
fn diff_id(l: &[u8]) -> String {
    let plain = if l.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(l)
            .read_to_end(&mut out)
            .ok()
            .map(|_| out)
    } else if l.len() >= 4 && (l[..4] == [0x28, 0xb5, 0x2f, 0xfd] || l[1..4] == [0x2a, 0x4d, 0x18])
    {
        let out = run_tool("zstd", &["-d", "-q", "-c"], l);
        out.status.success().then_some(out.stdout)
    } else {
        None
    };
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(plain.as_deref().unwrap_or(l)))
    )
}

/// A `docker save` archive holding `layers` (already compressed or not) and a manifest naming `names`.
fn docker_archive(path: &Path, layers: &[Vec<u8>], names: Option<Vec<String>>) {
    let diff_ids: Vec<String> = layers.iter().map(|l| diff_id(l)).collect();
    let names = names.unwrap_or_else(|| (0..layers.len()).map(|i| format!("l{i}.tar")).collect());
    let config = serde_json::json!({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": ["t:1"], "Layers": names}]);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(
        "config.json",
        serde_json::to_vec(&config).unwrap().as_slice(),
    );
    add(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap().as_slice(),
    );
    for (i, l) in layers.iter().enumerate() {
        add(&format!("l{i}.tar"), l);
    }
    b.finish().unwrap();
}

fn scan_layers(
    layers: &[Vec<u8>],
    limits: &Limits,
) -> Result<Inventory, palisade_scanner::ScanError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tar");
    docker_archive(&p, layers, None);
    Image::open_local(&p, &Platform::default())?.inventory(limits, &mut |_, _| {})
}

const OS_DEBIAN: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\n";
const LOCK: &[u8] = b"version = 3\n[[package]]\nname = \"ammonia\"\nversion = \"1.0.0\"\n";

#[test]
fn traversal_and_absolute_paths() {
    let inv = scan_layers(
        &[layer(&[
            E::File(b"../../etc/os-release", b"ID=alpine\nVERSION_ID=3.19.0\n"),
            E::File(b"./etc/os-release", OS_DEBIAN),
            E::File(b"/abs/app/Cargo.lock", LOCK),
            E::File(b"a/../../../escape/Cargo.lock", LOCK),
        ])],
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(inv.os.unwrap().family, "debian");
    let paths: Vec<_> = inv.packages.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["abs/app/Cargo.lock"]);
    assert!(
        inv.warnings.iter().any(|w| w.contains("escapes the root")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn symlink_loops_and_escapes() {
    let inv = scan_layers(
        &[layer(&[
            E::Sym(b"etc/os-release", b"a"),
            E::Sym(b"etc/a", b"b"),
            E::Sym(b"etc/b", b"/etc/a"),
            E::Sym(
                b"usr/lib/os-release",
                b"../../../../../../proc/self/environ",
            ),
        ])],
        &Limits::default(),
    )
    .unwrap();
    assert!(inv.os.is_none());
    assert!(
        inv.warnings.iter().any(|w| w.contains("symlink loop")),
        "{:?}",
        inv.warnings
    );
    // A well-behaved symlink resolves (Debian's own layout).
    let inv = scan_layers(
        &[layer(&[
            E::File(b"usr/lib/os-release", OS_DEBIAN),
            E::Sym(b"etc/os-release", b"../usr/lib/os-release"),
        ])],
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(inv.os.unwrap().version, "12");
}

#[test]
fn hard_links() {
    let inv = scan_layers(
        &[layer(&[
            E::File(b"src/Cargo.lock", LOCK),
            E::Hard(b"app/Cargo.lock", b"src/Cargo.lock"),
            E::Hard(b"x/Cargo.lock", b"../../outside/Cargo.lock"),
            E::Hard(b"y/Cargo.lock", b"does/not/exist"),
        ])],
        &Limits::default(),
    )
    .unwrap();
    let paths: Vec<_> = inv.packages.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["app/Cargo.lock", "src/Cargo.lock"]);
    assert!(
        inv.warnings.iter().any(|w| w.contains("points outside")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn decompression_bomb_is_capped() {
    // 64 MiB of zeros inside a tar, gzipped to well under 1 MiB.
    let big = vec![0u8; 64 << 20];
    let bomb = gzip(&layer(&[E::File(b"zeros", &big)]));
    assert!(bomb.len() < 1 << 20);
    let limits = Limits {
        max_layer_bytes: 8 << 20,
        ..Limits::default()
    };
    let err = scan_layers(&[bomb], &limits).unwrap_err().to_string();
    assert!(err.contains("limit"), "{err}");
}

#[test]
fn oversized_files_are_skipped_with_a_warning() {
    let mut status = b"Package: x\nStatus: install ok installed\nVersion: 1\n\n".to_vec();
    status.resize(3 << 20, b'#');
    let limits = Limits {
        max_file_bytes: 1 << 20,
        ..Limits::default()
    };
    let inv = scan_layers(
        &[layer(&[E::File(b"var/lib/dpkg/status", &status)])],
        &limits,
    )
    .unwrap();
    assert!(inv.packages.is_empty());
    assert!(
        inv.warnings.iter().any(|w| w.contains("per-file limit")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn truncated_and_corrupt_layers_are_errors() {
    let full = layer(&[
        E::File(b"var/lib/dpkg/status", &vec![b'a'; 100_000]),
        E::File(b"etc/os-release", OS_DEBIAN),
    ]);
    let truncated = full[..50_000].to_vec();
    assert!(scan_layers(&[truncated], &Limits::default()).is_err());
    let gz = gzip(&full);
    let truncated_gz = gz[..gz.len() / 2].to_vec();
    assert!(scan_layers(&[truncated_gz], &Limits::default()).is_err());
    let mut corrupt_gz = gz.clone();
    for b in corrupt_gz.iter_mut().skip(20).take(200) {
        *b ^= 0x5a;
    }
    assert!(scan_layers(&[corrupt_gz], &Limits::default()).is_err());
    let mut zstd_garbage = vec![0x28, 0xb5, 0x2f, 0xfd];
    zstd_garbage.extend_from_slice(&[0xff; 64]);
    assert!(scan_layers(&[zstd_garbage], &Limits::default()).is_err());
}

#[test]
fn zstd_layers() {
    let raw = layer(&[
        E::File(b"etc/os-release", OS_DEBIAN),
        E::File(b"app/Cargo.lock", LOCK),
    ]);
    let z =
        ruzstd::encoding::compress_to_vec(&raw[..], ruzstd::encoding::CompressionLevel::Fastest);
    assert_eq!(&z[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let inv = scan_layers(&[z], &Limits::default()).unwrap();
    assert_eq!(inv.os.unwrap().family, "debian");
    assert_eq!(inv.packages.len(), 1);
    assert_eq!(inv.packages[0].kind, PackageKind::Cargo);
}

/// Runs Debian's `zstd` or `pzstd` CLI over `input` (the test fails when the tool is missing).
fn run_tool(tool: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = std::process::Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} (Debian package zstd) is needed: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    // A tool that gives up early closes its input: that is its answer, not the test's failure.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn zstd_cli(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = run_tool(tool, args, input);
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// A skippable frame (magic `0x184D2A5?`, little-endian length, payload) as zstd's format defines it.
fn skippable(nibble: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x50 | nibble, 0x2a, 0x4d, 0x18];
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn multi_frame_zstd_layers_decode_every_frame() {
    // Big enough that the second half's files lie in later frames.
    let filler = vec![b'x'; 300 << 10];
    let raw = layer(&[
        E::File(b"etc/os-release", OS_DEBIAN),
        E::File(b"filler/a", &filler),
        E::File(b"app/one/Cargo.lock", LOCK),
        E::File(b"filler/b", &filler),
        E::File(b"app/two/Cargo.lock", LOCK),
    ]);
    let cut = 512 * 400;
    let (first, rest) = raw.split_at(cut);
    let (second, third) = rest.split_at(512 * 500);
    // Frames appended by the CLI one after another, as `zstd -c a >> layer; zstd -c b >> layer` does.
    let mut concatenated = Vec::new();
    for part in [first, second, third] {
        concatenated.extend(zstd_cli("zstd", &["-q", "-c", "-3"], part));
    }
    // Skippable frames before, between and after the data frames.
    let mut with_skippable = skippable(0xa, b"palisade");
    with_skippable.extend(zstd_cli("zstd", &["-q", "-c"], first));
    with_skippable.extend(skippable(0x0, &[0u8; 4096]));
    with_skippable.extend(skippable(0xf, b""));
    with_skippable.extend(zstd_cli("zstd", &["-q", "-c"], rest));
    with_skippable.extend(skippable(0x3, b"end"));
    // pzstd writes a skippable frame (holding the frame's size) before every frame it compresses.
    let pzstd = zstd_cli("pzstd", &["-q", "-c", "-p", "2"], &raw);
    assert_eq!(
        pzstd[1..4],
        [0x2a, 0x4d, 0x18],
        "pzstd starts with a skippable frame"
    );
    for (what, z) in [
        ("concatenated", &concatenated),
        ("skippable", &with_skippable),
        ("pzstd", &pzstd),
    ] {
        let inv = scan_layers(std::slice::from_ref(z), &Limits::default())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(inv.os.as_ref().unwrap().family, "debian", "{what}");
        let paths: Vec<&str> = inv.packages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["app/one/Cargo.lock", "app/two/Cargo.lock"],
            "{what}"
        );
        // The decompression cap counts the bytes of all frames together.
        let capped = Limits {
            max_layer_bytes: (raw.len() - 4096) as u64,
            ..Limits::default()
        };
        let err = scan_layers(std::slice::from_ref(z), &capped)
            .unwrap_err()
            .to_string();
        assert!(err.contains("limit"), "{what}: {err}");
        // A stream cut inside any frame is an error, never a shorter layer passed off as whole.
        for cut in [z.len() - 1, z.len() - 9, z.len() / 2] {
            assert!(
                scan_layers(&[z[..cut].to_vec()], &Limits::default()).is_err(),
                "{what} cut at {cut}"
            );
        }
    }
}

#[test]
fn whiteouts_and_opaque_directories() {
    let l0 = layer(&[
        E::File(b"app/a/Cargo.lock", LOCK),
        E::File(b"app/b/Cargo.lock", LOCK),
        E::File(b"app/c/Cargo.lock", LOCK),
        E::File(b"keep/Cargo.lock", LOCK),
    ]);
    let l1 = gzip(&layer(&[
        E::File(b"app/a/.wh..wh..opq", b""),
        E::File(b"app/a/new/Cargo.lock", LOCK),
        E::File(b"app/.wh.b", b""),
        E::File(b"app/c/.wh.Cargo.lock", b""),
    ]));
    let inv = scan_layers(&[l0, l1], &Limits::default()).unwrap();
    let found: Vec<(String, usize)> = inv
        .packages
        .iter()
        .map(|p| (p.path.clone(), p.layer.as_ref().unwrap().index))
        .collect();
    assert_eq!(
        found,
        vec![
            ("app/a/new/Cargo.lock".to_string(), 1),
            ("keep/Cargo.lock".to_string(), 0)
        ]
    );
}

#[test]
fn archive_members_outside_the_archive_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tar");
    docker_archive(&p, &[layer(&[])], Some(vec!["../../../etc/passwd".into()]));
    let err = Image::open_local(&p, &Platform::default())
        .and_then(|i| i.inventory(&Limits::default(), &mut |_, _| {}));
    assert!(err.is_err());
    // OCI layout whose index points at a digest with a path in it.
    let oci = dir.path().join("oci");
    std::fs::create_dir_all(&oci).unwrap();
    std::fs::write(oci.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(oci.join("index.json"), br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}"#).unwrap();
    let err = Image::open_local(&oci, &Platform::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad digest"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn corrupt_multi_frame_zstd_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
        let l = layer(&[E::File(b"etc/os-release", OS_DEBIAN), E::File(b"app/Cargo.lock", LOCK)]);
        let (a, b) = l.split_at(1024);
        let mut z = skippable(0x7, b"meta");
        for part in [a, b] {
            z.extend(ruzstd::encoding::compress_to_vec(part, ruzstd::encoding::CompressionLevel::Fastest));
            z.extend(skippable(0x1, &[1, 2, 3]));
        }
        let n = z.len();
        for (i, v) in flips {
            z[i.index(n)] = v;
        }
        let _ = scan_layers(&[z], &Limits::default());
    }

    #[test]
    fn random_corruption_of_a_whole_archive_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20), gz in any::<bool>()) {
        let l = layer(&[E::File(b"etc/os-release", OS_DEBIAN), E::File(b"var/lib/dpkg/status", b"Package: a\nVersion: 1\n\n"), E::File(b"app/package-lock.json", br#"{"lockfileVersion":3,"packages":{"node_modules/x":{"version":"1.0.0"}}}"#)]);
        let l = if gz { gzip(&l) } else { l };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img.tar");
        docker_archive(&p, &[l], None);
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        for (i, v) in flips {
            bytes[i.index(n)] = v;
        }
        std::fs::write(&p, &bytes).unwrap();
        let limits = Limits { max_layer_bytes: 4 << 20, ..Limits::default() };
        if let Ok(img) = Image::open_local(&p, &Platform::default()) {
            let _ = img.inventory(&limits, &mut |_, _| {});
        }
    }

    #[test]
    fn analyzers_never_panic_on_garbage(data in proptest::collection::vec(any::<u8>(), 0..4096), which in 0usize..11) {
        use palisade_scanner::inventory::{analyze, FileKind::*};
        let kinds = [OsRelease, Dpkg, Apk, Rpm, CargoLock, NpmLock, PythonMetadata, PoetryLock, Requirements, GoMod, GoBinary];
        let mut d = data.clone();
        if which == 10 { d.splice(0..0, b"\x7fELF".iter().copied()); }
        let _ = analyze(kinds[which], "x", &d);
    }
}

#[test]
fn secrets_in_layers_are_found_even_when_a_later_layer_deletes_them() {
    let token = b"GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sAb\n";
    let mut binary = b"\x7fELF\x00\x00".to_vec();
    binary.extend_from_slice(token);
    let l0 = layer(&[
        E::File(b"etc/os-release", OS_DEBIAN),
        E::File(b"app/.env", token),
        E::File(b"app/bin/server", &binary),
        E::File(b"usr/share/doc/x/README", token),
    ]);
    let l1 = gzip(&layer(&[
        E::File(b"app/.wh..env", b""),
        E::File(
            b"root/.ssh/id_ed25519",
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
        ),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tar");
    docker_archive(&p, &[l0, l1], None);
    let scanner = std::sync::Arc::new(palisade_scanner::secrets::SecretScanner::builtin());
    let (inv, found) = Image::open_local(&p, &Platform::default())
        .unwrap()
        .inventory_and_secrets(&Limits::default(), Some(scanner), &mut |_, _| {})
        .unwrap();
    let got: Vec<(&str, &str, u32, &str)> = found
        .iter()
        .map(|f| (f.id.as_str(), f.file.as_str(), f.line, f.object.as_str()))
        .collect();
    // The deleted .env is still in layer 0; documentation is allowlisted; the binary is skipped and counted.
    assert_eq!(
        got,
        [
            ("PAL-SEC-004", "app/.env", 1, "layer 0"),
            ("PAL-SEC-001", "root/.ssh/id_ed25519", 1, "layer 1"),
        ]
    );
    assert!(found.iter().all(|f| !f
        .message
        .contains("ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sAb")));
    assert!(
        inv.warnings
            .iter()
            .any(|w| w == "1 binary file(s) not searched for secrets"),
        "{:?}",
        inv.warnings
    );
}
