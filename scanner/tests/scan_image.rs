//! The real Debian image (debootstrap minbase bookworm + a second layer with a whiteout and language packages),
//! as a `docker save` archive, an OCI layout, an OCI archive and a root filesystem: exact findings against a test
//! database built from Trivy's fixtures plus advisories for packages that really are in the image. The expected
//! OS findings are derived from `dpkg-query` on the same root filesystem.

mod support;

use palisade_scanner::report::Format;
use palisade_scanner::scan::{scan, ScanOptions, Target};
use palisade_scanner::{PackageKind, VulnDb};
use support::*;

fn lang_rows() -> Vec<Row> {
    let r =
        |id: &str, pkg: &str, ver: &str, fixed: &str, sev: &str, src: &str, path: &str| -> Row {
            (
                id.into(),
                pkg.into(),
                ver.into(),
                fixed.into(),
                "fixed".into(),
                sev.into(),
                src.into(),
                Some(1),
                path.into(),
            )
        };
    let mut v = vec![
        r(
            "CVE-2021-38193",
            "ammonia",
            "2.1.2",
            ">= 3.1.0, >= 2.1.3, < 3.0.0",
            "MEDIUM",
            "nvd",
            "app/Cargo.lock",
        ),
        r(
            "CVE-2019-11358",
            "jquery",
            "3.3.1",
            "3.4.0",
            "MEDIUM",
            "ghsa",
            "app/web/package-lock.json",
        ),
        r(
            "GMS-2022-20",
            "github.com/docker/distribution",
            "v2.7.0+incompatible",
            "v2.8.0",
            "UNKNOWN",
            "",
            "app/svc/go.mod",
        ),
        r(
            "CVE-2019-14806",
            "Werkzeug",
            "0.15.0",
            "0.15.3",
            "HIGH",
            "ghsa",
            "usr/local/lib/python3.11/site-packages/Werkzeug-0.15.0.dist-info/METADATA",
        ),
        r(
            "CVE-2022-40897",
            "setuptools",
            "65.0.0",
            "65.5.1",
            "HIGH",
            "ghsa",
            "app/requirements.txt",
        ),
    ];
    v.sort();
    v
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: VulnDb,
    pkgs: Vec<DebPkg>,
    env: std::collections::BTreeMap<String, String>,
}

fn fixture() -> Fixture {
    let env = test_image();
    let pkgs = dpkg_query(&env["PALISADE_TEST_ROOTFS"]);
    assert!(
        pkgs.len() > 80,
        "debootstrap minbase has ~90 packages, dpkg-query saw {}",
        pkgs.len()
    );
    let dir = tempfile::tempdir().unwrap();
    image_db(dir.path(), &pkgs);
    let db = VulnDb::open(dir.path()).unwrap();
    Fixture {
        _dir: dir,
        db,
        pkgs,
        env,
    }
}

fn expected_image_rows(pkgs: &[DebPkg]) -> Vec<Row> {
    let mut all = expected_os_rows(pkgs, Some(0));
    all.extend(lang_rows());
    all.sort();
    all
}

#[test]
fn docker_archive_exact_findings_with_layers_and_whiteout() {
    let f = fixture();
    let mut seen = vec![];
    let report = scan(
        &f.db,
        &Target::Image(f.env["PALISADE_TEST_DOCKER_ARCHIVE"].clone()),
        &ScanOptions::default(),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap();
    assert_eq!(seen, vec![(1, 2), (2, 2)], "progress per layer");
    let os = report.inventory.os.clone().unwrap();
    assert_eq!((os.family.as_str(), os.version.as_str()), ("debian", "12"));
    // Inventory equals dpkg's view, with source packages.
    let debs: Vec<_> = report
        .inventory
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::Deb)
        .collect();
    assert_eq!(debs.len(), f.pkgs.len());
    for p in &f.pkgs {
        let ours = debs
            .iter()
            .find(|d| d.name == p.name)
            .unwrap_or_else(|| panic!("{} missing", p.name));
        assert_eq!(
            (
                ours.version.as_str(),
                ours.src_name.as_str(),
                ours.src_version.as_str()
            ),
            (p.version.as_str(), p.src.as_str(), p.src_version.as_str()),
            "{}",
            p.name
        );
        assert_eq!(ours.layer.as_ref().unwrap().index, 0);
    }
    // The lockfile deleted by layer 2's whiteout is gone; lodash (a dev dependency) is not reported.
    assert!(
        !report
            .inventory
            .packages
            .iter()
            .any(|p| p.path.starts_with("opt/legacy")),
        "whiteout ignored"
    );
    assert!(!report.inventory.packages.iter().any(|p| p.name == "lodash"));
    assert_eq!(rows(&report.findings), expected_image_rows(&f.pkgs));
    // Layer diff ids come from the config.
    let l = report
        .findings
        .iter()
        .find(|x| x.pkg_name == "jquery")
        .unwrap()
        .layer
        .clone()
        .unwrap();
    assert_eq!(l.diff_id, report.layers[1].diff_id);
    assert!(l.diff_id.starts_with("sha256:"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn oci_layout_and_archive_agree_with_docker_archive() {
    let f = fixture();
    for key in ["PALISADE_TEST_OCI", "PALISADE_TEST_OCI_ARCHIVE"] {
        let report = scan(
            &f.db,
            &Target::Image(f.env[key].clone()),
            &ScanOptions::default(),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(
            rows(&report.findings),
            expected_image_rows(&f.pkgs),
            "{key}"
        );
        // OCI layouts know the compressed blob digests.
        assert!(
            report
                .layers
                .iter()
                .all(|l| l.digest.starts_with("sha256:") && l.diff_id.starts_with("sha256:")),
            "{key}"
        );
        assert!(report.image_id.starts_with("sha256:"));
    }
}

#[test]
fn rootfs_scan_sees_the_first_layer_only() {
    let f = fixture();
    let report = scan(
        &f.db,
        &Target::Rootfs(f.env["PALISADE_TEST_ROOTFS"].clone().into()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let mut want = expected_os_rows(&f.pkgs, None);
    // /opt/legacy/Cargo.lock is still there in layer 1's root filesystem: ammonia 1.0.0 has both advisories.
    for (id, fixed) in [
        ("CVE-2019-15542", ">= 2.1.0"),
        ("CVE-2021-38193", ">= 3.1.0, >= 2.1.3, < 3.0.0"),
    ] {
        let sev = if id == "CVE-2019-15542" {
            "HIGH"
        } else {
            "MEDIUM"
        };
        want.push((
            id.into(),
            "ammonia".into(),
            "1.0.0".into(),
            fixed.into(),
            "fixed".into(),
            sev.into(),
            "nvd".into(),
            None,
            "opt/legacy/Cargo.lock".into(),
        ));
    }
    want.sort();
    assert_eq!(rows(&report.findings), want);
}

#[test]
fn reports_render_in_every_format() {
    let f = fixture();
    let report = scan(
        &f.db,
        &Target::Image(f.env["PALISADE_TEST_DOCKER_ARCHIVE"].clone()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    // JSON: Trivy's shape, read back to the same findings.
    let json = report.render(Format::Json);
    let back = palisade_scanner::report::read_json_report(json.as_bytes()).unwrap();
    assert_eq!(back.results[0].class, "os-pkgs");
    assert_eq!(
        back.results[0].target,
        format!("{} (debian 12)", f.env["PALISADE_TEST_DOCKER_ARCHIVE"])
    );
    let again = palisade_scanner::report::Report::from_json(back);
    assert_eq!(rows(&again.findings), rows(&report.findings));
    // SARIF 2.1.0 with security-severity on rules.
    let sarif: serde_json::Value = serde_json::from_str(&report.render(Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let glibc = rules.iter().find(|r| r["id"] == "CVE-2099-1001").unwrap();
    assert_eq!(glibc["properties"]["security-severity"], "9.8");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        report.findings.len()
    );
    // CycloneDX with vulnerabilities, and the SBOM alone.
    let cdx: serde_json::Value = serde_json::from_str(&report.render(Format::CycloneDx)).unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert_eq!(
        cdx["vulnerabilities"].as_array().unwrap().len(),
        report.findings.len()
    );
    let sbom: serde_json::Value = serde_json::from_str(&report.sbom()).unwrap();
    assert!(sbom.get("vulnerabilities").is_none());
    assert!(sbom["components"].as_array().unwrap().iter().any(|c| {
        c["purl"].as_str().is_some_and(|p| {
            p.starts_with("pkg:deb/debian/libc6@") && p.contains("distro=debian-12")
        })
    }));
    // Table.
    let table = report.render(Format::Table);
    assert!(
        table.contains("CVE-2099-1001") && table.contains("Total:"),
        "{table}"
    );
}

#[test]
fn our_sbom_and_syfts_sbom_give_the_same_os_findings() {
    let f = fixture();
    let report = scan(
        &f.db,
        &Target::Image(f.env["PALISADE_TEST_DOCKER_ARCHIVE"].clone()),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.cdx.json");
    std::fs::write(&ours, report.sbom()).unwrap();
    let from_sbom = scan(
        &f.db,
        &Target::Sbom(ours),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let strip = |rs: Vec<Row>| -> Vec<Row> {
        rs.into_iter()
            .map(|mut r| {
                r.7 = None;
                r
            })
            .collect()
    };
    assert_eq!(
        strip(rows(&from_sbom.findings)),
        strip(rows(&report.findings))
    );

    // syft (the real tool) on the same archive.
    let syft = run_script("scripts/testdata/syft.sh", &[])["SYFT"].clone();
    let theirs = dir.path().join("syft.cdx.json");
    let st = std::process::Command::new(&syft)
        .args([
            "scan",
            &format!("docker-archive:{}", f.env["PALISADE_TEST_DOCKER_ARCHIVE"]),
            "-q",
            "-o",
            &format!("cyclonedx-json={}", theirs.display()),
        ])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .status()
        .unwrap();
    assert!(st.success());
    let from_syft = scan(
        &f.db,
        &Target::Sbom(theirs),
        &ScanOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let os_only =
        |rs: Vec<Row>| -> Vec<Row> { strip(rs).into_iter().filter(|r| r.8.is_empty()).collect() };
    assert_eq!(
        os_only(rows(&from_syft.findings)),
        expected_os_rows(&f.pkgs, None)
    );
    // syft catalogs the Python distribution in the image too.
    assert!(from_syft
        .findings
        .iter()
        .any(|x| x.id == "CVE-2019-14806" && x.pkg_name.eq_ignore_ascii_case("werkzeug")));
}
