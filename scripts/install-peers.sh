#!/usr/bin/env bash
# Installs the peer servers that `palisade bench authz` compares against.
#
#   scripts/install-peers.sh            # installs into target/peers/bin
#   PEERS_ROOT=/somewhere scripts/install-peers.sh
#
# Idempotent: a peer whose binary is already there at the pinned version is
# left alone. Every peer is built from its crates.io source (nothing prebuilt
# is downloaded). cedar-agent is a slow compile (several minutes on 2 cores).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${PEERS_ROOT:-$here/target/peers}"

# cedar-agent (permit.io): HTTP PDP on Cedar 2.x. Its newest releases carry a
# target triple in a pre-release tag; 0.2.2 is the newest 0.2.x source release.
CEDAR_AGENT_VERSION="${CEDAR_AGENT_VERSION:-0.2.2-x86.64-unknown-linux-gnu}"

stamp="$root/.cedar-agent-version"
if [[ -x "$root/bin/cedar-agent" && -f "$stamp" && "$(cat "$stamp")" == "$CEDAR_AGENT_VERSION" ]]; then
    echo "cedar-agent $CEDAR_AGENT_VERSION already installed in $root/bin"
    exit 0
fi

mkdir -p "$root"
# A build directory of its own, so the install neither locks nor dirties the
# workspace's target directory.
CARGO_TARGET_DIR="$root/build" cargo install --locked \
    --root "$root" --version "=$CEDAR_AGENT_VERSION" cedar-agent
rm -rf "$root/build"   # 600+ MB of intermediate files
echo "$CEDAR_AGENT_VERSION" > "$stamp"
echo "cedar-agent $CEDAR_AGENT_VERSION installed in $root/bin"
