#!/usr/bin/env bash
# `npm run images`: builds the agent image (docker/Dockerfile.opencode) and the worker image
# (docker/Dockerfile.worker) with podman (scripts/podman.sh) from the local base image
# (scripts/build-base-image.sh), as localhost/sdlc-runner/agent:<hash> and localhost/sdlc-runner/worker:<hash>,
# both also tagged :dev. <hash> covers the image's inputs: the base image, the Dockerfile and every file its
# COPY instructions take from the build context, so a warm run builds nothing. Prints each image's size and
# build time. Usage: scripts/images.sh [agent|worker ...] (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR="${SDLC_RUNNER_CACHE:-$HOME/.cache/agentic-sdlc-runner}"
LOG_DIR="$CACHE_DIR/image-builds"
podman=(bash scripts/podman.sh)
mkdir -p "$LOG_DIR"

log() { printf '[images] %s\n' "$*"; }
fail() { printf '[images] FAILED: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'; }

# Files a Dockerfile takes from the build context: the sources of its COPY instructions without --from
# (the last word is the destination; flags start with --), then every file under them, minus .dockerignore's
# top-level entries (node_modules, dist, ...: the Dockerfiles never COPY those).
copy_sources() {
  awk '/^COPY / && !/--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$1"
}
inputs_hash() {
  local dockerfile=$1 base_id=$2
  {
    echo "base $base_id"
    sha256sum "$dockerfile"
    # shellcheck disable=SC2046 # the COPY sources are paths without spaces
    find $(copy_sources "$dockerfile") -type f -not -path '*/node_modules/*' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
}

build() {
  local name=$1 dockerfile=$2 base=$3 base_id hash ref start log_file size
  base_id=$("${podman[@]}" image inspect --format '{{.Id}}' "$base")
  for s in $(copy_sources "$dockerfile"); do [ -e "$s" ] || fail "$dockerfile copies $s, which does not exist"; done
  hash=$(inputs_hash "$dockerfile" "$base_id")
  ref="localhost/sdlc-runner/$name:$hash"
  if "${podman[@]}" image exists "$ref"; then
    "${podman[@]}" tag "$ref" "localhost/sdlc-runner/$name:dev"
    size=$("${podman[@]}" image inspect --format '{{.Size}}' "$ref")
    log "$name: up to date: $ref (+ :dev), $(mb "$size")"
    return 0
  fi
  log_file="$LOG_DIR/$name-$hash.log"
  log "$name: building $ref from $dockerfile (base $base; log $log_file)"
  start=$(now_ms)
  # --format docker: the OCI format drops SHELL (Dockerfile.opencode's pipefail).
  if ! nice -n 10 "${podman[@]}" build --pull=never --layers --format docker --file "$dockerfile" \
      --build-arg "NODE_IMAGE=$base" "${ca_args[@]}" --tag "$ref" --tag "localhost/sdlc-runner/$name:dev" . >"$log_file" 2>&1; then
    tail -n 25 "$log_file" >&2
    fail "$name: podman build -f $dockerfile exited non-zero (full log: $log_file)"
  fi
  size=$("${podman[@]}" image inspect --format '{{.Size}}' "$ref")
  log "$name: built $ref (+ :dev) in $(secs $(( $(now_ms) - start ))), $(mb "$size")"
  # Older builds of this image: drop their tags (shared layers stay while something uses them).
  "${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' "localhost/sdlc-runner/$name" \
    | grep -vE ":($hash|dev)\$" | xargs -r "${podman[@]}" rmi >/dev/null 2>&1 || true
}

# A TLS-intercepting proxy (this machine's egress has one) needs its CA for npm's https inside the build:
# the bundle in SDLC_BUILD_CA_FILE (default: the host's NODE_EXTRA_CA_CERTS) is mounted for the RUN steps
# only and named by the Dockerfiles' NODE_EXTRA_CA_CERTS build argument; it is not copied into the image.
ca_args=()
ca_file="${SDLC_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}"
if [ -n "$ca_file" ] && [ -r "$ca_file" ]; then
  ca_args=(--volume "$(readlink -f "$ca_file"):/run/sdlc-build-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/sdlc-build-ca.pem)
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(agent worker)
total=$(now_ms)
base=$(bash scripts/build-base-image.sh) || fail "the base image could not be built (scripts/build-base-image.sh)"
for t in "${targets[@]}"; do
  case "$t" in
    agent) build agent docker/Dockerfile.opencode "$base" ;;
    worker) build worker docker/Dockerfile.worker "$base" ;;
    *) fail "unknown image '$t' (agent, worker)" ;;
  esac
done
# Earlier base images nothing builds on any more, and what earlier builds left untagged, go (disk);
# the current images and their build cache stay.
base_id=$("${podman[@]}" image inspect --format '{{.Id}}' "$base")
"${podman[@]}" images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' localhost/sdlc-base/node \
  | awk -v id="$base_id" '$1 != id && $1 != "sha256:" id { print $2 }' | xargs -r "${podman[@]}" rmi >/dev/null 2>&1 || true
"${podman[@]}" image prune --force >/dev/null 2>&1 || true
log "done in $(secs $(( $(now_ms) - total )))"
