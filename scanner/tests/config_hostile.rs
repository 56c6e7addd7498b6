//! Hostile files in one configuration scan: a YAML alias bomb, a file over the size cap, invalid UTF-8, syntax
//! errors in YAML, HCL and a Dockerfile, a binary and an enormous text file. Each is reported for itself (with its
//! position where it has one) and the scan goes on to find what the good files hold.

use palisade_scanner::config::{scan_path, Catalogue, ConfigOptions};

#[test]
fn each_hostile_file_is_reported_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, prev) in ('b'..='j').zip('a'..='i') {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    w("a-bomb.yaml", bomb.as_bytes());
    w(
        "b-huge.yaml",
        format!("# {}\n", "x".repeat(70_000)).as_bytes(),
    );
    w(
        "c-utf8.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \xff\xfe\n",
    );
    w(
        "d-syntax.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
    );
    w(
        "e-broken.tf",
        b"resource \"aws_s3_bucket\" \"b\" {\n  bucket = \"x\"\n  acl = \n",
    );
    w(
        "f.Dockerfile",
        b"FROM debian:12\nRUN <<EOF\necho never closed\n",
    );
    let mut binary = b"\x7fELF\x02\x01\x01\x00".to_vec();
    binary.extend_from_slice(b"GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sAb\n");
    w("g-tool.bin", &binary);
    w(
        "h-big.log",
        "password=Tr0ub4dor&3xkcd\n".repeat(100_000).as_bytes(),
    );
    w(
        "z-good.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  containers:\n    - name: web\n      image: nginx:1.27\n      securityContext:\n        privileged: true\n",
    );
    w(
        "z-good.env",
        b"STRIPE_KEY=sk_live_51Hq8ZtLr4Kw9Vx2Nb5Hj7Pf3Yd\n",
    );
    let cat = Catalogue::new(&[], &[]).unwrap();
    let opts = ConfigOptions {
        max_file_bytes: 64 << 10,
        ..ConfigOptions::default()
    };
    let scan = scan_path(dir.path(), &cat, &opts).unwrap();
    let errors: Vec<(String, u32, String)> = scan
        .findings
        .iter()
        .filter(|f| f.id == "PAL-CFG-001")
        .map(|f| {
            (
                f.file.rsplit('/').next().unwrap().to_string(),
                f.line,
                f.message.split_once(": ").unwrap().1.to_string(),
            )
        })
        .collect();
    let files: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        files,
        [
            "a-bomb.yaml",
            "b-huge.yaml",
            "c-utf8.yaml",
            "d-syntax.yaml",
            "e-broken.tf",
            "f.Dockerfile"
        ],
        "{errors:#?}"
    );
    let at = |f: &str| errors.iter().find(|e| e.0 == f).unwrap();
    assert!(
        at("b-huge.yaml")
            .2
            .contains("larger than the per-file size cap (65536 bytes)"),
        "{errors:#?}"
    );
    assert_eq!(at("c-utf8.yaml").1, 4, "{errors:#?}");
    assert!(at("c-utf8.yaml").2.contains("invalid UTF-8"), "{errors:#?}");
    assert_eq!(at("d-syntax.yaml").1, 4, "{errors:#?}");
    assert_eq!(at("e-broken.tf").1, 3, "{errors:#?}");
    assert_eq!(at("f.Dockerfile").1, 2, "{errors:#?}");
    // The scan went on: the good files' findings are there.
    let good: Vec<&str> = scan
        .findings
        .iter()
        .filter(|f| f.file.ends_with("z-good.yaml") || f.file.ends_with("z-good.env"))
        .map(|f| f.id.as_str())
        .collect();
    assert!(good.contains(&"PAL-SEC-008"), "{good:?}");
    assert!(good.contains(&"PAL-K8S-005"), "{good:?}");
    // The binary and the enormous log were not searched for secrets, and the user is told so.
    assert!(!scan
        .findings
        .iter()
        .any(|f| f.file.ends_with("g-tool.bin") || f.file.ends_with("h-big.log")));
    assert!(
        scan.warnings.iter().any(|w| w.ends_with(
            "h-big.log: larger than the per-file size cap (65536 bytes), not searched for secrets"
        )),
        "{:?}",
        scan.warnings
    );
    assert!(
        scan.warnings
            .iter()
            .any(|w| w == "1 binary file(s) not searched for secrets"),
        "{:?}",
        scan.warnings
    );
}
