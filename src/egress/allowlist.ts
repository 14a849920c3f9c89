/**
 * FQDN allowlist entries and matching. Entries: `host`, `*.domain` (any subdomain, never the apex:
 * granting `*.example.com` must not silently grant `example.com`), each optionally `:port`.
 * Without a port an entry covers the usual port of the request kind only: 443 for CONNECT, 80 for
 * plain http. IP literals (`10.1.2.3`, `[fd00::1]:8443`) match only an identical explicit entry, so no
 * wildcard can ever open an address.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export interface AllowEntry {
  /** Normalised host (ASCII, lower case, no trailing dot; canonical IP text for literals), without the `*.`. */
  host: string;
  wildcard: boolean;
  /** Undefined: the request kind's default port. */
  port?: number;
  /** The entry as written, for messages. */
  text: string;
}

export type RequestKind = 'connect' | 'http';

export const DEFAULT_PORT: Record<RequestKind, number> = { connect: 443, http: 80 };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Canonical text of an IP literal (IPv6 compressed, lower case), or undefined when `host` is not one. */
export function canonicalIp(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

/**
 * Normalises a host name the way DNS sees it: IDN to punycode, case folded, one trailing dot
 * dropped. Throws on anything that is not a syntactically valid name or IP literal, so a typo in an
 * entry fails loudly instead of matching nothing (or, worse, something).
 */
export function normaliseHost(host: string): string {
  const ip = canonicalIp(host);
  if (ip) return ip;
  // domainToASCII parses like a URL host (it would keep `a.com` out of `a.com/x`): refuse URL syntax first.
  if (!/^[^\s/\\?#@:%\[\]]+$/.test(host)) throw new Error(`not a valid host name: ${JSON.stringify(host)}`);
  const trimmed = host.endsWith('.') ? host.slice(0, -1) : host;
  // WHATWG host parsing also turns numeric forms (`2130706433`, `0x7f.1`) into dotted IPv4: canonical here too.
  const ascii = domainToASCII(trimmed);
  if (!ascii || ascii.length > 253 || !ascii.split('.').every((label) => LABEL.test(label))) {
    throw new Error(`not a valid host name: ${JSON.stringify(host)}`);
  }
  return ascii;
}

function parsePort(text: string, entry: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`bad port in allowlist entry ${JSON.stringify(entry)}`);
  return port;
}

/** Splits `host[:port]` / `[v6][:port]`; a bare IPv6 literal (several colons) has no port. */
export function splitHostPort(text: string): { host: string; port?: string } {
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new Error(`unterminated [ in ${JSON.stringify(text)}`);
    const rest = text.slice(end + 1);
    if (rest && !rest.startsWith(':')) throw new Error(`garbage after ] in ${JSON.stringify(text)}`);
    return { host: text.slice(0, end + 1), port: rest ? rest.slice(1) : undefined };
  }
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const idx = text.indexOf(':');
    return { host: text.slice(0, idx), port: text.slice(idx + 1) };
  }
  return { host: text };
}

export function parseEntry(text: string): AllowEntry {
  const trimmed = text.trim();
  const { host: hostPart, port } = splitHostPort(trimmed);
  const wildcard = hostPart.startsWith('*.');
  const host = normaliseHost(wildcard ? hostPart.slice(2) : hostPart);
  if (wildcard && canonicalIp(host)) throw new Error(`a wildcard cannot cover IP addresses: ${JSON.stringify(text)}`);
  // `*.com` would be a grant of half the internet: require at least a registrable-looking domain.
  if (wildcard && !host.includes('.')) throw new Error(`wildcard too broad: ${JSON.stringify(text)}`);
  return { host, wildcard, port: port === undefined ? undefined : parsePort(port, text), text: trimmed };
}

/** Parses a comma- or whitespace-separated list (the env and CLI form). */
export function parseEntries(list: string | readonly string[]): AllowEntry[] {
  const items = typeof list === 'string' ? list.split(/[\s,]+/) : list;
  return items.filter((s) => s.trim() !== '').map(parseEntry);
}

/**
 * Whether `host:port` of a request of `kind` is allowed by any entry. `host` is what the client
 * asked for (normalised here); an invalid host matches nothing.
 */
export function isAllowed(entries: readonly AllowEntry[], host: string, port: number, kind: RequestKind): boolean {
  let target: string;
  try {
    target = normaliseHost(host);
  } catch {
    return false;
  }
  const targetIsIp = canonicalIp(target) !== undefined;
  return entries.some((entry) => {
    if ((entry.port ?? DEFAULT_PORT[kind]) !== port) return false;
    if (!entry.wildcard) return entry.host === target;
    return !targetIsIp && target.endsWith(`.${entry.host}`);
  });
}
