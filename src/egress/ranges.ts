/**
 * Address ranges no agent may reach whatever its allowlist says: an allowlisted *name* can still
 * resolve to the cloud metadata service or a cluster-internal address (by accident or by a hostile
 * DNS record), so the check is on every resolved address, not on the name.
 */
import { BlockList, isIP } from 'node:net';

/** Always denied: link-local (169.254.169.254 and friends are the metadata services), "this network", unspecified, AWS's IPv6 metadata address. */
export const DEFAULT_DENIED_CIDRS = ['169.254.0.0/16', 'fe80::/10', '0.0.0.0/8', '::/128', 'fd00:ec2::254/128'];

/** Denied unless the proxy runs with allow-loopback (tests, dev stacks): in a pod, loopback is the proxy's own pod. */
export const LOOPBACK_CIDRS = ['127.0.0.0/8', '::1/128'];

export interface DeniedRanges {
  /** The denied CIDR that contains `address`, or undefined when it may be reached. */
  match(address: string): string | undefined;
  readonly cidrs: readonly string[];
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefixText] = cidr.trim().split('/');
  const fam = isIP(address);
  if (!fam) throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
  const max = fam === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new Error(`bad prefix length in ${JSON.stringify(cidr)}`);
  }
  return { address, prefix, family: fam === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Builds the denied set: defaults, plus loopback unless allowed, plus `extra` (the cluster's pod and
 * service ranges). One BlockList per CIDR so a hit can be named in the refusal and the log.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are checked as the IPv4 address they reach.
 */
export function deniedRanges(opts: { extra?: readonly string[]; allowLoopback?: boolean }): DeniedRanges {
  const cidrs = [...DEFAULT_DENIED_CIDRS, ...(opts.allowLoopback ? [] : LOOPBACK_CIDRS), ...(opts.extra ?? [])];
  const lists = cidrs.map((cidr) => {
    const { address, prefix, family } = parseCidr(cidr);
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return { cidr: cidr.trim(), list };
  });
  return {
    cidrs,
    match(address) {
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      const addr = mapped ? mapped[1]! : address;
      const fam = isIP(addr);
      // Not an address at all: treat as denied, the caller asked the wrong question.
      if (!fam) return 'invalid-address';
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      return lists.find(({ list }) => list.check(addr, type))?.cidr;
    },
  };
}
