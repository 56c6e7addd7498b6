#!/usr/bin/env bash
# Builds (once, then cached) real Go binaries for the scanner's build-info tests with Debian's Go toolchain,
# offline: a main module with one vendored dependency and one replaced dependency, for linux/amd64 (ELF),
# linux/386 (32-bit ELF), windows/amd64 (PE) and darwin/arm64 (Mach-O). Next to each binary, `NAME.buildinfo`
# holds `go version -m NAME` (Go's own reading of the build information: the tests' oracle).
#
# Usage: scripts/testdata/go-binaries.sh [CACHE_DIR]
# Prints env lines: PALISADE_TEST_GO_BIN_DIR=...
# Needs Debian's golang-go (installed when missing).
set -euo pipefail

CACHE="${1:-${PALISADE_TESTDATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade-testdata}}"
VERSION=1 # bump when the recipe changes
OUT="$CACHE/go-binaries-v$VERSION"

emit() { echo "PALISADE_TEST_GO_BIN_DIR=$OUT/bin"; }

if [ -f "$OUT/.done" ]; then emit; exit 0; fi
if ! command -v go >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go; } >&2
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.go-binaries.lock"
flock 9
if [ -f "$OUT/.done" ]; then emit; exit 0; fi
rm -rf "$OUT"
SRC="$OUT/src"
mkdir -p "$SRC/vendor/github.com/example/greet" "$SRC/vendor/golang.org/x/text/language" "$OUT/bin"

cat >"$SRC/go.mod" <<'MOD'
module example.com/palisade/app

go 1.17

require (
	github.com/example/greet v1.4.2
	golang.org/x/text v0.3.5
)

replace golang.org/x/text => golang.org/x/text v0.3.8
MOD
cat >"$SRC/vendor/modules.txt" <<'TXT'
# github.com/example/greet v1.4.2
## explicit
github.com/example/greet
# golang.org/x/text v0.3.5 => golang.org/x/text v0.3.8
## explicit
golang.org/x/text/language
# golang.org/x/text => golang.org/x/text v0.3.8
TXT
cat >"$SRC/vendor/github.com/example/greet/greet.go" <<'GO'
package greet

// Hello greets.
func Hello() string { return "hello" }
GO
cat >"$SRC/vendor/golang.org/x/text/language/language.go" <<'GO'
package language

// Tag names a language.
func Tag() string { return "en" }
GO
cat >"$SRC/main.go" <<'GO'
package main

import (
	"fmt"

	"github.com/example/greet"
	"golang.org/x/text/language"
)

func main() { fmt.Println(greet.Hello(), language.Tag()) }
GO

export GOCACHE="$OUT/gocache" GOPATH="$OUT/gopath" GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
cd "$SRC"
for target in linux/amd64 linux/386 windows/amd64 darwin/arm64; do
  name="app-${target%/*}-${target#*/}"
  [ "${target%/*}" = windows ] && name="$name.exe"
  GOOS="${target%/*}" GOARCH="${target#*/}" go build -trimpath -o "$OUT/bin/$name" . >&2
  go version -m "$OUT/bin/$name" >"$OUT/bin/$name.buildinfo"
done
rm -rf "$OUT/gocache" "$OUT/gopath"
touch "$OUT/.done"
emit
