/**
 * Egress tickets: the worker signs, per task attempt, the list of extra hosts that attempt may reach;
 * the egress proxy only verifies. The proxy therefore keeps no per-run state and needs no access to
 * Temporal or the Kubernetes API: whatever the pod presents either carries a valid signature or is
 * refused.
 *
 * Format: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1.<payload>"))>`.
 * The version prefix is part of the signed text, so a future v2 can never be confused with v1.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { parseEntry } from './allowlist';

export interface TicketClaims {
  run: string;
  task: string;
  attempt: number;
  /** Allowlist entries granted for this attempt (`host`, `*.domain`, `host:port`). */
  hosts: string[];
  /** Expiry, unix seconds. */
  exp: number;
}

const claimsSchema = z.object({
  run: z.string().min(1),
  task: z.string().min(1),
  attempt: z.number().int().nonnegative(),
  hosts: z.array(z.string()),
  exp: z.number().int().positive(),
});

export type TicketErrorCode = 'format' | 'signature' | 'expired';

/** Why a ticket was refused. The message never contains the ticket itself (it is a bearer credential). */
export class TicketError extends Error {
  constructor(readonly code: TicketErrorCode, message: string) {
    super(message);
    this.name = 'TicketError';
  }
}

const VERSION = 'v1';

function mac(key: Buffer, signed: string): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

/** Signs claims with the first key of the ring (the current one); older keys only verify. */
export function signTicket(claims: TicketClaims, keys: Buffer | readonly Buffer[]): string {
  const signing = Array.isArray(keys) ? keys[0] : (keys as Buffer);
  if (!signing) throw new Error('signTicket: no signing key');
  const parsed = claimsSchema.parse(claims);
  // Refuse to sign what the proxy could not parse: the error belongs to whoever asked for the host.
  for (const host of parsed.hosts) parseEntry(host);
  const payload = Buffer.from(JSON.stringify(parsed), 'utf8').toString('base64url');
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${mac(signing, signed).toString('base64url')}`;
}

/**
 * Checks format, signature (against every key of the ring, for rotation) and expiry, in that order,
 * and returns the claims. `now` is unix seconds (injected so tests and the proxy agree on time).
 */
export function verifyTicket(text: string, keys: Buffer | readonly Buffer[], now: number): TicketClaims {
  const ring = Array.isArray(keys) ? keys : [keys as Buffer];
  const parts = text.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION || !parts[1] || !parts[2]) {
    throw new TicketError('format', `ticket is not in the ${VERSION}.<payload>.<signature> format`);
  }
  const [, payload, signature] = parts as [string, string, string];
  const given = Buffer.from(signature, 'base64url');
  const signed = `${VERSION}.${payload}`;
  const ok = ring.some((key) => {
    const expected = mac(key, signed);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new TicketError('signature', 'ticket signature does not match any configured key');
  let claims: TicketClaims;
  try {
    claims = claimsSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    // Signed but unreadable: only a signer bug produces this, still not something to trust.
    throw new TicketError('format', 'ticket payload is not valid claims JSON');
  }
  if (claims.exp <= now) throw new TicketError('expired', `ticket for run ${claims.run} task ${claims.task} expired at ${claims.exp}`);
  return claims;
}
