//! Version comparators against the real implementations on many generated pairs:
//! `dpkg --compare-versions`, Python's `packaging.version` and rpm's own `rpm.vercmp`.
//! The oracles are installed by `scripts/test.sh` (dpkg is always there on Debian; python3-packaging, rpm).

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
