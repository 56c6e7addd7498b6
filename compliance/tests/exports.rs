//! Exports of a report built from a real store: reproducible bytes, CSV
//! formula guard, HTML escaping and self-containment, OSCAL references,
//! the signed bundle's tamper detection, and history diffs.

mod common;

use std::collections::BTreeSet;

use palisade_compliance::export::{render, Format, OSCAL_VERSION};
use palisade_compliance::{assess, bundle, history, Attestations, Catalog, Report, Status};
use serde_json::Value;
use time::macros::datetime;

async fn reports() -> (common::Env, Vec<Report>) {
    let env = common::populated().await;
    // A scan whose target name is hostile: it reaches every export.
    let dbdir = env.data().join("db");
    let src = env.data().join("app");
    common::record_scan(
        &dbdir,
        &src,
        &env.keys,
        "=HYPERLINK(\"http://x\")<script>alert(1)</script>",
        env.store.as_ref(),
    )
    .await;
    let now = time::OffsetDateTime::now_utc();
    let ev = env.collect(now).await;
    let catalog = Catalog::builtin().unwrap();
    let rs = catalog
        .frameworks()
        .iter()
        .map(|f| assess(&catalog, f, &ev, &Attestations::default(), now))
        .collect();
    (env, rs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_reproducible_and_safe() {
    let (env, rs) = reports().await;
    // Same evidence, fixed clock: byte-identical output, every format.
    let fixed = datetime!(2026-11-29 12:00 UTC);
    let ev = env.collect(fixed).await;
    let catalog = Catalog::builtin().unwrap();
    let soc2 = catalog.framework("soc2").unwrap();
    let a = assess(&catalog, soc2, &ev, &Attestations::default(), fixed);
    let ev2 = env.collect(fixed).await;
    let b = assess(&catalog, soc2, &ev2, &Attestations::default(), fixed);
    for f in Format::ALL {
        assert_eq!(render(&a, f).unwrap(), render(&b, f).unwrap(), "{f:?}");
    }
    // JSON round-trips.
    let json = render(&a, Format::Json).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);

    for r in &rs {
        let csv = render(r, Format::Csv).unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            "\"framework\",\"family\",\"control\",\"title\",\"requirement\",\"automation\",\"status\",\"reason\",\"check\",\"check_status\",\"check_detail\",\"evidence\",\"evidence_sha256\""
        );
        // One row per control × check (at least one per control).
        let rows = csv.matches("\r\n").count() - 1;
        let expected: usize = r.controls.iter().map(|c| c.checks.len().max(1)).sum();
        assert_eq!(rows, expected);
        // No cell starts with a formula character.
        for cell in csv.split("\",\"") {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell}");
        }
        let html = render(r, Format::Html).unwrap();
        assert!(!html.contains("<script"), "evidence markup must be escaped");
        assert!(
            html.contains("&lt;script&gt;") || !r.evidence.iter().any(|e| e.id.contains("script"))
        );
        assert!(
            !html.contains("src=\"http") && !html.contains("href=\"http"),
            "no external requests"
        );
        assert!(html.contains("<svg") && html.contains("id=\"summary\""));
        let md = render(r, Format::Markdown).unwrap();
        assert!(md.contains(&format!("| total | {} |", r.summary.total)));
    }
}

fn collect_uuids(v: &Value, defined: &mut BTreeSet<String>, refs: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("uuid", Value::String(s)) => {
                        assert!(defined.insert(s.clone()), "duplicate uuid {s}");
                    }
                    ("observation-uuid", Value::String(s)) => refs.push(s.clone()),
                    ("href", Value::String(s)) if s.starts_with('#') => {
                        refs.push(s[1..].to_owned())
                    }
                    _ => collect_uuids(x, defined, refs),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_uuids(x, defined, refs)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscal_has_no_dangling_references() {
    let (_env, rs) = reports().await;
    for r in &rs {
        let doc: Value = serde_json::from_str(&render(r, Format::Oscal).unwrap()).unwrap();
        let ar = &doc["assessment-results"];
        assert_eq!(ar["metadata"]["oscal-version"], OSCAL_VERSION);
        let (mut defined, mut refs) = (BTreeSet::new(), Vec::new());
        collect_uuids(&doc, &mut defined, &mut refs);
        for u in &defined {
            let p: Vec<&str> = u.split('-').collect();
            assert!(
                p.len() == 5 && p[2].starts_with('5'),
                "{u} is not a v5 UUID"
            );
        }
        assert!(!refs.is_empty());
        for x in &refs {
            assert!(defined.contains(x), "dangling reference {x}");
        }
        let findings = ar["results"][0]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), r.controls.len());
        for (f, c) in findings.iter().zip(&r.controls) {
            let state = &f["target"]["status"]["state"];
            assert_eq!(state == "satisfied", c.status == Status::Pass, "{}", c.id);
            let tid = f["target"]["target-id"].as_str().unwrap();
            assert!(
                tid.starts_with(|c: char| c.is_ascii_alphabetic())
                    && tid
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{tid}"
            );
        }
        // Each cited evidence piece travels in the back matter.
        let resources = ar["back-matter"]["resources"].as_array().unwrap();
        assert_eq!(resources.len(), r.evidence.len() + 1);
    }
}

/// NIST's published JSON schema of the OSCAL release written (provenance in
/// compliance/schemas/README.md).
const AR_SCHEMA: &str = include_str!("../schemas/oscal_assessment-results_schema.json");

/// Where `doc` breaks NIST's schema: one line per error, empty when valid.
fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(AR_SCHEMA).unwrap();
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("NIST's schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Runs compliance-trestle's validator on `doc`: (exit success, output).
fn trestle_validate(doc: &Value, dir: &std::path::Path) -> (bool, String) {
    let env = palisade_testkit::service("trestle");
    let file = dir.join("assessment-results.json");
    std::fs::write(&file, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new(format!("{}/trestle", env["TRESTLE_BIN"]))
        .args(["partial-object-validate", "-e", "assessment-results", "-f"])
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("trestle runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscal_validates_with_nists_schema_and_trestle() {
    let (env, rs) = reports().await;
    let schema: Value = serde_json::from_str(AR_SCHEMA).unwrap();
    assert_eq!(
        schema["$id"],
        format!("http://csrc.nist.gov/ns/oscal/{OSCAL_VERSION}/oscal-ar-schema.json"),
        "the vendored schema is the release written"
    );
    let mut first = None;
    for r in &rs {
        let doc: Value = serde_json::from_str(&render(r, Format::Oscal).unwrap()).unwrap();
        let errors = schema_errors(&doc);
        assert!(errors.is_empty(), "{}: {errors:#?}", r.framework.id);
        let (ok, out) = trestle_validate(&doc, env.data());
        assert!(ok, "{}: trestle rejects it:\n{out}", r.framework.id);
        first.get_or_insert(doc);
    }
    // Both validators do reject a broken document.
    let mut broken = first.unwrap();
    let ar = &mut broken["assessment-results"];
    ar["results"][0]["findings"][0]["target"]["status"]["state"] = "passed".into();
    ar["uuid"] = "not-a-uuid".into();
    let errors = schema_errors(&broken);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/assessment-results/uuid")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("/target/status/state")),
        "{errors:#?}"
    );
    let (ok, out) = trestle_validate(&broken, env.data());
    assert!(!ok, "trestle accepted a broken document:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_bundle_says_what_changed() {
    let (env, rs) = reports().await;
    let r = &rs[1];
    let b = bundle::sign(r, &env.keys).unwrap();
    let key = env.keys.public_key().to_vec();
    let text = serde_json::to_string(&b).unwrap();
    let back: bundle::Bundle = serde_json::from_str(&text).unwrap();
    assert!(bundle::verify(&back, &key).is_intact());

    let mut t = back.clone();
    let i = t
        .report
        .controls
        .iter()
        .position(|c| c.status == Status::Fail)
        .unwrap();
    t.report.controls[i].status = Status::Pass;
    let id = t.report.controls[i].id.clone();
    let v = bundle::verify(&t, &key);
    assert!(v.signature_valid);
    assert_eq!(v.changes, [format!("control `{id}` was changed")]);

    let mut t = back.clone();
    t.report.evidence[0].content["tampered"] = Value::Bool(true);
    let eid = t.report.evidence[0].id.clone();
    let v = bundle::verify(&t, &key);
    assert_eq!(
        v.changes,
        [
            format!("evidence `{eid}`: content does not match its sha256"),
            format!("evidence `{eid}` was changed")
        ]
    );

    let mut t = back.clone();
    t.report.checks.pop();
    assert_eq!(bundle::verify(&t, &key).changes.len(), 1);

    // Another key: the signature fails.
    let other = palisade_policy::decision_log::AuditKeys::load_or_create(
        tempfile::tempdir().unwrap().path(),
    )
    .unwrap();
    assert!(!bundle::verify(&back, other.public_key()).signature_valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_reports_in_the_store_and_diffs_statuses() {
    let (env, rs) = reports().await;
    let store = env.store.as_ref();
    let first = &rs[0];
    history::keep(store, first, &render(first, Format::Json).unwrap())
        .await
        .unwrap();
    assert!(
        history::last_two(store, "soc2").await.unwrap().is_none(),
        "one report: nothing to compare yet"
    );
    // Later, the CC6.8 failure is waived.
    let catalog = Catalog::builtin().unwrap();
    let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let ev = env.collect(now).await;
    let text = format!("[[waiver]]\ncontrol = \"soc2:CC6.8\"\njustification = \"j\"\napprover = \"a\"\nexpires = {}\n", (now + time::Duration::days(7)).date());
    let p = env.data().join("w.toml");
    let a = Attestations::load(&catalog, &[(&p, &text)]).unwrap();
    let second = assess(&catalog, catalog.framework("soc2").unwrap(), &ev, &a, now);
    history::keep(store, &second, &render(&second, Format::Json).unwrap())
        .await
        .unwrap();
    // Another framework's reports are another history.
    history::keep(store, &rs[1], &render(&rs[1], Format::Json).unwrap())
        .await
        .unwrap();
    let (old, new) = history::last_two(store, "soc2").await.unwrap().unwrap();
    assert_eq!(
        (&old.generated_at, &new.generated_at),
        (&first.generated_at, &second.generated_at)
    );
    assert_eq!(&old, first, "read back as kept");
    let d = history::diff(&old, &new);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].control, "CC6.8");
    assert_eq!(
        (d[0].before, d[0].after),
        (Some(Status::Fail), Some(Status::Waived))
    );

    // A kept report altered in the database is refused, not diffed.
    let url = format!("sqlite://{}", env.data().join("palisade.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE compliance_reports SET report = replace(report, '\"waived\"', '\"pass\"') \
         WHERE id = (SELECT MAX(id) FROM compliance_reports WHERE framework = 'soc2')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = history::last_two(store, "soc2").await.unwrap_err();
    assert!(
        err.to_string().contains("does not match its SHA-256"),
        "{err}"
    );
}

/// What headless Chromium made of a page: the DOM after rendering, the
/// URLs the page itself requested (Chromium's own background requests are
/// not the page's), and a screenshot.
struct Rendered {
    dom: String,
    page_requests: Vec<String>,
    screenshot: Vec<u8>,
}

/// Renders `page` in headless Chromium (Debian `chromium`, installed by
/// scripts/test.sh): once dumping the DOM with a network log, once taking a
/// screenshot.
fn chromium(page: &std::path::Path) -> Rendered {
    let dir = page.parent().unwrap();
    let netlog = dir.join("netlog.json");
    let png = dir.join("screenshot.png");
    let run = |extra: &[String]| {
        let out = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1600",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.join("chromium-profile").display()
            ))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("headless Chromium is needed (Debian package `chromium`; scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = run(&[
        format!("--log-net-log={}", netlog.display()),
        "--dump-dom".into(),
    ]);
    let log: Value = serde_json::from_slice(&std::fs::read(&netlog).unwrap()).unwrap();
    let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    // Requests of the page: their network isolation key is the page's
    // (file://); the browser's own have none.
    let page_requests = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| &e["type"] == start_job)
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| !u.starts_with("file:") && !u.starts_with("data:"))
        .map(str::to_owned)
        .collect();
    run(&[format!("--screenshot={}", png.display())]);
    Rendered {
        dom: String::from_utf8(out.stdout).unwrap(),
        page_requests,
        screenshot: std::fs::read(&png).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_in_chromium_without_external_requests() {
    let (env, rs) = reports().await;
    let r = rs
        .iter()
        .find(|r| r.evidence.iter().any(|e| e.id.contains("<script>")))
        .expect("a report citing the hostile scan");
    let dir = env.data().join("html");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, render(r, Format::Html).unwrap()).unwrap();
    let shown = chromium(&page);
    let dom = &shown.dom;

    // The summary: every status with its count, and the total.
    let summary = &dom[dom.find("<section id=\"summary\">").expect("summary shown")..];
    let summary = &summary[..summary.find("</section>").unwrap()];
    for s in Status::ALL {
        assert!(
            summary.contains(&format!("{}: <b>{}</b>", s.as_str(), r.summary.get(s))),
            "{s:?} missing from {summary}"
        );
    }
    assert!(summary.contains(&format!("{} controls.", r.summary.total)));
    // The charts: one bar for all controls and one per family, drawn with
    // a rectangle per status present.
    assert_eq!(dom.matches("<svg").count(), 1 + r.families.len());
    let drawn: usize = std::iter::once(&r.summary)
        .chain(r.families.iter().map(|f| &f.summary))
        .map(|s| Status::ALL.iter().filter(|st| s.get(**st) > 0).count())
        .sum();
    assert_eq!(dom.matches("<rect").count(), drawn);
    // Hostile evidence stayed text.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script"));
    // Nothing fetched: no request left the page, and nothing in the DOM
    // points outside it.
    assert_eq!(shown.page_requests, Vec::<String>::new());
    for attr in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "src=\"//",
        "href=\"//",
    ] {
        assert!(!dom.contains(attr), "{attr} in the rendered report");
    }
    assert!(dom.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(shown.screenshot.starts_with(b"\x89PNG\r\n\x1a\n"));

    // The same check does see a page that fetches something.
    let leaky = dir.join("leaky.html");
    std::fs::write(
        &leaky,
        "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/pixel.png\"></body></html>",
    )
    .unwrap();
    assert_eq!(
        chromium(&leaky).page_requests,
        ["http://127.0.0.1:9/pixel.png"]
    );
}
