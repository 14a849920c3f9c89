#!/bin/sh
# Entrypoint of the agent image (run under tini). A thin launcher: the work is done by
# agent/agent-runner.js next to this file (Node builtins only), because JSON event parsing, the
# watchdog and redaction are fragile in shell. Tests run this very file on the host.
# Env contract, exit codes and the result line: src/contract/*.ts and README ("The agent pod").
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
runner="$here/agent/agent-runner.js"
if [ ! -f "$runner" ]; then
  echo "[sdlc-agent] agent runner not found at $runner" >&2
  echo '::sdlc-result::{"v":1,"status":"config_error","taskId":"unknown","branch":"unknown","commits":0,"reason":"agent runner missing from the image"}'
  exit 30
fi
exec node "$runner" "$@"
