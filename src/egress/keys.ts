/**
 * The ticket key ring, read from files the worker and the proxy both mount from one Secret. Each file
 * holds one key per line (blank lines and `#` comments ignored); keys keep their order across files.
 * The first key signs, all of them verify: rotating is "prepend the new key, roll both sides, drop
 * the old key once every ticket signed with it has expired".
 */
import { readFileSync } from 'node:fs';

/** Shorter keys would make the HMAC guessable; 32 bytes of randomness (e.g. `openssl rand -hex 32`) is the intent. */
const MIN_KEY_LENGTH = 32;

export function parseKeyRing(text: string, source = 'key file'): Buffer[] {
  const keys: Buffer[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.length < MIN_KEY_LENGTH) throw new Error(`${source}: a ticket key is shorter than ${MIN_KEY_LENGTH} characters`);
    keys.push(Buffer.from(line, 'utf8'));
  }
  return keys;
}

/** Reads every file, in order; fails when the ring ends up empty (a proxy without keys would refuse everyone silently). */
export function readKeyRing(files: readonly string[]): Buffer[] {
  const keys = files.flatMap((file) => parseKeyRing(readFileSync(file, 'utf8'), file));
  if (keys.length === 0) throw new Error(`no ticket key found in ${files.join(', ') || '(no files given)'}`);
  return keys;
}
