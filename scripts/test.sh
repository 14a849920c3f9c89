#!/usr/bin/env bash
# The whole test suite, against real servers. Run scripts/setup.sh first (the README says so).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
mkdir -p test-output
npm run --silent build
exec npx jest --ci "$@"
