#!/usr/bin/env bash
# The whole test suite, against real servers. Run scripts/setup.sh first (the README says so).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
mkdir -p test-output
npm run --silent build
# The image tests run the :dev images: keep them current with this checkout (a warm run builds nothing, ~1 s).
# SDLC_SETUP_IMAGES=0 skips it (the image tests then run whatever :dev images there are, or fail without them).
if [ "${SDLC_SETUP_IMAGES:-1}" != "0" ]; then
  bash scripts/images.sh
fi
exec npx jest --ci "$@"
