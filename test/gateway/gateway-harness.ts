import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { repoRoot, toolPath } from '../../src/tools';

/* The image's programs are plain CommonJS (no npm deps); load them the way node in the image does. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const agentModule = (name: string) => require(path.join(repoRoot, 'docker', 'agent', name));
const { prepareOpencodeHome, opencodeEnv, runOpencode } = agentModule('opencode.js');

/** The program the pod's gateway container runs. */
export const GATEWAY = path.join(repoRoot, 'docker', 'agent', 'model-gateway.js');

/** The provider key the gateway holds (a Secret file in the pod) and the dummy one OpenCode is given. */
export const PROVIDER_KEY = 'sk-gateway-provider-key-5d9e1b7c3a0f2468';
export const ANTHROPIC_KEY = 'sk-ant-gateway-anthropic-key-8c2f4a6e0b1d3579';
export const AGENT_DUMMY_KEY = 'agent-holds-no-key-0000';

export interface Usage {
  v: 1;
  requests: number;
  errors: number;
  unmetered: number;
  refused: number;
  tokens: { input: number; output: number; reasoning: number; cacheRead: number; cacheWrite: number };
  totalTokens: number;
  cost: number;
  byModel: Record<string, { requests: number; tokens: Usage['tokens']; totalTokens: number; cost: number; unpriced?: boolean }>;
  budget: { maxTokens: number | null; maxCost: number | null };
  exceeded?: { limit: 'tokens' | 'cost'; used: number; max: number; at: string };
  task: Record<string, unknown>;
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  port: number;
  stateDir: string;
  /** stdout and stderr so far. */
  output(): string;
  usage(): Usage;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (SIGKILL 5 s later if it is still running), then the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Polls a condition (no fixed sleeps): resolves with its first truthy value, fails after timeoutMs. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 20_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeKey(dir: string, name: string, key: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return file;
}

/**
 * Starts `node docker/agent/model-gateway.js` as its own process with this env (and nothing else but
 * PATH), on a free port, and waits for its gateway.json.
 */
export async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const stateDir = env[AGENT_ENV.GATEWAY_STATE_DIR]!;
  const child = spawn(process.execPath, [GATEWAY], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [AGENT_ENV.GATEWAY_LISTEN]: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  let ended = false;
  void exited.then(() => (ended = true));
  const readyFile = path.join(stateDir, 'gateway.json');
  const ready = await waitFor('the gateway to listen', () => {
    if (ended) throw new Error(`the gateway exited before listening:\n${out}`);
    const ready = existsSync(readyFile) ? (JSON.parse(readFileSync(readyFile, 'utf8')) as { url: string; port: number; pid: number }) : undefined;
    return ready?.pid === child.pid ? ready : undefined;
  });
  return {
    child,
    url: ready.url,
    port: ready.port,
    stateDir,
    output: () => out,
    usage: () => JSON.parse(readFileSync(path.join(stateDir, 'usage.json'), 'utf8')) as Usage,
    exited,
    stop: () => {
      if (!ended) {
        child.kill('SIGTERM');
        // A test that failed with a response still held open must not hang its cleanup.
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        void exited.then(() => clearTimeout(kill));
      }
      return exited;
    },
  };
}

export interface OpencodeRun {
  exitCode: number | null;
  /** The progress lines the agent runner prints for OpenCode's events. */
  lines: string[];
  /** Error events' messages ("APIError: …"). */
  errors: string[];
  lastFinishReason: string | undefined;
  /** OpenCode's stdout: its JSON events, one a line. */
  events: Record<string, unknown>[];
  stderr: string;
}

/**
 * Runs the real `opencode run --format json` headless the way the agent phase does (prepareOpencodeHome,
 * opencodeEnv, runOpencode), in a fresh git repository, with this extra OpenCode config and env.
 */
export async function runOpencodeWith(opts: { config: Record<string, unknown>; model: string; prompt: string; env: Record<string, string>; timeoutMs?: number }): Promise<OpencodeRun> {
  const dir = tempDir('sdlc-gateway-oc-');
  try {
    const repo = path.join(dir, 'repo');
    mkdirSync(repo);
    writeFileSync(path.join(repo, 'README.md'), '# scratch\n');
    spawnSync('git', ['init', '-q', repo]);
    const home = prepareOpencodeHome(path.join(dir, 'home'), opts.config, '1.18.33');
    // OpenCode's JSON events as it printed them, through a wrapper that tees its stdout (exit status kept).
    const eventsFile = path.join(dir, 'events.jsonl');
    const wrapper = path.join(dir, 'opencode-tee.sh');
    writeFileSync(wrapper, `#!/bin/bash\nset -o pipefail\n"${toolPath('opencode')}" "$@" | tee "${eventsFile}"\n`, { mode: 0o755 });
    const lines: string[] = [];
    let stderr = '';
    const run = await runOpencode({
      bin: wrapper,
      args: ['run', '--format', 'json', '--title', 'gateway test', '--model', opts.model, opts.prompt],
      cwd: repo,
      env: opencodeEnv({ ...home.env, ...opts.env }),
      deadline: Date.now() + (opts.timeoutMs ?? 120_000),
      exitGraceMs: 20_000,
      progress: (line: string) => lines.push(line),
      stderrLine: (line: string) => (stderr += `${line}\n`),
    });
    const events = existsSync(eventsFile)
      ? readFileSync(eventsFile, 'utf8').split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
    return {
      exitCode: run.exitCode,
      lines,
      errors: run.tracker.errors,
      lastFinishReason: run.tracker.lastFinishReason,
      events,
      stderr,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
