#!/usr/bin/env bash
# Palisade's CI security gate, one script for GitHub Actions (action.yml), GitLab CI and plain shell.
# Scans configuration paths (Kubernetes, Dockerfiles, Terraform) and, optionally, container images;
# writes one SARIF file per target into the output directory; exits with the worst result:
#   0 every target passed, 1 findings at or above the threshold, 2 a scan failed.
#
# Environment (all optional):
#   PALISADE               the binary (default: palisade on PATH)
#   PALISADE_GATE_PATHS    configuration paths, space-separated (default: .)
#   PALISADE_GATE_IMAGES   images (registry refs, docker-save/OCI tars), space-separated (default: none)
#   PALISADE_GATE_FAIL_ON  threshold: low, medium, high, critical (default: high)
#   PALISADE_GATE_PROFILE  Pod Security Standards profile: baseline, restricted (default: restricted)
#   PALISADE_GATE_OUT      directory for the SARIF files (default: palisade-results)
set -uo pipefail

bin="${PALISADE:-palisade}"
fail_on="${PALISADE_GATE_FAIL_ON:-high}"
profile="${PALISADE_GATE_PROFILE:-restricted}"
out="${PALISADE_GATE_OUT:-palisade-results}"
mkdir -p "$out" || exit 2

worst=0
n=0
verdict() { # target rc
  case "$2" in
    0) echo "palisade gate: $1: passed" ;;
    1) echo "palisade gate: $1: findings at or above $fail_on" ;;
    *) echo "palisade gate: $1: scan failed (exit $2)" ;;
  esac
  [ "$2" -gt "$worst" ] && worst="$2"
  return 0
}

read -r -a paths <<<"${PALISADE_GATE_PATHS:-.}"
for p in "${paths[@]}"; do
  n=$((n + 1))
  "$bin" scan config "$p" --profile "$profile" --fail-on "$fail_on" -f sarif -o "$out/config-$n.sarif"
  verdict "$p" "$?"
done

read -r -a images <<<"${PALISADE_GATE_IMAGES:-}"
for img in "${images[@]}"; do
  n=$((n + 1))
  "$bin" scan image "$img" --fail-on "$fail_on" -f sarif -o "$out/image-$n.sarif"
  verdict "$img" "$?"
done

echo "palisade gate: SARIF in $out/"
exit "$worst"
