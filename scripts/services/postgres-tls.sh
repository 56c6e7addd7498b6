#!/usr/bin/env bash
# A throwaway PostgreSQL server that speaks TLS only (certificates made by
# openssl): scripts/services/postgres.sh with PALISADE_PG_SSL=1. Prints the
# same lines plus PG_SSL_ROOT_CERT=PATH.
set -euo pipefail
PALISADE_PG_SSL=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
