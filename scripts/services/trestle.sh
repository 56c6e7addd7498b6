#!/usr/bin/env bash
# Installs PyPI `compliance-trestle` into its own cached virtualenv (its
# pinned dependencies stay away from the other tools) and prints the
# directory holding its commands:  TRESTLE_BIN=DIR
# 5.2.0 validates OSCAL 1.2.0-1.2.1: the version Palisade writes
# (compliance/schemas/README.md).
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
VENV="$PALISADE_TEST_CACHE/venv-trestle"
palisade_venv "compliance-trestle==5.2.0"
"$VENV/bin/trestle" version >&2
echo "TRESTLE_BIN=$VENV/bin"
