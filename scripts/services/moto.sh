#!/usr/bin/env bash
# Starts a real moto server (AWS API emulator; PyPI `moto` + `flask` +
# `flask-cors`, installed into a cached virtualenv if needed) on 127.0.0.1 and
# prints env lines:  MOTO_ENDPOINT=http://127.0.0.1:PORT  MOTO_PID=...
# Stop it with `kill $MOTO_PID`.
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
palisade_venv moto flask flask-cors
port="$(free_port_pair)"
log="$PALISADE_TEST_CACHE/moto-$port.log"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
pid=$!
stop_with_parent "$pid"
addr="http://127.0.0.1:$port"
wait_http "$addr/moto-api/" "$pid" || { cat "$log" >&2; kill "$pid" 2>/dev/null; exit 1; }
echo "MOTO_ENDPOINT=$addr"
echo "MOTO_PID=$pid"
