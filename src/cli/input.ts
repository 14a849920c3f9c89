/**
 * Every value the CLI takes is checked where it enters (a commander argParser, so before anything is read,
 * contacted or started): a bad one is a CliError (exit 2) of one line that says what is wrong, where and
 * how to fix it. The bounds of a run's options are the workflow's own (src/contract/run-input.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { parseEntry } from '../egress/allowlist';
import { hostPortProblem, wholeNumberProblem } from '../config/values';
import { refNameProblem } from '../tasks/ref-name';
import { CliError } from './errors';

// The run's schema loads zod (about 0.1 s): read when a bound is needed (a flag given, the help shown),
// not when every command starts.
/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const runInput = (): typeof import('../contract/run-input') => require('../contract/run-input');
const runOptions = () => runInput().RunInputSchema.shape.options.unwrap().shape;
type NumericRunOption = 'maxParallel' | 'taskTimeoutSeconds' | 'pendingTimeoutSeconds';

/** The inclusive bounds the run's schema sets for a numeric option. */
export function runOptionBounds(name: NumericRunOption): { min: number; max: number } {
  const field = runOptions()[name].unwrap();
  return { min: field.minValue ?? 1, max: field.maxValue ?? Number.MAX_SAFE_INTEGER };
}

/** The flag, and the environment variable that sets it too, as a message names them. */
function flagName(flag: string, env?: string): string {
  return env ? `${flag} (or ${env})` : flag;
}

/**
 * A whole number from `min` to `max`, digits only: `1e12`, `2.5`, `0x10` and ` 5` are refused rather than
 * read as something else. `note` explains the bound (`7 days, a run's limit`).
 */
export function intArg(flag: string, min: number, max: number, note?: string): (value: string) => number {
  const bound = max >= Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}${note ? ` (${note})` : ''}`;
  return (value) => {
    const problem = wholeNumberProblem(value, min, max);
    if (problem) throw new CliError(/^\d+$/.test(value) ? `${flag} ${value} is out of range: ${bound}` : `${flag} '${value}' is not a whole number: use digits only (no exponent, decimals or sign), ${bound}`);
    return Number(value);
  };
}

/** A number of minutes whose bound is a run option in seconds (task and pending timeouts). */
export function minutesArg(flag: string, option: NumericRunOption): (value: string) => number {
  return (value) => {
    const { max } = runOptionBounds(option);
    const minutes = Math.floor(max / 60);
    const days = max / 86_400;
    return intArg(flag, 1, minutes, Number.isInteger(days) ? `${days} day${days === 1 ? '' : 's'}, a run's limit` : undefined)(value);
  };
}

/** A USD amount: digits with an optional decimal part, more than 0, at most the run's limit. */
export function costArg(flag: string): (value: string) => number {
  return (value) => {
    const max = runOptions().budget.unwrap().shape.maxCostPerRun.unwrap().maxValue ?? 1_000_000;
    if (!/^\d+(\.\d+)?$/.test(value)) throw new CliError(`${flag} '${value}' is not an amount in USD: use digits with an optional decimal point, e.g. 2.50`);
    const n = Number(value);
    if (n <= 0 || n > max) throw new CliError(`${flag} ${value} is out of range: more than 0, at most ${max} (a run's limit)`);
    return n;
  };
}

/**
 * `--allow-egress host[,host]`, repeatable: allowlist entries the run's agent pods may reach through the
 * egress proxy. Each entry is checked as the proxy will read it; the values accumulate over repeats.
 */
export function egressHostsArg(value: string, previous: string[] | undefined): string[] {
  const entries = value.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (entry === '') throw new CliError(`--allow-egress '${value}' has an empty entry: list hosts separated by commas, e.g. registry.npmjs.org,*.pypi.org`);
    try {
      parseEntry(entry);
    } catch (err) {
      throw new CliError(`--allow-egress '${entry}': ${(err as Error).message}; use host, *.domain or host:port, e.g. registry.npmjs.org or *.pypi.org`);
    }
  }
  const all = [...(previous ?? []), ...entries];
  const { MAX_EGRESS_HOSTS } = runInput();
  if (all.length > MAX_EGRESS_HOSTS) throw new CliError(`--allow-egress: ${all.length} hosts given, at most ${MAX_EGRESS_HOSTS} per run`);
  return [...new Set(all)];
}

export function portArg(flag: string): (value: string) => number {
  return intArg(flag, 1, 65_535, 'a TCP port');
}

/**
 * A run ID (`sdlc-<repo>-<feature>`) as `status`, `watch`, `cancel`, `retry`, `logs`, `integrate` and
 * `parallel` take it: one validator for all of them.
 */
export function runIdArg(value: string): string {
  if (!value.trim()) throw new CliError(`empty run ID; list runs with 'sdlc-runner runs'`);
  if (value !== value.trim()) throw new CliError(`run ID '${value}' starts or ends with whitespace (copied with it?). Fix: pass '${value.trim()}'; list runs with 'sdlc-runner runs'`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new CliError(`run ID ${JSON.stringify(value)} has a control character; list runs with 'sdlc-runner runs'`);
  // A run's ID is made of its repository's and feature's names with every other character replaced (repo.ts runWorkflowId).
  if (/\s/.test(value)) throw new CliError(`run ID '${value}' has a space, which no run ID has (sdlc-<repo>-<feature>). Fix: pass one run ID, quoted whole; list runs with 'sdlc-runner runs'`);
  return value;
}

/**
 * A branch name where it enters (`--base`, `integrate --branch`): what `git check-ref-format --branch`
 * accepts, and the branch's own name rather than a ref (`refs/heads/main`) or a remote-tracking name.
 */
export function branchNameArg(flag: string, what: string): (value: string) => string {
  return (value) => {
    const problem = refNameProblem(value);
    if (problem) throw new CliError(`${flag} '${value}' is not a valid git branch name: ${problem}. Fix: pass ${what}`);
    const ref = /^refs\/(?:heads\/|remotes\/[^/]+\/)?(.+)$/.exec(value);
    if (ref) throw new CliError(`${flag} '${value}' is a full ref, not a branch name. Fix: pass the branch's own name, ${flag} ${ref[1]}`);
    return value;
  };
}

/**
 * `--branch-pattern`: an empty or blank one is refused here; what the pattern makes of each task (a name git
 * refuses, two tasks on one branch, an unknown placeholder) is checked with tasks.md, where the names are known.
 */
export function branchPatternArg(value: string): string {
  if (!value.trim()) throw new CliError(`--branch-pattern is empty: every task would push to the same unnamed branch. Fix: e.g. --branch-pattern 'specs/{feature}/{taskId}-async', or leave it out for that default`);
  return value;
}

/** `--task T012 --task T013,T014`: repeatable, comma-separated; a value that names no task is refused (an empty list would mean every task). */
export function taskIdsArg(value: string, previous: string[] = []): string[] {
  const ids = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!ids.length) throw new CliError(`--task '${value}' names no task. Fix: --task T012 (repeatable or comma-separated), or leave --task out for every task`);
  const spaced = ids.find((id) => /\s/.test(id));
  if (spaced) throw new CliError(`--task '${value}': '${spaced}' is not a task ID (it has a space). Fix: separate task IDs with commas, e.g. --task T012,T013`);
  return [...previous, ...ids];
}

/** An http(s) base URL (the Temporal UI's). */
export function httpUrlArg(flag: string, env?: string, example = 'http://127.0.0.1:8233'): (value: string) => string {
  return (value) => {
    let u: URL | undefined;
    try {
      u = new URL(value);
    } catch {
      u = undefined;
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || !u.hostname) {
      throw new CliError(`${flagName(flag, env)} '${value}' is not an http(s) URL. Fix: e.g. ${flag} ${example}`);
    }
    return value;
  };
}

/** Temporal's frontend as gRPC takes it: host:port (or host, port 7233), no scheme or path. */
export function hostPortArg(flag: string, env?: string): (value: string) => string {
  return (value) => {
    const problem = hostPortProblem(value, { portOptional: true });
    if (problem !== undefined) {
      throw new CliError(`${flagName(flag, env)} '${value}' is not host:port${problem ? ` (${problem})` : ''}. Fix: e.g. ${flag} 127.0.0.1:7233, or your Temporal Cloud endpoint <namespace>.<account>.tmprl.cloud:7233`);
    }
    return value;
  };
}

/** A Kubernetes namespace: a DNS-1123 label. */
export function k8sNamespaceArg(flag: string, env?: string): (value: string) => string {
  return (value) => {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > 63) {
      throw new CliError(`${flagName(flag, env)} '${value}' is not a valid Kubernetes namespace: a DNS-1123 label is lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit (e.g. agents)`);
    }
    return value;
  };
}

/** A file that must exist now (read later, when it is too late to say which flag was wrong). */
export function existingFileArg(flag: string, what: string): (value: string) => string {
  return (value) => {
    if (!value) throw new CliError(`${flag} is empty. Fix: pass the path of ${what}`);
    if (!existsSync(value)) throw new CliError(`${flag} '${value}' does not exist. Fix: pass the path of ${what}`);
    if (statSync(value).isDirectory()) throw new CliError(`${flag} '${value}' is a directory. Fix: pass the path of ${what}`);
    return value;
  };
}

/** A directory that must exist (nothing is created to make a typo work). */
export function existingDirArg(flag: string, what: string): (value: string) => string {
  return (value) => {
    if (!value) throw new CliError(`${flag} is empty. Fix: pass ${what}`);
    if (!existsSync(value)) throw new CliError(`${flag} '${value}' does not exist. Fix: pass ${what} (nothing is created for it)`);
    if (!statSync(value).isDirectory()) throw new CliError(`${flag} '${value}' is a file, not a directory. Fix: pass ${what}`);
    return value;
  };
}
