# Shared by scripts/services/*.sh: a Python virtualenv under a cache directory
# holding the PyPI tools that Palisade's tests run as real peers.
# Usage: source this file, then `palisade_venv PKG...` prints nothing and sets $VENV.
PALISADE_TEST_CACHE="${PALISADE_TEST_CACHE:-$HOME/.cache/palisade-test}"
VENV="$PALISADE_TEST_CACHE/venv"

palisade_venv() {
  mkdir -p "$PALISADE_TEST_CACHE"
  # One installer at a time: test binaries may start several scripts at once.
  exec 9>"$PALISADE_TEST_CACHE/venv.lock"
  flock 9
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
  fi
  local missing=()
  for spec in "$@"; do
    local name="${spec%%[<>=]*}"
    "$VENV/bin/python" -m pip show -q "$name" >/dev/null 2>&1 || missing+=("$spec")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" >&2
  fi
  flock -u 9
  exec 9>&-
}

# A free TCP port on 127.0.0.1 whose successor is free too (OpenBao binds P+1).
free_port_pair() {
  "$VENV/bin/python" - <<'PY'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1))
    except OSError:
        s.close(); continue
    s.close(); t.close(); print(p); break
PY
}

# Waits until URL answers 200, or fails after about 30 s.
wait_http() {
  local url="$1" pid="$2"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null || [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
      echo "error: service (pid $pid) exited before $url answered" >&2; return 1
    fi
    sleep 0.1
  done
  echo "error: $url did not answer within 30 s" >&2
  return 1
}

# When PALISADE_TEST_PARENT_PID is set (test binaries set it to their own
# PID), stop service PID once that process is gone, so no server outlives
# the tests that started it.
stop_with_parent() {
  local pid="$1" parent="${PALISADE_TEST_PARENT_PID:-}"
  [ -n "$parent" ] || return 0
  (
    while kill -0 "$parent" 2>/dev/null && [ "$(ps -o stat= -p "$parent" 2>/dev/null | cut -c1)" != Z ]; do
      sleep 1
    done
    kill "$pid" 2>/dev/null
  ) >/dev/null 2>&1 </dev/null &
}
