#!/usr/bin/env bash
# `npm run demo`: the newcomer's first run. One command brings up a Temporal dev server with its UI, a
# local control plane + test kubelet, a git server with a sample spec-kit repository, the scripted
# model (or --model provider/model with its API key in the env), and the production worker, then runs
# `sdlc-runner implement … --follow`. Stays up until Ctrl-C; `--ci` exits when the run ends.
# The demo program is test support (test/demo/), compiled on its own, never part of the product build.
# Run `npm run setup` first (tools and the build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f dist/worker/main.js ] || [ ! -f dist/src/cli/main.js ]; then
  echo "demo: the build is missing (dist/). Run 'npm run setup' first." >&2
  exit 1
fi
export PATH="$PWD/.tools/bin:$PATH"
# Two demos started at once (the demo tests do) compile into the same dist/support-build: one at a time,
# so neither runs a file the other is rewriting.
mkdir -p dist/support-build
if command -v flock >/dev/null 2>&1; then
  flock dist/support-build/.demo-compile.lock npx tsc -p test/demo/tsconfig.json
else
  npx tsc -p test/demo/tsconfig.json
fi
exec node dist/support-build/test/demo/first-run.js "$@"
