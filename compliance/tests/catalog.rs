//! Catalogues, registry, attestations and waivers as the user writes them:
//! the built-in files load and cover what the regulations list; every kind
//! of mistake is an error naming the file and line.

use palisade_compliance::{Attestations, Automation, Catalog, ComplianceError, Requirement};

fn load_err(files: &[(&str, &str)]) -> String {
    match Catalog::load(&[], files) {
        Err(ComplianceError::Load(d)) => d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("loaded"),
    }
}

#[test]
fn builtin_frameworks_cover_the_source_documents() {
    let c = Catalog::builtin().unwrap();
    let soc2 = c.framework("soc2").unwrap();
    let ids: Vec<&str> = soc2.controls.iter().map(|c| c.id.as_str()).collect();
    let mut expected = Vec::new();
    for (fam, n) in [
        ("CC1", 5),
        ("CC2", 3),
        ("CC3", 4),
        ("CC4", 2),
        ("CC5", 3),
        ("CC6", 8),
        ("CC7", 5),
        ("CC8", 1),
        ("CC9", 2),
        ("A1", 3),
        ("C1", 2),
        ("PI1", 5),
    ] {
        for i in 1..=n {
            expected.push(format!("{fam}.{i}"));
        }
    }
    for (p, n) in [
        ("P1", 1),
        ("P2", 1),
        ("P3", 2),
        ("P4", 3),
        ("P5", 2),
        ("P6", 7),
        ("P7", 1),
        ("P8", 1),
    ] {
        for i in 1..=n {
            expected.push(format!("{p}.{i}"));
        }
    }
    assert_eq!(ids, expected);

    let hipaa = c.framework("hipaa").unwrap();
    assert_eq!(hipaa.controls.len(), 59);
    let get = |id: &str| {
        hipaa
            .controls
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert_eq!(
        get("164.312(a)(2)(iv)").requirement,
        Some(Requirement::Addressable)
    );
    assert_eq!(
        get("164.312(a)(2)(i)").requirement,
        Some(Requirement::Required)
    );
    assert_eq!(
        get("164.308(a)(1)(ii)(A)").parent.as_deref(),
        Some("164.308(a)(1)(i)")
    );
    assert_eq!(get("164.316(b)(2)(iii)").title, "Updates");
    for fam in ["164.308", "164.310", "164.312", "164.316"] {
        assert!(hipaa.controls.iter().any(|c| c.family == fam));
    }
    // Every control is marked required or addressable.
    assert!(hipaa.controls.iter().all(|c| c.requirement.is_some()));

    let gdpr = c.framework("gdpr").unwrap();
    for art in [
        "Art.5(", "Art.24", "Art.25", "Art.28", "Art.30", "Art.32(", "Art.33", "Art.34", "Art.35",
    ] {
        assert!(gdpr.controls.iter().any(|c| c.id.starts_with(art)), "{art}");
    }
    // Every mapped check is registered; automated controls map at least one.
    for f in c.frameworks() {
        for ctl in &f.controls {
            for ch in &ctl.checks {
                assert!(c.check(ch).is_some(), "{} {}", ctl.id, ch);
            }
            if ctl.automation == Automation::Automated {
                assert!(!ctl.checks.is_empty());
            }
        }
    }
}

const BAD: &str = r#"[framework]
id = "acme"
title = "ACME controls"

[[family]]
id = "AC"
title = "Access"

[[control]]
id = "AC-1"
family = "AC"
title = "Access is default-deny"
automation = "automated"
checks = ["authz.default-deny", "authz.no-such-check"]
rationale = "Cedar"

[[control]]
id = "AC-1"
family = "XX"
title = "Duplicate"
parent = "AC-9"
automation = "manual"
rationale = "x"

[[control]]
id = "AC-2"
family = "AC"
title = "Automated without checks"
automation = "automated"
rationale = "x"
"#;

#[test]
fn framework_file_errors_name_file_and_line() {
    assert_eq!(
        load_err(&[("acme.toml", BAD)]),
        "acme.toml:14: control `AC-1`: unknown check id `authz.no-such-check`\n\
         acme.toml:18: duplicate control id `AC-1`\n\
         acme.toml:19: control `AC-1`: no family `XX` in this file\n\
         acme.toml:21: control `AC-1`: parent `AC-9` is not another control of this file\n\
         acme.toml:29: control `AC-2` is automated but maps no checks"
    );
    // Syntax errors too.
    let e = load_err(&[("broken.toml", "[framework]\nid = \"x\"\ntitle = \n")]);
    assert!(e.starts_with("broken.toml:3: "), "{e}");
    // Unknown keys are refused, not ignored.
    let e = load_err(&[(
        "typo.toml",
        "[framework]\nid = \"x\"\ntitle = \"t\"\n[[control]]\nid = \"a\"\nfamliy = \"f\"\n",
    )]);
    assert!(e.starts_with("typo.toml:") && e.contains("famliy"), "{e}");
}

#[test]
fn registry_overrides_are_checked() {
    let e = match Catalog::load(
        &[("checks.toml", "[[check]]\nid = \"ca.initialized\"\nsource = \"ca.issuers\"\ntitle = \"t\"\npasses_when = \"p\"\nfreshness_hours = 0\n\n[[check]]\nid = \"my.check\"\nsource = \"x\"\ntitle = \"t\"\npasses_when = \"p\"\nfreshness_hours = 1\n")],
        &[],
    ) {
        Err(ComplianceError::Load(d)) => d.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("checks.toml:6: freshness_hours must be at least 1"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("checks.toml:9: unknown check id `my.check`"),
        "{e:?}"
    );
    // A valid override changes the freshness window.
    let c = Catalog::load(
        &[("checks.toml", "[[check]]\nid = \"scan.recent\"\nsource = \"scans\"\ntitle = \"t\"\npasses_when = \"p\"\nfreshness_hours = 24\n")],
        &[],
    )
    .unwrap();
    assert_eq!(c.check("scan.recent").unwrap().freshness_hours, 24);
}

#[test]
fn a_custom_file_replaces_a_builtin_mapping() {
    let custom = "[framework]\nid = \"gdpr\"\ntitle = \"GDPR, our mapping\"\n[[family]]\nid = \"A\"\ntitle = \"All\"\n[[control]]\nid = \"Art.32\"\nfamily = \"A\"\ntitle = \"Security\"\nautomation = \"automated\"\nchecks = [\"transport.mtls\"]\nrationale = \"ours\"\n";
    let c = Catalog::load(&[], &[("ours.toml", custom)]).unwrap();
    let g = c.framework("gdpr").unwrap();
    assert_eq!(g.title, "GDPR, our mapping");
    assert_eq!(g.controls.len(), 1);
    assert_eq!(g.file, "ours.toml");
    assert_eq!(c.frameworks().len(), 3);
    // Two user files for one framework: an error.
    let e = load_err(&[("a.toml", custom), ("b.toml", custom)]);
    assert_eq!(e, "b.toml:1: framework `gdpr` is given by two files");
}

#[test]
fn waivers_must_expire_and_references_must_exist() {
    let c = Catalog::builtin().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("conduct.txt");
    std::fs::write(&doc, "everyone signed").unwrap();
    let good_hash = hex_sha256(b"everyone signed");
    let text = format!(
        r#"[[attestation]]
control = "soc2:CC1.1"
owner = "ciso@example.org"
date = 2026-06-01
statement = "Code of conduct signed"
renewal_days = 365
file = "conduct.txt"
sha256 = "{good_hash}"

[[attestation]]
control = "soc2:CC1.9"
owner = "x"
date = 2026-06-01
statement = "x"
renewal_days = 1

[[waiver]]
control = "hipaa:164.310(b)"
justification = "No workstations"
approver = "ciso"

[[attestation]]
control = "soc2:CC1.2"
owner = "x"
date = 2026-06-01
statement = "x"
renewal_days = 1
file = "conduct.txt"
sha256 = "00"
"#
    );
    let path = dir.path().join("attest.toml");
    let e = match Attestations::load(&c, &[(&path, &text)]) {
        Err(ComplianceError::Load(d)) => d,
        other => panic!("{other:?}"),
    };
    let name = path.display().to_string();
    let msgs: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(
        msgs[0],
        format!("{name}:11: no control `CC1.9` in framework `soc2`")
    );
    assert!(
        msgs[1].starts_with(&format!("{name}:28: ")) && msgs[1].contains("the document changed"),
        "{msgs:?}"
    );
    assert_eq!(
        msgs[2],
        format!(
            "{name}:17: waiver for `hipaa:164.310(b)` has no `expires`: every waiver must expire"
        )
    );
    // The valid part alone loads.
    let ok: String = text
        .split("\n[[attestation]]\ncontrol = \"soc2:CC1.9\"")
        .next()
        .unwrap()
        .to_owned();
    let a = Attestations::load(&c, &[(&path, &ok)]).unwrap();
    assert_eq!(a.attestations.len(), 1);
    assert_eq!(a.attestations[0].origin, format!("{name}:1"));
    assert_eq!(a.attestations[0].valid_until(), "2027-06-01");
}

fn hex_sha256(b: &[u8]) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    d.as_ref().iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
