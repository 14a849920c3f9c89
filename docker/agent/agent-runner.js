#!/usr/bin/env node
'use strict';
/**
 * The agent image's main program (started by docker/agent-entrypoint.sh with the phase as its first
 * argument; the runner's pod gives each container its phase): `checkout`, `agent`, `publish`, or
 * `gateway` — the model gateway sidecar (README.md "Phases"). Node builtins only: this runs in the image.
 */
const { PHASES, RESULT_LINE_PREFIX } = require('./contract');
const { identityForReport } = require('./config');
const { runCheckout } = require('./phase-checkout');
const { runAgent } = require('./phase-agent');
const { runPublish } = require('./phase-publish');
const gateway = require('./model-gateway');

const phase = process.argv[2];
const run = { [PHASES.CHECKOUT]: runCheckout, [PHASES.AGENT]: runAgent, [PHASES.PUBLISH]: runPublish, [PHASES.GATEWAY]: () => gateway.main() }[phase];
if (!run) {
  const id = identityForReport(process.env);
  process.stderr.write(`[sdlc-agent] unknown phase '${phase ?? ''}': the container's first argument must be one of ${Object.values(PHASES).join(', ')}\n`);
  // A result line all the same: a pod whose publish container is misconfigured must still say why.
  process.stdout.write(`${RESULT_LINE_PREFIX}${JSON.stringify({ v: 1, status: 'config_error', taskId: id.taskId, branch: id.branch, commits: 0, reason: `unknown agent phase '${phase ?? ''}'` })}\n`, () => process.exit(30));
} else {
  Promise.resolve(run(process.env)).catch((err) => {
    process.stderr.write(`[sdlc-${phase}] internal error: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
