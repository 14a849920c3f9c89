/**
 * Name resolution done by the proxy itself. The addresses returned here are the ones checked
 * against the denied ranges AND the ones connected to: resolving once closes the DNS-rebinding gap
 * (a name answering a harmless address to the check and the metadata address to the connect).
 */
import { promises as dns } from 'node:dns';
import { canonicalIp } from './allowlist';
import type { DeniedRanges } from './ranges';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Injectable for tests: a name the test controls can resolve to any address without touching DNS. */
export type Lookup = (host: string) => Promise<ResolvedAddress[]>;

export const systemLookup: Lookup = (host) => dns.lookup(host, { all: true, verbatim: true });

export type Resolution =
  | { ok: true; addresses: ResolvedAddress[] }
  | { ok: false; reason: 'denied'; address: string; cidr: string }
  | { ok: false; reason: 'unresolved'; error: string };

/** Resolves `host` (an IP literal resolves to itself) and refuses when ANY address is denied, not only the first. */
export async function resolveChecked(host: string, lookup: Lookup, denied: DeniedRanges): Promise<Resolution> {
  let addresses: ResolvedAddress[];
  const ip = canonicalIp(host);
  if (ip) {
    addresses = [{ address: ip, family: ip.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await lookup(host);
    } catch (err) {
      return { ok: false, reason: 'unresolved', error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
    if (addresses.length === 0) return { ok: false, reason: 'unresolved', error: 'no address' };
  }
  for (const { address } of addresses) {
    const cidr = denied.match(address);
    if (cidr) return { ok: false, reason: 'denied', address, cidr };
  }
  return { ok: true, addresses };
}
