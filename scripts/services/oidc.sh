#!/usr/bin/env bash
# Starts a real OpenID provider (npm `oidc-provider`, installed with `npm ci`
# into $PALISADE_TEST_CACHE/oidc-provider if needed) on 127.0.0.1 and prints
# env lines:
#   OIDC_ISSUER=http://127.0.0.1:PORT  OIDC_CLIENT_SECRET=...  OIDC_PID=...
# Clients, resources and the test hooks (key rotation, signing) are described
# in oidc-provider/provider.mjs. Stop it with `kill $OIDC_PID`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/_venv.sh"
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "error: node and npm are required (Debian: nodejs npm)" >&2; exit 1; }
dir="$PALISADE_TEST_CACHE/oidc-provider"
mkdir -p "$dir"
(
  # One installer at a time: test binaries may start several providers at once.
  flock 9
  if ! cmp -s "$here/oidc-provider/package-lock.json" "$dir/package-lock.json" \
     || [ ! -d "$dir/node_modules/oidc-provider" ]; then
    cp "$here/oidc-provider/package.json" "$here/oidc-provider/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
) 9>"$PALISADE_TEST_CACHE/oidc-provider.lock"
cp "$here/oidc-provider/provider.mjs" "$dir/provider-$$.mjs"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
secret="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log="$PALISADE_TEST_CACHE/oidc-$port.log"
OIDC_PORT="$port" OIDC_CLIENT_SECRET="$secret" node "$dir/provider-$$.mjs" >"$log" 2>&1 </dev/null &
pid=$!
stop_with_parent "$pid"
issuer="http://127.0.0.1:$port"
wait_http "$issuer/.well-known/openid-configuration" "$pid" || { cat "$log" >&2; kill "$pid" 2>/dev/null; exit 1; }
rm -f "$dir/provider-$$.mjs"
echo "OIDC_ISSUER=$issuer"
echo "OIDC_CLIENT_SECRET=$secret"
echo "OIDC_PID=$pid"
