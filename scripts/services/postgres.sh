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

# Small and fast: a test server, not a production one.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $base/sock -c fsync=off \
      -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
      -c shared_buffers=64MB" start >/dev/null 2>&1 </dev/null \
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
