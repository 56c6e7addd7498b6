#!/usr/bin/env bash
# Installs PyPI `pkilint` into the cached virtualenv and prints the directory
# holding its commands:  PKILINT_BIN=DIR
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
palisade_venv pkilint
echo "PKILINT_BIN=$VENV/bin"
