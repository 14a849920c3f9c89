#!/usr/bin/env bash
# Builds the test control plane from Go modules — kube-apiserver (tools/kube) and its storage,
# etcd (tools/kube/etcd) — once per machine, cached outside the repo by version, and links both
# into .tools/bin. A warm machine only checks two files and re-links (well under a second).
#
# Storage choice: etcd 3.6.x, not kine. etcd is the storage Kubernetes is built and tested
# against (watch semantics, resourceVersion/410 compaction behaviour, which the runner's watch
# code must survive), it is pure Go (bbolt) so it builds with CGO_ENABLED=0, and its module
# graph is small. kine's sqlite backend needs CGO (mattn/go-sqlite3), its pure-Go alternatives
# emulate etcd semantics, and it drags in the Postgres/MySQL/NATS drivers. etcd gets its own
# module so its dependency versions stay the ones etcd itself is released with, instead of
# being merged with kube-apiserver's graph.
#
# Versions come from the go.mod files (one source of truth); bump them there and this script
# builds into a new cache directory.
#
# Env: SDLC_RUNNER_CACHE (cache root, default ~/.cache/agentic-sdlc-runner),
#      KUBE_BUILD_FORCE=1 (rebuild even if cached).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS_BIN="$ROOT/.tools/bin"
CACHE_ROOT="${SDLC_RUNNER_CACHE:-$HOME/.cache/agentic-sdlc-runner}/kube"

log() { printf '[build-kube] %s\n' "$*"; }

module_version() { # <go.mod> <module path> → version required there
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

K8S_VERSION=$(module_version tools/kube/go.mod k8s.io/kubernetes)
ETCD_VERSION=$(module_version tools/kube/etcd/go.mod go.etcd.io/etcd/server/v3)
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { log "cannot read versions from tools/kube go.mod files" >&2; exit 1; }

APISERVER_DIR="$CACHE_ROOT/$K8S_VERSION"
ETCD_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION"
APISERVER_BIN="$APISERVER_DIR/kube-apiserver"
ETCD_BIN="$ETCD_DIR/etcd"

link_tools() {
  mkdir -p "$TOOLS_BIN"
  ln -sfn "$APISERVER_BIN" "$TOOLS_BIN/kube-apiserver"
  ln -sfn "$ETCD_BIN" "$TOOLS_BIN/etcd"
}

if [ -z "${KUBE_BUILD_FORCE:-}" ] && [ -x "$APISERVER_BIN" ] && [ -x "$ETCD_BIN" ]; then
  link_tools
  log "cached: kube-apiserver $K8S_VERSION, etcd $ETCD_VERSION ($CACHE_ROOT)"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  log "Go is required to build kube-apiserver/etcd (go >= 1.25; older go fetches the toolchain from the Go proxy via GOTOOLCHAIN=auto)" >&2
  exit 1
}

mkdir -p "$CACHE_ROOT"
# Two setups at once (e.g. parallel CI steps) would build the same thing twice; serialise.
exec 9>"$CACHE_ROOT/.build.lock"
flock 9

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

# build <module dir> <package> <output> <extra ldflags>: builds to a temp file, then renames, so
# an interrupted build never leaves a binary that the cache check would trust.
build() {
  local dir=$1 pkg=$2 out=$3 ldflags=$4 started=$SECONDS
  mkdir -p "$(dirname "$out")"
  log "building $pkg → $out (cold builds take minutes)"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp.$$" "$pkg")
  mv -f "$out.tmp.$$" "$out"
  log "built $(basename "$out") in $((SECONDS - started))s"
}

if [ -n "${KUBE_BUILD_FORCE:-}" ] || [ ! -x "$APISERVER_BIN" ]; then
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  stamp=""
  # `kubectl version` and /version read these; unstamped builds report v0.0.0-master.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  build tools/kube k8s.io/kubernetes/cmd/kube-apiserver "$APISERVER_BIN" "$stamp"
fi

if [ -n "${KUBE_BUILD_FORCE:-}" ] || [ ! -x "$ETCD_BIN" ]; then
  build tools/kube/etcd go.etcd.io/etcd/server/v3 "$ETCD_BIN" ""
fi

link_tools
log "ready: $("$APISERVER_BIN" --version), etcd $("$ETCD_BIN" --version | head -1 | awk '{print $3}')"
