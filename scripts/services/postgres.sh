#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server (Debian `postgresql`) on 127.0.0.1 and
# prints env lines:
#   PALISADE_PG_URL=postgres://palisade@127.0.0.1:PORT/palisade
#   PALISADE_PG_ADMIN_URL=postgres://palisade@127.0.0.1:PORT/postgres
#   PG_PORT=...  PG_DATA=...  PG_PID=...
# The cluster lives in a fresh temporary directory, owned by the `postgres`
# user when run as root (initdb refuses root). Trust authentication on
# 127.0.0.1 only. Stop it with `pg_ctl -D $PG_DATA stop` (or `kill $PG_PID`);
# with PALISADE_TEST_PARENT_PID set it stops (and its directory is removed)
# once that process is gone.
#
# With PALISADE_PG_SSL=1 (scripts/services/postgres-tls.sh) the server speaks
# TLS only: a CA and a server certificate (localhost, 127.0.0.1) made by
# openssl, `ssl=on`, and TCP connections without TLS are rejected
# (hostnossl ... reject). It then also prints
#   PG_SSL_ROOT_CERT=PATH   (the CA certificate, PEM)
set -euo pipefail

bindir=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && bindir="$d"
done
if [ -z "$bindir" ]; then
  echo "error: PostgreSQL server binaries not found: apt-get install postgresql" >&2
  exit 1
fi

as_owner=()
owner="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "error: running as root and there is no postgres user" >&2; exit 1; }
  owner=postgres
  as_owner=(runuser -u postgres --)
fi

base="$(mktemp -d "${TMPDIR:-/tmp}/palisade-pg.XXXXXX")"
chmod 0755 "$base"
mkdir -p "$base/data" "$base/sock"
[ "$owner" = "$(id -un)" ] || chown -R "$owner" "$base"

# A free port: bind to port 0 and read back what the kernel chose.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

"${as_owner[@]}" "$bindir/initdb" -D "$base/data" -U palisade -A trust -E UTF8 \
  --locale=C.UTF-8 --no-sync >"$base/initdb.log" 2>&1 \
  || { cat "$base/initdb.log" >&2; rm -rf "$base"; exit 1; }

ssl_opts=""
if [ "${PALISADE_PG_SSL:-}" = 1 ]; then
  tls="$base/tls"
  mkdir -p "$tls"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=palisade test PostgreSQL CA" -keyout "$tls/ca.key" -out "$tls/ca.crt"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.crt"
  } >"$base/openssl.log" 2>&1 || { cat "$base/openssl.log" >&2; rm -rf "$base"; exit 1; }
  chmod 0600 "$tls/server.key"
  [ "$owner" = "$(id -un)" ] || chown -R "$owner" "$tls"
  # TLS on TCP, nothing else; the socket directory stays for local tools.
  printf '%s\n' \
    'local     all all                trust' \
    'hostssl   all all 127.0.0.1/32   trust' \
    'hostnossl all all 127.0.0.1/32   reject' >"$base/data/pg_hba.conf"
  ssl_opts="-c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key"
fi

# Small and fast: a test server, not a production one.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $base/sock -c fsync=off \
      -c synchronous_commit=off -c full_page_writes=off -c max_connections=600 \
      -c shared_buffers=64MB $ssl_opts" start >/dev/null 2>&1 </dev/null \
  || { cat "$base/server.log" >&2; rm -rf "$base"; exit 1; }

pid="$(head -1 "$base/data/postmaster.pid")"
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U palisade palisade >/dev/null 2>&1 \
  || { cat "$base/server.log" >&2; kill "$pid"; exit 1; }

parent="${PALISADE_TEST_PARENT_PID:-}"
if [ -n "$parent" ]; then
  (
    while kill -0 "$parent" 2>/dev/null && [ "$(ps -o stat= -p "$parent" 2>/dev/null | cut -c1)" != Z ]; do
      sleep 1
    done
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$base/data" -m immediate stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null
    rm -rf "$base"
  ) >/dev/null 2>&1 </dev/null &
fi

echo "PALISADE_PG_URL=postgres://palisade@127.0.0.1:$port/palisade"
echo "PALISADE_PG_ADMIN_URL=postgres://palisade@127.0.0.1:$port/postgres"
echo "PG_PORT=$port"
echo "PG_DATA=$base/data"
echo "PG_PID=$pid"
if [ -n "$ssl_opts" ]; then
  echo "PG_SSL_ROOT_CERT=$tls/ca.crt"
fi
