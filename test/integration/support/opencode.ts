/**
 * Runs the real `opencode` binary (.tools/bin/opencode, from the opencode-ai npm package) headless:
 * `opencode run --command <name> --format json`, in an isolated HOME, with the scripted model's config
 * and a PATH on which `sdlc-runner` is the built CLI.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toolPath } from '../../../src/tools';
import { CLI } from './cli';
import { opencodeConfig } from './scripted-model';

export interface OpencodeEvent {
  type: string;
  sessionID?: string;
  part?: { type?: string; tool?: string; text?: string; state?: { status?: string; input?: { command?: string }; output?: string; metadata?: { exit?: number } } };
  error?: unknown;
}

export interface OpencodeRun {
  code: number | null;
  events: OpencodeEvent[];
  stderr: string;
  /** The bash tool calls, in order: the command the model asked for and what the session saw. */
  bash: { command: string; output: string; exit?: number }[];
  texts: string[];
  /** The session the command ran in (pass it as `session` to run the next command in the same session). */
  sessionId?: string;
}

/** A bin dir whose `sdlc-runner` runs the built CLI, as `npm i -g` would provide it. */
export function sdlcRunnerOnPath(dir: string): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'sdlc-runner'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(path.join(bin, 'sdlc-runner'), 0o755);
  return bin;
}

export async function runOpencodeCommand(opts: {
  cwd: string;
  command: string;
  args: string;
  modelBaseUrl: string;
  scratch: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Continue this session (`--session`), as a command run later in the same OpenCode session. */
  session?: string;
}): Promise<OpencodeRun> {
  const home = path.join(opts.scratch, 'home');
  for (const d of ['.config', '.local/share', '.cache', '.local/state']) mkdirSync(path.join(home, d), { recursive: true });
  const configFile = path.join(opts.scratch, 'opencode.json');
  writeFileSync(configFile, JSON.stringify(opencodeConfig(opts.modelBaseUrl), null, 2));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    // opencode takes its working directory from PWD, not only from the process cwd.
    PWD: opts.cwd,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_STATE_HOME: path.join(home, '.local/state'),
    OPENCODE_CONFIG: configFile,
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
  };
  const child = spawn(toolPath('opencode'), ['run', ...(opts.session ? ['--session', opts.session] : []), '--command', opts.command, '--format', 'json', opts.args], {
    cwd: opts.cwd,
    env,
    // opencode run reads a prompt from stdin when it is not a TTY: give it none.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`opencode run --command ${opts.command} did not finish in ${opts.timeoutMs ?? 120_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const events = stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as OpencodeEvent);
  const bash = events
    .filter((e) => e.type === 'tool_use' && e.part?.tool === 'bash')
    .map((e) => ({ command: e.part!.state!.input!.command ?? '', output: e.part!.state!.output ?? '', exit: e.part!.state!.metadata?.exit }));
  const texts = events.filter((e) => e.type === 'text').map((e) => e.part!.text ?? '');
  const sessionId = events.find((e) => e.sessionID)?.sessionID;
  return { code, events, stderr, bash, texts, sessionId };
}
