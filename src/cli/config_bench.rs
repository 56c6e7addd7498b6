//! `palisade bench config`: `palisade scan config` and Checkov on the same generated corpus of Kubernetes
//! manifests, Dockerfiles and Terraform files, side by side in one run, with both times and the ratio.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::cli::scan::{measure, median, script_env};
use crate::config::Config;

/// Options of `palisade bench config`.
#[derive(Debug, clap::Args)]
pub struct BenchConfigArgs {
    /// Kubernetes manifests in the generated corpus (plus a fifth as many Dockerfiles and Terraform files each).
    #[arg(long, default_value_t = 300)]
    manifests: usize,
    /// The checkov binary (default: from scripts/testdata/checkov.sh, which installs checkov 3.3.30).
    #[arg(long)]
    checkov: Option<PathBuf>,
    /// Runs of each tool (alternating); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep the corpus here instead of a temporary directory.
    #[arg(long)]
    corpus: Option<PathBuf>,
}

/// A deterministic pseudo-random sequence (xorshift), so every run benches the same corpus.
struct Seq(u64);

impl Seq {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const KINDS: [&str; 6] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
];

fn container(r: &mut Seq, name: &str) -> String {
    let image = ["nginx:1.27", "redis:latest", "registry.example.com/app@sha256:4f2a9c0d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29", "postgres:16"][r.next(4)];
    let mut c = format!(
        "- name: {name}\n  image: {image}\n  ports:\n    - containerPort: {}\n",
        8000 + r.next(1000)
    );
    if r.next(2) == 0 {
        c.push_str("  securityContext:\n    runAsNonRoot: true\n    runAsUser: 10001\n    allowPrivilegeEscalation: false\n    readOnlyRootFilesystem: true\n    capabilities:\n      drop: [\"ALL\"]\n    seccompProfile:\n      type: RuntimeDefault\n");
    } else if r.next(3) == 0 {
        c.push_str("  securityContext:\n    privileged: true\n    capabilities:\n      add: [\"NET_ADMIN\", \"SYS_ADMIN\"]\n");
    }
    if r.next(2) == 0 {
        c.push_str("  resources:\n    limits:\n      cpu: 500m\n      memory: 256Mi\n    requests:\n      cpu: 100m\n      memory: 128Mi\n");
    }
    if r.next(4) == 0 {
        c.push_str("  env:\n    - name: DB_PASSWORD\n      value: hunter2-in-plain-text\n");
    }
    c.push_str("  livenessProbe:\n    httpGet:\n      path: /healthz\n      port: 8080\n");
    c
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn manifest(r: &mut Seq, i: usize) -> String {
    let kind = KINDS[r.next(KINDS.len())];
    let ns = ["prod", "staging", "payments", "web"][r.next(4)];
    let mut pod = String::new();
    if r.next(3) == 0 {
        pod.push_str("hostNetwork: true\nhostPID: true\n");
    }
    if r.next(2) == 0 {
        pod.push_str("automountServiceAccountToken: false\n");
    }
    pod.push_str("containers:\n");
    for c in 0..1 + r.next(2) {
        pod.push_str(&indent(&container(r, &format!("c{c}")), 2));
    }
    if r.next(4) == 0 {
        pod.push_str("volumes:\n  - name: host\n    hostPath:\n      path: /var/run/docker.sock\n");
    }
    let meta =
        format!("metadata:\n  name: app-{i}\n  namespace: {ns}\n  labels:\n    app: app-{i}\n");
    let template = format!(
        "template:\n  metadata:\n    labels:\n      app: app-{i}\n  spec:\n{}",
        indent(&pod, 4)
    );
    let body = match kind {
        "Pod" => format!("spec:\n{}", indent(&pod, 2)),
        "Job" => format!(
            "spec:\n{}",
            indent(
                &template.replace("  spec:\n", "  spec:\n    restartPolicy: Never\n"),
                2
            )
        ),
        "CronJob" => format!(
            "spec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n{}",
            indent(
                &template.replace("  spec:\n", "  spec:\n    restartPolicy: OnFailure\n"),
                6
            )
        ),
        _ => format!(
            "spec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: app-{i}\n{}",
            1 + r.next(3),
            indent(&template, 2)
        ),
    };
    let api = match kind {
        "Pod" => "v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    let mut doc = format!("apiVersion: {api}\nkind: {kind}\n{meta}{body}");
    if r.next(3) == 0 {
        let _ = write!(
            doc,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\n  namespace: {ns}\nspec:\n  type: {}\n  selector:\n    app: app-{i}\n  ports:\n    - port: 80\n      targetPort: 8080\n",
            ["ClusterIP", "LoadBalancer", "NodePort"][r.next(3)]
        );
    }
    if r.next(5) == 0 {
        let _ = write!(
            doc,
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: app-{i}\n  namespace: {ns}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"{}\"]\n    verbs: [\"{}\"]\n",
            ["pods", "*", "secrets"][r.next(3)],
            ["get", "*", "list"][r.next(3)]
        );
    }
    doc
}

fn dockerfile(r: &mut Seq) -> String {
    let base = [
        "debian:12",
        "alpine:latest",
        "python:3.12-slim",
        "node:20",
        "ubuntu",
    ][r.next(5)];
    let mut d = format!("FROM {base} AS build\nWORKDIR /src\nCOPY . .\n");
    d.push_str(
        [
            "RUN apt-get update && apt-get install -y curl git\n",
            "RUN apk add --no-cache curl=8.5.0-r0\n",
            "RUN pip install -r requirements.txt\n",
            "RUN curl -fsSL https://get.example.com/install.sh | sh\n",
        ][r.next(4)],
    );
    if r.next(3) == 0 {
        d.push_str("ENV API_TOKEN=not-a-real-token\n");
    }
    if r.next(3) == 0 {
        d.push_str("ADD https://example.com/tool.tar.gz /opt/\n");
    }
    d.push_str("FROM gcr.io/distroless/static:nonroot\nCOPY --from=build /src/app /app\n");
    if r.next(2) == 0 {
        d.push_str("USER 65532:65532\nHEALTHCHECK CMD [\"/app\", \"health\"]\n");
    }
    d.push_str("EXPOSE 8080\nENTRYPOINT [\"/app\"]\n");
    d
}

fn terraform(r: &mut Seq, i: usize) -> String {
    let mut t = format!("variable \"env\" {{\n  default = \"prod\"\n}}\n\nresource \"aws_s3_bucket\" \"b{i}\" {{\n  bucket = \"acme-${{var.env}}-{i}\"\n}}\n\n");
    if r.next(2) == 0 {
        let _ = write!(t, "resource \"aws_s3_bucket_public_access_block\" \"b{i}\" {{\n  bucket                  = aws_s3_bucket.b{i}.id\n  block_public_acls       = true\n  block_public_policy     = true\n  ignore_public_acls      = true\n  restrict_public_buckets = true\n}}\n\n");
    }
    let _ = write!(t, "resource \"aws_security_group\" \"sg{i}\" {{\n  name = \"sg-{i}\"\n  ingress {{\n    from_port   = {p}\n    to_port     = {p}\n    protocol    = \"tcp\"\n    cidr_blocks = [\"{c}\"]\n  }}\n}}\n\n", p = [22, 443, 3389, 5432][r.next(4)], c = ["0.0.0.0/0", "10.0.0.0/8"][r.next(2)]);
    let _ = write!(t, "resource \"aws_db_instance\" \"db{i}\" {{\n  engine              = \"postgres\"\n  instance_class      = \"db.t3.micro\"\n  publicly_accessible = {}\n  storage_encrypted   = {}\n}}\n\n", ["true", "false"][r.next(2)], ["true", "false"][r.next(2)]);
    let _ = write!(t, "resource \"aws_kms_key\" \"k{i}\" {{\n  description         = \"key {i}\"\n  enable_key_rotation = {}\n}}\n\n", ["true", "false"][r.next(2)]);
    let _ = write!(t, "resource \"aws_iam_policy\" \"p{i}\" {{\n  name   = \"p{i}\"\n  policy = jsonencode({{\n    Version = \"2012-10-17\"\n    Statement = [{{ Effect = \"Allow\", Action = \"{}\", Resource = \"*\" }}]\n  }})\n}}\n\n", ["*", "s3:GetObject"][r.next(2)]);
    let _ = write!(t, "resource \"aws_lb_listener\" \"l{i}\" {{\n  load_balancer_arn = \"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1\"\n  port              = {}\n  protocol          = \"{}\"\n  default_action {{\n    type = \"forward\"\n    target_group_arn = \"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1\"\n  }}\n}}\n", [80, 443][r.next(2)], ["HTTP", "HTTPS"][r.next(2)]);
    t
}

/// Writes the corpus: `manifests` Kubernetes files, and a fifth as many Dockerfiles and Terraform modules.
fn generate(dir: &Path, manifests: usize) -> anyhow::Result<(usize, usize, usize)> {
    let mut r = Seq(0x9e37_79b9_7f4a_7c15);
    let others = manifests.div_ceil(5);
    for i in 0..manifests {
        let d = dir.join(format!("k8s/team-{}", i % 10));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("app-{i}.yaml")), manifest(&mut r, i))?;
    }
    for i in 0..others {
        let d = dir.join(format!("services/svc-{i}"));
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("Dockerfile"), dockerfile(&mut r))?;
        let t = dir.join(format!("terraform/mod-{i}"));
        std::fs::create_dir_all(&t)?;
        std::fs::write(t.join("main.tf"), terraform(&mut r, i))?;
    }
    Ok((manifests, others, others))
}

/// `palisade bench config`.
pub fn run(_config: Config, a: BenchConfigArgs) -> anyhow::Result<ExitCode> {
    let checkov = match a.checkov {
        Some(p) => p,
        None => PathBuf::from(&script_env("scripts/testdata/checkov.sh")?["CHECKOV"]),
    };
    let tmp = std::env::temp_dir().join(format!("palisade-bench-config-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let corpus = a.corpus.unwrap_or_else(|| tmp.join("corpus"));
    let _ = std::fs::remove_dir_all(&corpus);
    std::fs::create_dir_all(&corpus)?;
    let (k, d, t) = generate(&corpus, a.manifests)?;
    let exe = std::env::current_exe()?;
    let (mut ours, mut theirs) = (vec![], vec![]);
    let (mut ours_peak, mut theirs_peak) = (0u64, 0u64);
    let ours_out = tmp.join("palisade.json");
    for _ in 0..a.runs.max(1) {
        let m = measure(
            Command::new(&exe)
                .args(["scan", "config"])
                .arg(&corpus)
                .args(["--format", "json", "--output"])
                .arg(&ours_out),
        )?;
        ours.push(m.seconds);
        ours_peak = ours_peak.max(m.peak_kib);
        let m = measure(
            Command::new(&checkov)
                .arg("-d")
                .arg(&corpus)
                .args([
                    "--framework",
                    "kubernetes,dockerfile,terraform",
                    "--quiet",
                    "--compact",
                    "--soft-fail",
                    "--skip-download",
                    "-o",
                    "json",
                ])
                .env("BC_SKIP_MAPPING", "TRUE")
                .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false"),
        )
        .context("running checkov")?;
        theirs.push(m.seconds);
        theirs_peak = theirs_peak.max(m.peak_kib);
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&ours_out)?)?;
    let findings: usize = report["Results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| r["Misconfigurations"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    let (mo, mt) = (median(ours.clone()), median(theirs.clone()));
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>();
    println!(
        "corpus: {k} Kubernetes manifests, {d} Dockerfiles, {t} Terraform files ({} runs each, alternating)",
        a.runs.max(1)
    );
    println!(
        "palisade scan config: median {mo:.3} s  runs {:?}  peak RSS {} MiB  ({findings} findings)",
        fmt(&ours),
        ours_peak / 1024
    );
    println!(
        "checkov 3 (kubernetes,dockerfile,terraform): median {mt:.3} s  runs {:?}  peak RSS {} MiB",
        fmt(&theirs),
        theirs_peak / 1024
    );
    println!("ratio: palisade is {:.1}x faster than checkov", mt / mo);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(ExitCode::SUCCESS)
}
