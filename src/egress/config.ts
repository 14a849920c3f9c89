/** The proxy's configuration, from the environment (the contract is documented in main.ts). */
import { parseAllowedGitHosts } from '../security/git-policy';
import { parseEntries, parseEntry, splitHostPort, type AllowEntry } from './allowlist';
import { readKeyRing } from './keys';
import type { LogFormat } from './log';
import { deniedRanges, type DeniedRanges } from './ranges';

export interface EgressConfig {
  host: string;
  port: number;
  keys: Buffer[];
  alwaysAllow: AllowEntry[];
  denied: DeniedRanges;
  allowLoopback: boolean;
  logFormat: LogFormat;
  graceMs: number;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((s) => s !== '');
}

function bool(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** The port a git transport uses when the URL names none. */
const GIT_DEFAULT_PORT: Record<string, number> = { https: 443, ssh: 22, http: 80 };

/**
 * The worker's `SDLC_ALLOWED_GIT_HOSTS` text (the same value, read by the same parser, so the two can
 * never disagree) as allowlist entries: a bare `host` or `*.domain` is https and ssh, i.e. `:443` and
 * `:22`; `host:port` keeps its port (for both); `https://`, `ssh://`, `http://` give that scheme's port
 * unless one is named; `file://` needs no network and yields nothing. `:*` (any port) has no allowlist
 * form: refused, naming the entry, rather than guessing a port or opening every one.
 */
export function gitHostEntries(text: string): AllowEntry[] {
  const out: string[] = [];
  for (const rule of parseAllowedGitHosts(text)) {
    if (rule.schemes.length === 1 && rule.schemes[0] === 'file') continue;
    if (rule.port === '*') {
      const shown = `${rule.schemes.length === 1 ? `${rule.schemes[0]}://` : ''}${rule.host}:*`;
      throw new Error(`'${shown}' allows any port, which the egress proxy cannot grant: name the port (e.g. ${rule.host}:8443)`);
    }
    const ports = rule.port !== undefined ? [Number(rule.port)] : [...new Set(rule.schemes.map((s) => GIT_DEFAULT_PORT[s]!))];
    for (const port of ports) out.push(`${rule.host}:${port}`);
  }
  return [...new Set(out)].map(parseEntry);
}

/**
 * The model providers' base URLs (`agents.llmProviders[].baseURL`, comma- or space-separated) as
 * `host:port` entries: the port the URL names, else 443 for https and 80 for http.
 */
export function providerUrlEntries(text: string): AllowEntry[] {
  const out: string[] = [];
  for (const url of list(text)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`'${url}' is not a URL (e.g. https://api.anthropic.com/v1)`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`'${url}': only http:// and https:// provider URLs are proxied`);
    if (u.username || u.password) throw new Error(`'${u.protocol}//${u.host}': credentials do not belong in a provider URL`);
    out.push(`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`);
  }
  return [...new Set(out)].map(parseEntry);
}

/** Throws with the variable's name on any bad value: a proxy that guesses would open or close the wrong doors. */
export function loadConfig(env: NodeJS.ProcessEnv): EgressConfig {
  const listen = splitHostPort(env.EGRESS_LISTEN || '0.0.0.0:3128');
  const port = Number(listen.port ?? '3128');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`EGRESS_LISTEN: bad port in ${JSON.stringify(env.EGRESS_LISTEN)}`);
  const keyFiles = list(env.EGRESS_TICKET_KEY_FILES);
  if (keyFiles.length === 0) throw new Error('EGRESS_TICKET_KEY_FILES is required (comma-separated key files, first key signs)');
  const logFormat = (env.EGRESS_LOG_FORMAT || 'json') as LogFormat;
  if (logFormat !== 'json' && logFormat !== 'kv') throw new Error(`EGRESS_LOG_FORMAT must be json or kv, got ${JSON.stringify(logFormat)}`);
  const graceMs = Number(env.EGRESS_SHUTDOWN_GRACE_MS || '25000');
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error('EGRESS_SHUTDOWN_GRACE_MS must be a non-negative number');
  const allowLoopback = bool('EGRESS_ALLOW_LOOPBACK', env.EGRESS_ALLOW_LOOPBACK);
  const wrap = <T>(name: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  };
  return {
    host: listen.host.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0',
    port,
    keys: wrap('EGRESS_TICKET_KEY_FILES', () => readKeyRing(keyFiles)),
    alwaysAllow: [
      ...wrap('EGRESS_ALWAYS_ALLOW', () => parseEntries(list(env.EGRESS_ALWAYS_ALLOW))),
      ...(env.EGRESS_GIT_HOSTS ? wrap('EGRESS_GIT_HOSTS', () => gitHostEntries(env.EGRESS_GIT_HOSTS!)) : []),
      ...wrap('EGRESS_PROVIDER_URLS', () => providerUrlEntries(env.EGRESS_PROVIDER_URLS ?? '')),
    ],
    denied: wrap('EGRESS_DENIED_CIDRS', () => deniedRanges({ extra: list(env.EGRESS_DENIED_CIDRS), allowLoopback })),
    allowLoopback,
    logFormat,
    graceMs,
  };
}
