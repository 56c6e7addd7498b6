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
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

log "format"
cargo fmt --all -- --check

log "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked

log "example policy tests"
cargo run --quiet --locked -- policy test examples/policies
