/**
 * The value classes the CLI's flags and the worker's environment share, as pure checks: one rule per class,
 * so `--address` and TEMPORAL_ADDRESS, `--max-parallel` and SDLC_DEFAULT_MAX_PARALLEL refuse the same
 * values. Each returns what is wrong (to follow the flag or variable and its value), or undefined.
 * No dependencies: the CLI loads this before any SDK, and the worker's zod schema calls it.
 */

/** A whole number written as digits only (`1e12`, `2.5`, `0x10`, ` 5` and `-1` are refused, not read as something else). */
export function wholeNumberProblem(value: string, min: number, max: number): string | undefined {
  const bound = max >= Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  if (!/^\d+$/.test(value)) return `is not a whole number: use digits only (no exponent, decimals or sign), ${bound}`;
  const n = Number(value);
  if (n < min || n > max) return `is out of range: ${bound}`;
  return undefined;
}

/**
 * Temporal's frontend as gRPC takes it: host:port (or host alone where a default port applies), no scheme or
 * path. Undefined when fine; else why it is not host:port ('' when it simply is not), for "is not host:port (…)".
 */
export function hostPortProblem(value: string, opts: { portOptional: boolean }): string | undefined {
  // Host names as resolvers take them (a compose service may have '_'), an IPv4 or a bracketed IPv6 address.
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)(?::(\d+))?$/.exec(value);
  if (!m) return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? 'no scheme: gRPC takes host:port' : '';
  if (m[3] === undefined) return opts.portOptional ? undefined : 'the port is missing';
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65_535)) return `port ${m[3]} is out of range: a TCP port is from 1 to 65535`;
  return undefined;
}
