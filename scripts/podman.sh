#!/usr/bin/env bash
# The one podman invocation of this project: `bash scripts/podman.sh <podman args>`.
# Project-owned configuration (docker/podman/, never /etc/containers), the image store under the cache dir
# (kept across fresh clones), and the runtime settings these machines need: runc with cgroupfs (crun refuses
# the hybrid cgroup layout), no default ulimits (the nofile limit cannot be raised here).
set -euo pipefail
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
conf_dir="$here/../docker/podman"
CACHE_DIR="${SDLC_RUNNER_CACHE:-$HOME/.cache/agentic-sdlc-runner}"
store="$CACHE_DIR/podman"
if ! command -v podman >/dev/null 2>&1; then
  echo "podman.sh: podman is not installed (bash scripts/setup.sh installs it)" >&2
  exit 127
fi
export CONTAINERS_CONF="$conf_dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$conf_dir/storage.conf"
# Builds and containers use the cache dir's disk, not a small /tmp.
mkdir -p "$store/storage" "$store/tmp"
export TMPDIR="$store/tmp"
exec podman --root "$store/storage" --runroot "${SDLC_PODMAN_RUNROOT:-/run/sdlc-runner-podman}" \
  --runtime runc --cgroup-manager=cgroupfs "$@"
