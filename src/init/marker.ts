/**
 * Marks the files `sdlc-runner init` writes, so a later init can tell its own untouched copy (safe to
 * update) from a copy the user edited (never overwritten without --force). The marker carries a hash of
 * the whole file as written; any edit anywhere in the file breaks the match.
 */
import { createHash } from 'node:crypto';

const MARKER_RE = /<!-- sdlc-runner:managed sha256=([0-9a-f]{64}|\{hash\}) [^\n]*-->/;
const MARKER_TEXT = '<!-- sdlc-runner:managed sha256={hash} — written by `sdlc-runner init`; once you edit this file, init leaves it alone unless run with --force -->';

function hashOf(textWithPlaceholder: string): string {
  return createHash('sha256').update(textWithPlaceholder, 'utf8').digest('hex');
}

/** Windows line endings (a git autocrlf checkout of the project, or of sdlc-runner's templates) are not an edit. */
export function normalizeEol(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

/** Inserts the marker after the YAML front matter (OpenCode requires the front matter first) and fills in its hash. */
export function stampManaged(template: string): string {
  const markdown = normalizeEol(template);
  const fm = /^---\n[\s\S]*?\n---\n/.exec(markdown);
  const head = fm ? fm[0] : '';
  const withPlaceholder = `${head}${MARKER_TEXT}\n${markdown.slice(head.length)}`;
  return withPlaceholder.replace('{hash}', hashOf(withPlaceholder));
}

export type ManagedState =
  /** Carries our marker and is byte-for-byte what init wrote then. */
  | 'ours-unedited'
  /** Carries our marker but was changed since. */
  | 'ours-edited'
  /** No marker: the user's own file. */
  | 'foreign';

export function managedState(file: string): ManagedState {
  const existing = normalizeEol(file);
  const m = MARKER_RE.exec(existing);
  if (!m || m[1] === '{hash}') return 'foreign';
  const withPlaceholder = existing.replace(m[1]!, '{hash}');
  return hashOf(withPlaceholder) === m[1] ? 'ours-unedited' : 'ours-edited';
}
