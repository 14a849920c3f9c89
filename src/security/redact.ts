/**
 * Redaction on the runner's side: agent log lines and failure reasons are stored in workflow history
 * and shown by the CLI, so anything that looks like a credential is masked before that. One
 * implementation serves both sides: the agent image's plain-JS redactor (docker/agent/redact.js),
 * compiled into dist/ with the runner (tsconfig allowJs), so the two can never drift apart. That
 * includes the exact values the worker knows (its own git token) and their encodings (base64,
 * base64url, hex, percent-encoding), computed once when a value is registered.
 */
import { readFileSync } from 'node:fs';
import { Redactor } from '../../docker/agent/redact';

const redactor = new Redactor();

/** Masks credential-shaped text (URLs with userinfo, Authorization headers, token formats, PEM keys, key=value secrets) and every registered secret value, also encoded. */
export function redactText(text: string): string {
  return redactor.redact(text);
}

/** Registers a secret value the worker knows: from now on it, and its encodings, are masked wherever redactText runs in this process. */
export function addKnownSecret(value: string): void {
  redactor.addSecret(value);
}

/**
 * Registers the content of a secret file (the worker's git token), read now: a rotated token is
 * registered the next time this runs. Best effort: a file that cannot be read is skipped here (whoever
 * uses it reports that).
 */
export function addKnownSecretFile(file: string): void {
  try {
    redactor.addSecret(readFileSync(file, 'utf8'));
  } catch {
    // unreadable or absent: nothing to register
  }
}
