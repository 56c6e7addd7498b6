//! Version comparators against the real implementations on many generated pairs:
//! `dpkg --compare-versions`, Python's `packaging.version`, rpm's own `rpm.vercmp`, and npm ranges against
//! node-semver (`semver` from npm, installed by `scripts/testdata/node-semver.sh`); apk against apk-tools' own
//! test vectors (`fixtures/apk-tools/version.data`).
//! The oracles are installed by `scripts/test.sh` (dpkg is always there on Debian; python3-packaging, rpm).

mod support;

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use palisade_scanner::version::Scheme;

/// A small deterministic generator (xorshift) so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn num(&mut self) -> String {
        match self.next() % 6 {
            0 => "0".into(),
            1 => "00".into(),
            2 => format!("{}", self.next() % 3),
            3 => format!("{}", self.next() % 20),
            4 => format!("0{}", self.next() % 5),
            _ => format!("{}", self.next() % 1000),
        }
    }
}

fn deb_version(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.next().is_multiple_of(4) {
        s.push_str(&format!("{}:", g.next() % 3));
    }
    s.push_str(&g.num());
    for _ in 0..(g.next() % 4) {
        s.push_str(g.pick(&[".", ".", "+", "~", "a", "b", ".dfsg", "~rc", "+git", "z"]));
        if g.next().is_multiple_of(2) {
            s.push_str(&g.num());
        }
    }
    if !g.next().is_multiple_of(3) {
        s.push('-');
        s.push_str(&g.num());
        for _ in 0..(g.next() % 3) {
            s.push_str(g.pick(&["+deb12u", "ubuntu", "~bpo", ".", "+b", "build"]));
            s.push_str(&g.num());
        }
    }
    s
}

fn pep440_version(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.next().is_multiple_of(10) {
        s.push_str(&format!("{}!", g.next() % 3));
    }
    s.push_str(&g.num());
    for _ in 0..(g.next() % 3) {
        s.push('.');
        s.push_str(&g.num());
    }
    if g.next().is_multiple_of(3) {
        s.push_str(g.pick(&["a", "b", "rc", "alpha", "beta", "c", "pre", ".a", "-rc"]));
        s.push_str(&(g.next() % 4).to_string());
    }
    if g.next().is_multiple_of(4) {
        s.push_str(g.pick(&[".post", "post", "-", ".rev", "-post"]));
        s.push_str(&(g.next() % 4).to_string());
    }
    if g.next().is_multiple_of(4) {
        s.push_str(g.pick(&[".dev", "dev", "-dev"]));
        s.push_str(&(g.next() % 4).to_string());
    }
    if g.next().is_multiple_of(6) {
        s.push('+');
        s.push_str(g.pick(&["ubuntu1", "1", "abc.2", "local.7.x", "2.abc"]));
    }
    s
}

fn rpm_version(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.next().is_multiple_of(5) {
        s.push_str(&format!("{}:", g.next() % 3));
    }
    s.push_str(&g.num());
    for _ in 0..(g.next() % 4) {
        s.push_str(g.pick(&[".", ".", "_", "~", "^", "a", "rc", "git", "+"]));
        if g.next().is_multiple_of(2) {
            s.push_str(&g.num());
        }
    }
    s.push('-');
    s.push_str(&g.num());
    s.push_str(g.pick(&[
        ".el7",
        ".el8_4",
        ".fc39",
        "",
        ".module+el8.1.0+4066+0f1aadab",
    ]));
    s
}

fn sign(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

#[test]
fn dpkg_matches_dpkg_compare_versions() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for _ in 0..600 {
        let a = deb_version(&mut g);
        let b = if g.next().is_multiple_of(5) {
            a.clone()
        } else {
            deb_version(&mut g)
        };
        let ours = Scheme::Dpkg
            .compare(&a, &b)
            .unwrap_or_else(|e| panic!("{a} vs {b}: {e}"));
        let lt = Command::new("dpkg")
            .args(["--compare-versions", &a, "lt", &b])
            .status()
            .expect("dpkg is required for this test")
            .success();
        let eq = Command::new("dpkg")
            .args(["--compare-versions", &a, "eq", &b])
            .status()
            .unwrap()
            .success();
        let theirs = if lt {
            -1
        } else if eq {
            0
        } else {
            1
        };
        assert_eq!(sign(ours), theirs, "dpkg disagrees on {a} vs {b}");
        checked += 1;
    }
    assert_eq!(checked, 600);
}

fn python() -> &'static str {
    // Debian's python3 has python3-packaging; a pyenv shim may not.
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

#[test]
fn pep440_matches_python_packaging() {
    let mut g = Gen(0x1234_5678_9abc_def1);
    let pairs: Vec<(String, String)> = (0..3000)
        .map(|_| {
            let a = pep440_version(&mut g);
            let b = if g.next().is_multiple_of(6) {
                a.clone()
            } else {
                pep440_version(&mut g)
            };
            (a, b)
        })
        .collect();
    let mut child = Command::new(python())
        .args([
            "-c",
            "import sys\nfrom packaging.version import Version, InvalidVersion\nfor line in sys.stdin:\n a,b=line.rstrip('\\n').split('\\t')\n try:\n  x,y=Version(a),Version(b); print((x>y)-(x<y))\n except InvalidVersion:\n  print('E')\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with `packaging` is required (Debian python3-packaging)");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (a, b) in &pairs {
            writeln!(stdin, "{a}\t{b}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: is python3-packaging installed?"
    );
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), pairs.len());
    let mut valid = 0;
    for ((a, b), ans) in pairs.iter().zip(&answers) {
        let ours = Scheme::Pep440.compare(a, b);
        if ans == "E" {
            assert!(ours.is_err(), "packaging rejects {a} or {b}, we accepted");
            continue;
        }
        let ours = ours.unwrap_or_else(|e| panic!("{a} vs {b}: {e}"));
        assert_eq!(
            sign(ours).to_string(),
            *ans,
            "packaging disagrees on {a} vs {b}"
        );
        valid += 1;
    }
    assert!(valid > 2500, "only {valid} valid pairs");
}

#[test]
fn rpm_matches_rpm_vercmp() {
    let mut g = Gen(0x0ddb_a11c_afe0_f00d);
    let pairs: Vec<(String, String)> = (0..2000)
        .map(|_| {
            let a = rpm_version(&mut g);
            let b = if g.next().is_multiple_of(6) {
                a.clone()
            } else {
                rpm_version(&mut g)
            };
            (a, b)
        })
        .collect();
    let mut answers: Vec<String> = Vec::new();
    for chunk in pairs.chunks(400) {
        let mut lua = String::from("%{lua:\n");
        for (a, b) in chunk {
            lua.push_str(&format!("print(rpm.vercmp([[{a}]], [[{b}]]) .. \",\")\n"));
        }
        lua.push('}');
        let out = Command::new("rpm")
            .args(["--eval", &lua])
            .output()
            .expect("rpm is required for this test (Debian package rpm)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        answers.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    assert_eq!(answers.len(), pairs.len());
    for ((a, b), ans) in pairs.iter().zip(&answers) {
        let ours = Scheme::Rpm
            .compare(a, b)
            .unwrap_or_else(|e| panic!("{a} vs {b}: {e}"));
        assert_eq!(sign(ours).to_string(), *ans, "rpm disagrees on {a} vs {b}");
    }
}

fn npm_version(g: &mut Gen) -> String {
    let n = |g: &mut Gen| (g.next() % 4).to_string();
    let mut v = format!("{}.{}.{}", n(g), n(g), n(g));
    match g.next() % 10 {
        0 => v.push_str("-alpha"),
        1 => v.push_str(&format!("-beta.{}", g.next() % 4)),
        2 => v.push_str(&format!("-rc.{}", g.next() % 3)),
        3 => v.push_str("-0"),
        4 => v.push_str("+build.5"),
        5 if g.next().is_multiple_of(4) => {
            v = g.pick(&["1.2", "v1.2.3", "01.2.3", "1.2.3-", "x"]).into()
        }
        _ => {}
    }
    v
}

/// A partial version as ranges write them: wildcards, missing components, pre-releases on full versions.
fn npm_partial(g: &mut Gen) -> String {
    let part = |g: &mut Gen| match g.next() % 8 {
        0 => g.pick(&["x", "X", "*"]).to_string(),
        _ => (g.next() % 4).to_string(),
    };
    match g.next() % 6 {
        0 => part(g),
        1 => format!("{}.{}", part(g), part(g)),
        _ => {
            let n = |g: &mut Gen| (g.next() % 4).to_string();
            let mut v = format!("{}.{}.{}", n(g), n(g), n(g));
            if g.next().is_multiple_of(3) {
                v.push_str(g.pick(&["-alpha", "-beta.2", "-rc.1", "-0", "-beta"]));
            }
            v
        }
    }
}

fn npm_range(g: &mut Gen) -> String {
    let sets = 1 + g.next() % 3;
    let mut alts = Vec::new();
    for _ in 0..sets {
        if g.next().is_multiple_of(5) {
            alts.push(format!("{} - {}", npm_partial(g), npm_partial(g)));
            continue;
        }
        let n = 1 + g.next() % 2;
        let mut cs = Vec::new();
        for _ in 0..n {
            let op = g.pick(&["", "=", "<", "<=", ">", ">=", "~", "^", "~>", ">= ", "^ "]);
            cs.push(format!("{op}{}", npm_partial(g)));
        }
        alts.push(cs.join(" "));
    }
    if g.next().is_multiple_of(40) {
        alts.push(g.pick(&["*", "", "==1.2.3", "1.2.3.4", ">=01.0.0"]).into());
    }
    alts.join(" || ")
}

#[test]
fn npm_ranges_match_node_semver() {
    let env = support::run_script("scripts/testdata/node-semver.sh", &[]);
    let mut g = Gen(0x5eed_cafe_f00d_beef);
    let pairs: Vec<(String, String)> = (0..6000)
        .map(|_| {
            let v = npm_version(&mut g);
            // A quarter of the ranges name the version's own [major, minor, patch] with a pre-release, where
            // node-semver's pre-release rule decides.
            let r = match v.split(['-', '+']).next() {
                Some(tuple) if g.next().is_multiple_of(4) && tuple.split('.').count() == 3 => {
                    format!(
                        "{}{tuple}{}",
                        g.pick(&["^", "~", ">=", "<=", ">", "<", ""]),
                        g.pick(&["-alpha", "-beta.1", "-rc.0", "-0", "-beta"])
                    )
                }
                _ => npm_range(&mut g),
            };
            (v, r)
        })
        .collect();
    let mut child = Command::new("node")
        .args([
            "-e",
            "const semver = require('semver');\n\
             const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(l => l.length);\n\
             const out = lines.map(l => { const [v, r] = l.split('\\t');\n\
               return semver.validRange(r) === null ? 'E' : (semver.satisfies(v, r) ? '1' : '0'); });\n\
             process.stdout.write(out.join('\\n') + '\\n');",
        ])
        .env("NODE_PATH", format!("{}/node_modules", env["NODE_SEMVER_DIR"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is required (Debian nodejs)");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (v, r) in &pairs {
            writeln!(stdin, "{v}\t{r}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node failed");
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), pairs.len());
    let (mut yes, mut pre_yes, mut invalid) = (0, 0, 0);
    for ((v, r), ans) in pairs.iter().zip(&answers) {
        let ours = Scheme::Npm.satisfies(v, r);
        if ans == "E" {
            assert!(ours.is_err(), "node-semver rejects {r:?}, we accepted it");
            invalid += 1;
            continue;
        }
        let ours = ours.unwrap_or_else(|e| panic!("{v} in {r:?}: {e}"));
        assert_eq!(
            if ours { "1" } else { "0" },
            ans,
            "node-semver disagrees on {v} in {r:?}"
        );
        if ours {
            yes += 1;
            pre_yes += usize::from(v.contains('-'));
        }
    }
    // The generated pairs exercise both answers, pre-release matches and invalid ranges.
    assert!(
        yes > 1000 && pre_yes > 30 && invalid > 20,
        "{yes} {pre_yes} {invalid}"
    );
}

#[test]
fn apk_matches_apk_tools_test_vectors() {
    let data = std::fs::read_to_string(
        support::repo_root().join("scanner/tests/fixtures/apk-tools/version.data"),
    )
    .unwrap();
    let mut checked = 0;
    for line in data.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let [a, op, b] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("bad vector line {line:?}");
        };
        let want = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("bad operator in {line:?}"),
        };
        use palisade_scanner::version::apk;
        assert_eq!(apk::compare_lenient(a, b), want, "apk-tools: {line}");
        assert_eq!(
            apk::compare_lenient(b, a),
            want.reverse(),
            "apk-tools reversed: {line}"
        );
        // The strict comparison (what matching uses) agrees wherever both versions are valid.
        match Scheme::Apk.compare(a, b) {
            Ok(o) => assert_eq!(o, want, "{line}"),
            Err(_) => assert!(!apk::is_valid(a) || !apk::is_valid(b), "{line}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 733);
}
