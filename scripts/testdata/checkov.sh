#!/usr/bin/env bash
# Installs Checkov (PyPI `checkov`) into a cached venv for `palisade bench config`; prints CHECKOV=<path>.
set -euo pipefail
CACHE="${PALISADE_TESTDATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade-testdata}"
V="$CACHE/checkov-venv"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
mkdir -p "$CACHE"
exec 9>"$CACHE/.checkov.lock"
flock 9
if ! [ -x "$V/bin/checkov" ] || ! "$V/bin/python" -m pip show -q checkov 2>/dev/null | grep -qx "Version: $CHECKOV_VERSION"; then
  rm -rf "$V"
  PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
  "$PY" -m venv "$V" >&2 || { apt-get install -y -qq python3-venv >&2 && "$PY" -m venv "$V" >&2; }
  "$V/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi
echo "CHECKOV=$V/bin/checkov"
