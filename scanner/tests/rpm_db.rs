//! A real `rpmdb.sqlite`, written by rpm itself (`rpm --initdb` with the sqlite backend, packages built by
//! `rpmbuild` and registered with `rpm -i --justdb`): the inventory must equal `rpm -qa` on the same database,
//! and scans of RPM-based root filesystems (Rocky, Alma, RHEL) must give Trivy's findings for them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_scanner::inventory::{analyze, Analysis, FileKind};
use palisade_scanner::scan::{scan, ScanOptions, Target};
use palisade_scanner::{Package, PackageKind, VulnDb};
use serde_json::json;
use support::DbSpec;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (rpm and rpmbuild come from the Debian package rpm)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One spec file: the main package's preamble `head`, then `body` (subpackages, `%install`, `%files`).
fn spec(head: &str, body: &str) -> String {
    format!(
        "%define debug_package %{{nil}}\n%define _build_id_links none\n{head}\nSummary: test package\nLicense: MIT\n\
         %description\ntest\n{body}"
    )
}

fn specs() -> Vec<(&'static str, String)> {
    // A header of several pages: 600 files make the header blob span a chain of overflow pages.
    let mut big_install = String::from("%install\nmkdir -p %{buildroot}/usr/share/big\n");
    big_install.push_str(
        "for i in $(seq 1 600); do echo $i > %{buildroot}/usr/share/big/file-with-a-long-name-$i; done\n",
    );
    let mut fillers = String::new();
    for i in 0..60 {
        fillers.push_str(&format!(
            "%package -n filler-{i}\nSummary: filler\nBuildArch: noarch\n%description -n filler-{i}\nfiller\n%files -n filler-{i}\n"
        ));
    }
    vec![
        (
            "openssl",
            spec(
                "Name: openssl\nEpoch: 1\nVersion: 3.0.7\nRelease: 24.el9\nBuildArch: x86_64",
                "%package libs\nSummary: libs\n%description libs\nlibs\n%files libs\n",
            ),
        ),
        (
            "curl",
            spec(
                "Name: curl\nVersion: 7.76.1\nRelease: 26.el9\nBuildArch: x86_64",
                "%files\n",
            ),
        ),
        (
            "nodejs",
            spec(
                "Name: nodejs\nEpoch: 1\nVersion: 16.20.2\nRelease: 1.module+el9.2.0+16283+d3f8e8b4\nBuildArch: x86_64\nModularityLabel: nodejs:16:9020020230718145314:rhel9",
                "%files\n",
            ),
        ),
        (
            "palisade-big",
            spec(
                "Name: palisade-big\nEpoch: 2\nVersion: 1.2.3~rc1\nRelease: 4.el9\nBuildArch: noarch",
                &format!("{big_install}%files\n/usr/share/big\n"),
            ),
        ),
        (
            "fillers",
            spec(
                "Name: fillers\nVersion: 1.0\nRelease: 1\nBuildArch: noarch",
                &fillers,
            ),
        ),
    ]
}

/// Builds the packages and an rpm database holding them; returns the database directory.
fn build_rpmdb(dir: &Path) -> PathBuf {
    let top = dir.join("rpmbuild");
    for d in ["SPECS", "BUILD", "RPMS", "SRPMS", "SOURCES", "BUILDROOT"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    for (name, text) in specs() {
        let f = top.join("SPECS").join(format!("{name}.spec"));
        std::fs::write(&f, text).unwrap();
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--quiet", "-bb"])
            .arg(&f));
    }
    let mut rpms = Vec::new();
    for arch in std::fs::read_dir(top.join("RPMS")).unwrap() {
        for f in std::fs::read_dir(arch.unwrap().path()).unwrap() {
            rpms.push(f.unwrap().path());
        }
    }
    assert!(rpms.len() > 60, "rpmbuild made {} packages", rpms.len());
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    run(Command::new("rpm").arg("--dbpath").arg(&db).args([
        "--define",
        "_db_backend sqlite",
        "--initdb",
    ]));
    run(Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .args([
            "--define",
            "_db_backend sqlite",
            "-i",
            "--justdb",
            "--nodeps",
            "--ignorearch",
            "--ignoreos",
        ])
        .args(&rpms));
    assert!(db.join("rpmdb.sqlite").is_file());
    db
}

fn our_packages(db: &Path) -> Vec<Package> {
    let bytes = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    match analyze(FileKind::Rpm, "var/lib/rpm/rpmdb.sqlite", &bytes).unwrap() {
        Some(Analysis::Packages(p)) => p,
        other => panic!("not packages: {other:?}"),
    }
}

#[test]
fn inventory_equals_rpm_qa() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_rpmdb(dir.path());
    let qa = run(Command::new("rpm").arg("--dbpath").arg(&db).args([
        "-qa",
        "--qf",
        "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%|MODULARITYLABEL?{%{MODULARITYLABEL}}:{}|\n",
    ]));
    let mut theirs: Vec<String> = qa.lines().map(str::to_string).collect();
    theirs.sort();
    let pkgs = our_packages(&db);
    let mut ours: Vec<String> = pkgs
        .iter()
        .map(|p| {
            assert_eq!(p.kind, PackageKind::Rpm);
            let src_release = p.src_version.rsplit_once('-').unwrap().1;
            let src_version = p.src_version.rsplit_once('-').unwrap().0;
            let src_version = src_version.split_once(':').map_or(src_version, |x| x.1);
            format!(
                "{}\t{}\t{}\t{}-{src_version}-{src_release}.src.rpm\t{}",
                p.name, p.version, p.arch, p.src_name, p.modularity_label
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours.len(), 64);
    assert_eq!(ours, theirs);
    let ssl = pkgs.iter().find(|p| p.name == "openssl-libs").unwrap();
    assert_eq!(
        (
            ssl.version.as_str(),
            ssl.src_name.as_str(),
            ssl.src_version.as_str()
        ),
        ("1:3.0.7-24.el9", "openssl", "1:3.0.7-24.el9")
    );
}

#[test]
fn corrupt_databases_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_rpmdb(dir.path());
    let good = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let path = "var/lib/rpm/rpmdb.sqlite";
    // Truncated at page boundaries and mid-page: an error naming the file, or fewer packages - never a panic.
    for cut in [100, 4096, 4096 * 3 + 17, good.len() / 2, good.len() - 4096] {
        let _ = analyze(FileKind::Rpm, path, &good[..cut]);
    }
    assert!(analyze(FileKind::Rpm, path, &good[..50])
        .unwrap_err()
        .contains(path));
    // Byte flips all over the file (deterministic): never a panic.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..400 {
        let mut bad = good.clone();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % bad.len() as u64) as usize;
            bad[i] = (x >> 32) as u8;
        }
        let _ = analyze(FileKind::Rpm, path, &bad);
    }
}

type Row = (String, String, String, String, String, String);

fn rows(report: &palisade_scanner::report::Report) -> Vec<Row> {
    let mut v: Vec<Row> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.pkg_name.clone(),
                f.installed_version.clone(),
                f.fixed_version.clone(),
                f.status.0.to_string(),
                f.severity.0.to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn row(id: &str, pkg: &str, installed: &str, fixed: &str, status: &str, sev: &str) -> Row {
    (
        id.into(),
        pkg.into(),
        installed.into(),
        fixed.into(),
        status.into(),
        sev.into(),
    )
}

/// A root filesystem with `os-release` and the rpm database at rpm 4.16's path.
fn rootfs(dir: &Path, db: &Path, id: &str, version: &str) -> PathBuf {
    let root = dir.join(format!("rootfs-{id}"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/sysimage/rpm")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        format!("NAME=\"{id}\"\nID=\"{id}\"\nVERSION_ID=\"{version}\"\n"),
    )
    .unwrap();
    std::fs::copy(
        db.join("rpmdb.sqlite"),
        root.join("usr/lib/sysimage/rpm/rpmdb.sqlite"),
    )
    .unwrap();
    root
}

fn vuln_db(dir: &Path, spec: &DbSpec) -> VulnDb {
    let path = dir.join("trivy.db");
    spec.write(&path);
    VulnDb::open(&path).unwrap()
}

#[test]
fn rpm_distributions_match_as_trivy_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_rpmdb(dir.path());
    let mut spec = DbSpec::from_fixtures();
    for (bucket, id) in [
        ("rocky 9", "rocky"),
        ("alma 9", "alma"),
        ("Red Hat", "redhat"),
    ] {
        spec.put(&["data-source"], bucket, json!({"ID": id, "Name": bucket}));
    }
    for (cve, sev) in [
        ("CVE-2099-0001", 3),
        ("CVE-2099-0002", 2),
        ("CVE-2099-0003", 4),
        ("CVE-2099-0004", 1),
    ] {
        spec.put(
            &["vulnerability"],
            cve,
            json!({"Title": cve, "VendorSeverity": {"nvd": sev}}),
        );
    }
    // Rocky 9 and Alma 9: binary names, epochs, tilde, modular handling.
    for bucket in ["rocky 9", "alma 9"] {
        spec.put(
            &[bucket, "openssl-libs"],
            "CVE-2099-0001",
            json!({"FixedVersion": "1:3.0.7-25.el9"}),
        );
        spec.put(
            &[bucket, "curl"],
            "CVE-2099-0002",
            json!({"FixedVersion": "7.76.1-23.el9"}),
        );
        spec.put(
            &[bucket, "palisade-big"],
            "CVE-2099-0003",
            json!({"FixedVersion": "2:1.2.3-1.el9"}),
        );
        // No fixed version: these distributions do not report it.
        spec.put(
            &[bucket, "curl"],
            "CVE-2099-0004",
            json!({"FixedVersion": ""}),
        );
        spec.put(
            &[bucket, "nodejs"],
            "CVE-2099-0002",
            json!({"FixedVersion": "1:99-1.el9"}),
        );
        spec.put(
            &[bucket, "nodejs:16::nodejs"],
            "CVE-2099-0004",
            json!({"FixedVersion": "1:16.20.3-1.module+el9.3.0+1+aaaaaaaa"}),
        );
    }
    let vdb = vuln_db(dir.path(), &spec);
    let opts = ScanOptions::default();

    let rocky = scan(
        &vdb,
        &Target::Rootfs(rootfs(dir.path(), &db, "rocky", "9.3")),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(rocky.inventory.os.as_ref().unwrap().family, "rocky");
    // Rocky skips modular packages (its errata do not cover them).
    let mut want = vec![
        row(
            "CVE-2099-0001",
            "openssl-libs",
            "1:3.0.7-24.el9",
            "1:3.0.7-25.el9",
            "fixed",
            "HIGH",
        ),
        row(
            "CVE-2099-0003",
            "palisade-big",
            "2:1.2.3~rc1-4.el9",
            "2:1.2.3-1.el9",
            "fixed",
            "CRITICAL",
        ),
    ];
    want.sort();
    assert_eq!(rows(&rocky), want);
    assert!(rocky.warnings.is_empty(), "{:?}", rocky.warnings);

    // Alma looks modular packages up as `module:stream::name`.
    let alma = scan(
        &vdb,
        &Target::Rootfs(rootfs(dir.path(), &db, "almalinux", "9.3")),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    let mut want_alma = want.clone();
    want_alma.push(row(
        "CVE-2099-0004",
        "nodejs",
        "1:16.20.2-1.module+el9.2.0+16283+d3f8e8b4",
        "1:16.20.3-1.module+el9.3.0+1+aaaaaaaa",
        "fixed",
        "LOW",
    ));
    want_alma.sort();
    assert_eq!(rows(&alma), want_alma);

    // Red Hat: entries apply only to the CPEs of RHEL 9's default content sets, per architecture; an RHSA is
    // reported under each CVE it names with Red Hat's severity; unfixed entries are reported with their status.
    let mut spec = DbSpec::from_fixtures();
    spec.put(
        &["data-source"],
        "Red Hat",
        json!({"ID": "redhat", "Name": "Red Hat OVAL v2"}),
    );
    spec.put(
        &["Red Hat CPE", "repository"],
        "rhel-9-for-x86_64-baseos-rpms",
        json!([9001]),
    );
    spec.put(
        &["Red Hat CPE", "repository"],
        "rhel-8-for-x86_64-baseos-rpms",
        json!([8001]),
    );
    spec.put(
        &["Red Hat", "openssl-libs"],
        "RHSA-2099:0001",
        json!({"Entries": [
            {"Affected": [9001], "Arches": ["x86_64", "aarch64"], "FixedVersion": "1:3.0.7-25.el9",
             "Cves": [{"ID": "CVE-2099-0001", "Severity": 3}, {"ID": "CVE-2099-0002", "Severity": 2}]},
            {"Affected": [8001], "FixedVersion": "1:9.9.9-1.el8", "Cves": [{"ID": "CVE-2099-0003", "Severity": 4}]},
            {"Affected": [9001], "Arches": ["s390x"], "FixedVersion": "1:9.9.9-1.el9", "Cves": [{"ID": "CVE-2099-0004", "Severity": 4}]}
        ]}),
    );
    spec.put(
        &["Red Hat", "curl"],
        "CVE-2099-0004",
        json!({"Entries": [{"Affected": [9001], "Status": 5, "Cves": [{"Severity": 1}]}]}),
    );
    spec.put(
        &["Red Hat", "nodejs:16::nodejs"],
        "RHSA-2099:0002",
        json!({"Entries": [{"Affected": [9001], "FixedVersion": "1:16.20.3-1.module+el9.3.0+1+aaaaaaaa",
                             "Cves": [{"ID": "CVE-2099-0003", "Severity": 3}]}]}),
    );
    for (cve, sev) in [
        ("CVE-2099-0001", 1),
        ("CVE-2099-0002", 1),
        ("CVE-2099-0003", 1),
        ("CVE-2099-0004", 4),
    ] {
        spec.put(
            &["vulnerability"],
            cve,
            json!({"VendorSeverity": {"nvd": sev}}),
        );
    }
    let rh_dir = dir.path().join("rh");
    std::fs::create_dir_all(&rh_dir).unwrap();
    let vdb = vuln_db(&rh_dir, &spec);
    let rhel = scan(
        &vdb,
        &Target::Rootfs(rootfs(dir.path(), &db, "rhel", "9.4")),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    let mut want = vec![
        row(
            "CVE-2099-0001",
            "openssl-libs",
            "1:3.0.7-24.el9",
            "1:3.0.7-25.el9",
            "fixed",
            "HIGH",
        ),
        row(
            "CVE-2099-0002",
            "openssl-libs",
            "1:3.0.7-24.el9",
            "1:3.0.7-25.el9",
            "fixed",
            "MEDIUM",
        ),
        row(
            "CVE-2099-0004",
            "curl",
            "7.76.1-26.el9",
            "",
            "will_not_fix",
            "LOW",
        ),
        row(
            "CVE-2099-0003",
            "nodejs",
            "1:16.20.2-1.module+el9.2.0+16283+d3f8e8b4",
            "1:16.20.3-1.module+el9.3.0+1+aaaaaaaa",
            "fixed",
            "HIGH",
        ),
    ];
    want.sort();
    assert_eq!(rows(&rhel), want);
    let f = rhel
        .findings
        .iter()
        .find(|f| f.id == "CVE-2099-0001")
        .unwrap();
    assert_eq!(f.vendor_ids, vec!["RHSA-2099:0001".to_string()]);
    assert_eq!(f.severity_source, "redhat");
}

#[test]
fn other_rpm_distributions_follow_their_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_rpmdb(dir.path());
    let mut spec = DbSpec::from_fixtures();
    spec.put(
        &["vulnerability"],
        "CVE-2099-0001",
        json!({"VendorSeverity": {"nvd": 3}}),
    );
    spec.put(
        &["vulnerability"],
        "CVE-2099-0002",
        json!({"VendorSeverity": {"nvd": 2}}),
    );
    // CBL-Mariner / Azure Linux: keyed by SOURCE package, unfixed advisories reported.
    for b in ["CBL-Mariner 2.0", "Azure Linux 3.0"] {
        spec.put(
            &[b, "openssl"],
            "CVE-2099-0001",
            json!({"FixedVersion": ""}),
        );
        spec.put(
            &[b, "openssl-libs"],
            "CVE-2099-0002",
            json!({"FixedVersion": "9:9-9"}),
        );
    }
    // Amazon Linux 2023, SUSE, openSUSE, Photon: binary names, fixed advisories only.
    for b in [
        "amazon linux 2023",
        "SUSE Linux Enterprise 15.5",
        "openSUSE Leap 15.5",
        "Photon OS 5.0",
    ] {
        spec.put(
            &[b, "curl"],
            "CVE-2099-0001",
            json!({"FixedVersion": "7.76.1-27.el9"}),
        );
        spec.put(&[b, "curl"], "CVE-2099-0002", json!({"FixedVersion": ""}));
    }
    // Oracle: a ksplice-flavoured fix does not apply to a plain package; entries filter by architecture.
    spec.put(
        &["Oracle Linux 9", "openssl-libs"],
        "CVE-2099-0001",
        json!({"FixedVersion": "1:3.0.7-25.ksplice1.el9", "Entries": [{"FixedVersion": "1:3.0.7-25.ksplice1.el9"}]}),
    );
    spec.put(
        &["Oracle Linux 9", "curl"],
        "CVE-2099-0001",
        json!({"Entries": [{"FixedVersion": "7.76.1-27.el9", "Arches": ["aarch64"]}]}),
    );
    spec.put(
        &["Oracle Linux 9", "curl"],
        "CVE-2099-0002",
        json!({"Entries": [{"FixedVersion": "7.76.1-27.el9", "Arches": ["x86_64"]}]}),
    );
    let vdb = vuln_db(dir.path(), &spec);
    let opts = ScanOptions::default();
    let curl_fixed =
        |id: &str, sev: &str| row(id, "curl", "7.76.1-26.el9", "7.76.1-27.el9", "fixed", sev);
    for (id, version, want) in [
        (
            "mariner",
            "2.0.20240123",
            vec![row(
                "CVE-2099-0001",
                "openssl-libs",
                "1:3.0.7-24.el9",
                "",
                "affected",
                "HIGH",
            )],
        ),
        (
            "azurelinux",
            "3.0.20240727",
            vec![row(
                "CVE-2099-0001",
                "openssl-libs",
                "1:3.0.7-24.el9",
                "",
                "affected",
                "HIGH",
            )],
        ),
        (
            "amzn",
            "2023.4.20240416",
            vec![curl_fixed("CVE-2099-0001", "HIGH")],
        ),
        ("sles", "15.5", vec![curl_fixed("CVE-2099-0001", "HIGH")]),
        (
            "opensuse-leap",
            "15.5",
            vec![curl_fixed("CVE-2099-0001", "HIGH")],
        ),
        ("photon", "5.0", vec![curl_fixed("CVE-2099-0001", "HIGH")]),
        ("ol", "9.4", vec![curl_fixed("CVE-2099-0002", "MEDIUM")]),
    ] {
        let report = scan(
            &vdb,
            &Target::Rootfs(rootfs(dir.path(), &db, id, version)),
            &opts,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(rows(&report), want, "{id} {version}");
        assert!(report.warnings.is_empty(), "{id}: {:?}", report.warnings);
    }
}
