//! Writes a vulnerability database of realistic size for `palisade bench scan` (the real Trivy database cannot
//! be downloaded here): the scanner's test database, plus, deterministically,
//! - for every package of the Debian test image, dozens of advisories in the bucket it is looked up in (fixed in
//!   older and newer versions, unfixed, every status), as the real `debian 12` bucket has for common packages;
//! - tens of thousands of other packages in the same buckets (`debian 12`, the language buckets);
//! - noise buckets the image never touches (other Debian, Ubuntu, Alpine, Amazon releases, Maven, RubyGems);
//! - a `vulnerability` bucket with full details (title, description, CVSS, references) for every id.
//!
//! Usage: `cargo run --release -p palisade-scanner --example bench_db -- OUT_DIR [SCALE]` (SCALE 1 is about
//! 550,000 advisories and 200,000 vulnerability records; the default).

#[path = "../tests/support/mod.rs"]
mod support;

use palisade_scanner::image::{Image, Platform};
use palisade_scanner::layers::Limits;
use palisade_scanner::PackageKind;
use serde_json::json;

/// Deterministic xorshift generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "buffer",
    "overflow",
    "in",
    "the",
    "parser",
    "allows",
    "remote",
    "attackers",
    "to",
    "cause",
    "a",
    "denial",
    "of",
    "service",
    "via",
    "crafted",
    "input",
    "heap",
    "use-after-free",
    "when",
    "handling",
    "certificate",
    "validation",
    "path",
    "traversal",
    "memory",
    "corruption",
    "integer",
    "signedness",
    "function",
    "request",
    "header",
    "length",
    "out-of-bounds",
    "read",
    "write",
    "local",
    "users",
];

fn sentence(g: &mut Gen, words: u64) -> String {
    (0..words)
        .map(|_| WORDS[g.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn cve(n: u64) -> String {
    format!("CVE-{}-{}", 2002 + n % 23, 1000 + n / 23)
}

/// An OS advisory: like the real data, mostly fixed long before the installed version; some fixed after it, some
/// unfixed with a status.
fn os_advisory(g: &mut Gen, installed: &str) -> serde_json::Value {
    match g.below(20) {
        0 => json!({"FixedVersion": format!("{installed}+deb12u{}", 1 + g.below(3))}),
        1 => json!({"Status": 2 + g.below(6), "Severity": g.below(5)}),
        2 => json!({"Status": 1}),
        3..=5 => {
            json!({"FixedVersion": format!("0.{}-{}", g.below(9), 1 + g.below(4)), "VendorIDs": [format!("DSA-{}-1", 4000 + g.below(2000))]})
        }
        _ => {
            json!({"FixedVersion": format!("0.{}.{}-1", g.below(40), g.below(9)), "Severity": g.below(5)})
        }
    }
}

fn lang_advisory(g: &mut Gen) -> serde_json::Value {
    let (a, b, c) = (g.below(5), g.below(20), g.below(10));
    match g.below(3) {
        0 => {
            json!({"VulnerableVersions": [format!("<{a}.{b}.{c}")], "PatchedVersions": [format!("{a}.{b}.{c}")]})
        }
        1 => {
            json!({"VulnerableVersions": [format!(">={a}.0.0, <{a}.{b}.{c}")], "PatchedVersions": [format!("{a}.{b}.{c}")]})
        }
        _ => json!({"VulnerableVersions": [format!("<={a}.{b}.{c}")]}),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().expect("usage: bench_db OUT_DIR [SCALE]"));
    let scale: u64 = args
        .next()
        .map_or(1, |s| s.parse().expect("SCALE is a number"));
    std::fs::create_dir_all(&out).unwrap();

    let env = support::test_image();
    let pkgs = support::dpkg_query(&env["PALISADE_TEST_ROOTFS"]);
    let mut spec = support::image_db_spec(&pkgs);
    let image = Image::open_local(
        std::path::Path::new(&env["PALISADE_TEST_DOCKER_ARCHIVE"]),
        &Platform::default(),
    )
    .unwrap();
    let inv = image.inventory(&Limits::default(), &mut |_, _| {}).unwrap();

    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let ids = 200_000 * scale;
    let mut advisories = 0u64;
    let lang_buckets = [
        (PackageKind::Npm, "npm::GitHub Security Advisory npm"),
        (PackageKind::Pip, "pip::GitHub Security Advisory pip"),
        (PackageKind::Cargo, "cargo::GitHub Security Advisory Rust"),
        (PackageKind::GoModule, "go::The Go Vulnerability Database"),
    ];
    // The buckets the image is looked up in: its own packages, many advisories each.
    for p in &inv.packages {
        let bucket = if p.kind.is_os() {
            Some("debian 12")
        } else {
            lang_buckets
                .iter()
                .find(|(k, _)| {
                    *k == p.kind || (*k == PackageKind::GoModule && p.kind == PackageKind::GoBinary)
                })
                .map(|(_, b)| *b)
        };
        let Some(bucket) = bucket else { continue };
        let name = if p.kind.is_os() { &p.src_name } else { &p.name };
        for _ in 0..40 {
            let v = if p.kind.is_os() {
                os_advisory(&mut g, &p.src_version)
            } else {
                lang_advisory(&mut g)
            };
            spec.put(&[bucket, name], &cve(g.below(ids)), v);
            advisories += 1;
        }
    }
    // Other packages in the same buckets, and buckets the image never touches.
    let mut fill = |bucket: &str, packages: u64, per: u64, os: bool, g: &mut Gen| {
        for i in 0..packages * scale {
            let name = format!("{}-{i}", sentence(g, 1));
            for _ in 0..per {
                let v = if os {
                    os_advisory(g, "1.0-1")
                } else {
                    lang_advisory(g)
                };
                spec.put(&[bucket, &name], &cve(g.below(ids)), v);
                advisories += 1;
            }
        }
    };
    fill("debian 12", 30_000, 5, true, &mut g);
    fill("debian 11", 25_000, 4, true, &mut g);
    fill("ubuntu 22.04", 25_000, 4, true, &mut g);
    fill("alpine 3.19", 10_000, 3, true, &mut g);
    fill("amazon linux 2", 8_000, 3, true, &mut g);
    for (_, b) in &lang_buckets {
        fill(b, 12_000, 2, false, &mut g);
    }
    fill(
        "maven::GitHub Security Advisory Maven",
        15_000,
        2,
        false,
        &mut g,
    );
    fill(
        "rubygems::GitHub Security Advisory RubyGems",
        8_000,
        2,
        false,
        &mut g,
    );
    const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
    for n in 0..ids {
        let score = (g.below(100) as f64) / 10.0;
        let severity = SEVERITIES[g.below(4) as usize];
        let words = 60 + g.below(40);
        spec.put(
            &["vulnerability"],
            &cve(n),
            json!({
                "Title": sentence(&mut g, 8),
                "Description": sentence(&mut g, words),
                "Severity": severity,
                "CweIDs": [format!("CWE-{}", 20 + g.below(900))],
                "VendorSeverity": {"nvd": 1 + g.below(4), "debian": 1 + g.below(4), "ubuntu": 1 + g.below(4), "redhat": 1 + g.below(4)},
                "CVSS": {
                    "nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": score},
                    "redhat": {"V3Vector": "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:L/A:N", "V3Score": score / 2.0},
                },
                "References": (0..5).map(|i| format!("https://security.example.org/{}/{i}", cve(n))).collect::<Vec<_>>(),
                "PublishedDate": format!("20{:02}-0{}-1{}T00:00:00Z", 2 + n % 23, 1 + g.below(9), g.below(10)),
                "LastModifiedDate": "2024-06-01T00:00:00Z",
            }),
        );
    }
    let path = support::write_db(&out, &spec);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "{}: {advisories} advisories, {ids} vulnerability records, {} MiB",
        path.display(),
        size >> 20
    );
}
