/** The proxy's configuration, from the environment (the contract is documented in main.ts). */
import { parseEntries, splitHostPort, type AllowEntry } from './allowlist';
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
    alwaysAllow: wrap('EGRESS_ALWAYS_ALLOW', () => parseEntries(list(env.EGRESS_ALWAYS_ALLOW))),
    denied: wrap('EGRESS_DENIED_CIDRS', () => deniedRanges({ extra: list(env.EGRESS_DENIED_CIDRS), allowLoopback })),
    allowLoopback,
    logFormat,
    graceMs,
  };
}
