/**
 * Redaction on the runner's side: agent log lines and failure reasons are stored in workflow history
 * and shown by the CLI, so anything that looks like a credential is masked before that. One
 * implementation serves both sides: the agent image's plain-JS redactor (docker/agent/redact.js),
 * compiled into dist/ with the runner (tsconfig allowJs), so the two can never drift apart.
 */
import { Redactor } from '../../docker/agent/redact';

const byPattern = new Redactor();

/** Masks credential-shaped text (URLs with userinfo, Authorization headers, token formats, PEM keys, key=value secrets). */
export function redactText(text: string): string {
  return byPattern.redact(text);
}
