#!/usr/bin/env bash
# Installs node-semver (npm package `semver`, the implementation npm itself uses) into a cached directory, as the
# oracle of the scanner's npm range tests. Prints NODE_SEMVER_DIR=<dir holding node_modules/semver>.
# Needs node and npm (Debian nodejs, npm).
set -euo pipefail
CACHE="${PALISADE_TESTDATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade-testdata}"
D="$CACHE/node-semver-v1"
mkdir -p "$CACHE"
exec 9>"$CACHE/.node-semver.lock"
flock 9
if ! [ -f "$D/node_modules/semver/package.json" ]; then
  rm -rf "$D"
  mkdir -p "$D"
  npm install --silent --no-audit --no-fund --prefix "$D" semver@7 >&2
fi
echo "NODE_SEMVER_DIR=$D"
