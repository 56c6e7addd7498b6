#!/usr/bin/env bash
# Starts a real OCI registry (Debian `docker-registry`, installed if missing) on 127.0.0.1 and a free port, with
# its storage in a fresh temporary directory. Prints env lines:
#   PALISADE_REGISTRY=127.0.0.1:PORT  PALISADE_REGISTRY_PID=...  PALISADE_REGISTRY_DIR=...
# Stop it with `kill $PALISADE_REGISTRY_PID` (and remove $PALISADE_REGISTRY_DIR).
set -euo pipefail
if ! command -v docker-registry >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker-registry; } >&2
  # Debian starts a system-wide instance on :5000; the tests use their own.
  { $SUDO systemctl stop docker-registry 2>/dev/null || true; } >&2
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
dir="$(mktemp -d -t palisade-registry.XXXXXX)"
cat >"$dir/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CFG
docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
    echo "PALISADE_REGISTRY=127.0.0.1:$port"
    echo "PALISADE_REGISTRY_PID=$pid"
    echo "PALISADE_REGISTRY_DIR=$dir"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
cat "$dir/registry.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
