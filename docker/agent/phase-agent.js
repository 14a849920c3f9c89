'use strict';
/**
 * Phase 2, the `agent` container (its own uid, no git credential): a small supervisor around
 * `opencode run`. It reads what checkout handed over, composes the prompt, runs OpenCode within the
 * time limit, decides from OpenCode's events and exit whether the agent finished, and hands that
 * verdict and the usage to publish. It touches a heartbeat while it runs, so publish notices an agent
 * container that died without a word (OOM kill). It commits and pushes nothing: it cannot.
 */
const fs = require('node:fs');
const path = require('node:path');
const { EXIT, ENV, PHASES } = require('./contract');
const { loadConfig, ConfigError } = require('./config');
const { Redactor } = require('./redact');
const { composePrompt } = require('./prompt');
const { prepareOpencodeHome, opencodeEnv, runOpencode, killActiveOpencode } = require('./opencode');
const { handoffPaths, readJson, writeJson, HEARTBEAT_MS } = require('./handoff');
const { phaseOutput } = require('./phase-output');
const { transcriptWriter } = require('./log-archive');

const OPENCODE_VERSION = '1.18.33';

/** How long the agent waits for the model gateway (a sidecar that starts before checkout) to say where it listens. */
const GATEWAY_WAIT_MS = 60_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The gateway's gateway.json (model-gateway.js), once it is there; undefined after GATEWAY_WAIT_MS. */
async function waitForGateway(file) {
  for (const end = Date.now() + GATEWAY_WAIT_MS; Date.now() < end; await sleep(200)) {
    let g;
    try {
      g = readJson(file);
    } catch {
      // not JSON (the gateway writes it whole: someone else wrote this one); wait for the gateway's
    }
    if (Array.isArray(g?.providers)) return g;
  }
  return undefined;
}

/**
 * OpenCode's config with every provider the gateway serves pointed at the gateway, with a placeholder
 * key: the agent holds no provider key, the gateway adds the real one.
 */
function throughGateway(config, gateway) {
  const out = JSON.parse(JSON.stringify(config || {}));
  out.provider ??= {};
  for (const p of gateway.providers) {
    const current = out.provider[p.id] ?? {};
    out.provider[p.id] = { ...current, options: { ...(current.options ?? {}), baseURL: p.baseURL, apiKey: 'sdlc-model-gateway' } };
  }
  return out;
}

function opencodeBin(env) {
  return env.OPENCODE_BIN || 'opencode';
}

async function runAgent(env) {
  const redactor = new Redactor();
  redactor.addSecretsFromEnv(env);
  // The agent's side of the handoff is all in the workspace (the git state is not mounted here).
  const paths = handoffPaths({ workdir: path.resolve(env.SDLC_WORKDIR || '/workspace'), gitStateDir: '/' });
  const out = phaseOutput(PHASES.AGENT, redactor, paths.agentLog);
  let handedOver = false;
  /** Hands the verdict to publish, once. */
  const handOver = (verdict) => {
    if (handedOver) return;
    handedOver = true;
    writeJson(paths.agentDone, { ...verdict, reason: verdict.reason && redactor.redact(verdict.reason) });
  };

  const startedAt = Date.now();
  let cfg;
  try {
    cfg = loadConfig(env, PHASES.AGENT);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    out.say(`config_error: ${err.message}`);
    return handOver({ code: EXIT.CONFIG_ERROR, reason: `configuration error: ${err.message}` });
  }
  const checkout = readJson(paths.agentCheckout);
  if (!checkout || !checkout.ok) {
    // Publish reports the checkout's failure from its own copy; there is nothing to do here.
    out.say('checkout did not hand over a worktree; nothing to do');
    return undefined;
  }

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      killActiveOpencode();
      out.say(`received ${signal}; stopping`);
      handOver({ code: EXIT.AGENT_FAILURE, reason: `the agent pod received ${signal} before the agent finished` });
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
  const beat = () => {
    const now = new Date();
    try {
      fs.utimesSync(paths.heartbeat, now, now);
    } catch {
      fs.writeFileSync(paths.heartbeat, '');
    }
  };
  beat();
  const heartbeat = setInterval(beat, HEARTBEAT_MS);

  const deadline = startedAt + cfg.timeLimitSeconds * 1000;
  const stateDir = path.join(cfg.workdir, '.sdlc-agent');
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  let opencodeConfig = cfg.extraOpencodeConfig;
  const gatewayFile = env[ENV.GATEWAY_READY_FILE];
  if (gatewayFile) {
    const gateway = await waitForGateway(gatewayFile);
    if (!gateway) {
      clearInterval(heartbeat);
      return handOver({ code: EXIT.AGENT_FAILURE, reason: `the model gateway did not say where it listens within ${GATEWAY_WAIT_MS / 1000}s (${gatewayFile}); see the gateway container's log` });
    }
    opencodeConfig = throughGateway(opencodeConfig, gateway);
    out.say(`model traffic goes through the gateway at ${gateway.url} (${gateway.providers.map((p) => p.id).join(', ')})`);
  }
  const prompt = composePrompt(cfg, { repoDir: paths.repoDir, resumed: checkout.resumed, previousCommit: checkout.previousCommit });
  const home = prepareOpencodeHome(path.join(stateDir, 'home'), opencodeConfig, OPENCODE_VERSION);
  const bin = opencodeBin(env);
  out.say(`running ${path.basename(bin)} (${cfg.model}) for task ${cfg.taskId}; time limit ${cfg.timeLimitSeconds}s`);
  const run = await runOpencode({
    bin,
    args: ['run', '--format', 'json', '--title', `${cfg.taskId} (${cfg.runId})`, '--model', cfg.model, prompt],
    cwd: paths.repoDir,
    env: opencodeEnv(home.env),
    deadline,
    exitGraceMs: cfg.exitGraceSeconds * 1000,
    progress: out.say,
    eventLine: transcriptWriter(paths.transcript, (text) => redactor.redact(text)),
    stderrLine: out.opencodeStderr,
    redact: (text) => redactor.redact(text),
  });
  const t = run.tracker;
  const usage = { tokens: t.tokens, cost: Number(t.cost.toFixed(8)) };
  out.say(`opencode ended (${run.exitCode === null ? `signal ${run.signal}` : `exit code ${run.exitCode}`}) after ${Math.round((Date.now() - startedAt) / 1000)}s; tokens in=${t.tokens.input} out=${t.tokens.output}, cost $${usage.cost}`);

  // The verdict: OpenCode's events and its exit code together. Publish looks at the working tree.
  let verdict = { code: EXIT.SUCCESS };
  if (run.timedOut) {
    verdict = { code: EXIT.TIMEOUT, reason: `the time limit of ${cfg.timeLimitSeconds}s passed before the agent finished` };
  } else {
    const v = t.verdict(run);
    if (!v.ok) verdict = { code: EXIT.AGENT_FAILURE, reason: v.reason };
  }
  clearInterval(heartbeat);
  handOver({ ...verdict, ...usage });
  return undefined;
}

module.exports = { runAgent };
