import { displayText, SENTINEL, stripStyleSentinels, type InlineText } from './markdown';
import type { TaskMode } from './types';
import { isRegExpSpace, WHITESPACE_RUN } from './white-space';

/**
 * Task ID grammar: `T`, optional `-`, digits, optional lowercase letter, optional `.N` parts
 * (`T001`, `T-001`, `T001a`, `T001.1`). The lookahead rejects `TXXX`, `TR01` and `T001ab`.
 */
export const TASK_ID_SOURCE = String.raw`T-?\d+[a-z]?(?:\.\d+)*(?![\p{L}\p{N}_])`;
export const TASK_ID_GLOBAL = new RegExp(TASK_ID_SOURCE, 'gu');

const ID_RANGE_AFTER = /^[\uE003\uE005]*\s*[-–—]\s*[\uE002\uE004]*T-?\d/u;
const CHECKBOX = /^\[([ xX])\]/;
/** A pictographic emoji, or the text check marks ✓/✗ that people use the same way. */
const STATUS_EMOJI = /^(?:\p{Extended_Pictographic}|[\u2713\u2717])\uFE0F?/u;
/** Emoji that mean "done" when they precede the ID; others (🔄, ⏳ …) are allowed but say nothing. */
const DONE_EMOJI = new Set(['✅', '✔', '✓', '☑', '🗹']);

/** Sticky forms of the above (and of `^_+(?=T)`), for {@link matchAt}. */
const UNDERSCORES_BEFORE_ID_AT = /_+(?=T)/y;
const CHECKBOX_AT = new RegExp(CHECKBOX.source.slice(1), 'y');
const STATUS_EMOJI_AT = new RegExp(STATUS_EMOJI.source.slice(1), 'uy');
const TASK_ID_AT = new RegExp(TASK_ID_SOURCE, 'uy');
const ID_RANGE_AFTER_AT = new RegExp(ID_RANGE_AFTER.source.slice(1), 'uy');

const STRIKE_OPEN = SENTINEL.STRIKE_OPEN.charCodeAt(0);
const EMPHASIS_OPEN = SENTINEL.EMPHASIS_OPEN.charCodeAt(0);
const STRIKE_CLOSE = SENTINEL.STRIKE_CLOSE.charCodeAt(0);

/** `sticky` matched at exactly `pos` of `text` (its lastIndex is then the end of the match). */
function matchAt(sticky: RegExp, text: string, pos: number): RegExpExecArray | null {
  sticky.lastIndex = pos;
  return sticky.exec(text);
}

const EMPHASIS_SENTINELS = /[\uE004\uE005]/g;
const LEADING_UNDERSCORES = /^_+/;
const LEADING_MARKER = /^\s*\[([^[\]\n]+)\]/;
/** What people put between the ID (and markers) and the title: `T001: …`, `T001 — …`, `T001. …`, `T001) …`. */
const TITLE_SEPARATOR = /^\s*(?:[:：|—–.)-]+\s*)?/;
const KNOWN_MARKER = /\[\s*(P|ASYNC|SYNC|US\d+|USX)\s*\]/gi;
const KNOWN_MARKER_NAME = /^(P|ASYNC|SYNC|US\d+|USX)$/i;
const KNOWN_MARKER_AT_START = /^[\uE002-\uE005]*\[\s*(P|ASYNC|SYNC|US\d+|USX)\s*\]/i;
const HEADING_DONE = /\s*\[[xX]\]\s*$/;
const HEADING_MODE = /\s*\(\s*(ASYNC|SYNC)\s*\)\s*$/i;

export type TaskSource = 'item' | 'heading';

/** What the first paragraph (or heading) of a task says about it. */
export interface TaskHead {
  id: string;
  checkbox: 'open' | 'done' | null;
  /** A status emoji such as ✅ before the ID. */
  emoji: string | null;
  /** The ID is struck through, or the title starts struck through (`**T-007**: ~~Add …~~ — REMOVED`). */
  struck: boolean;
  /** The ID was bold/italic/struck: a deliberate task line, not a prose mention. */
  decorated: boolean;
  /** A heading task ending in `[X]`. */
  headingDone: boolean;
  /**
   * A `[P]`/`[ASYNC]`/`[SYNC]`/`[USn]` marker follows the ID directly (`- T001 [ASYNC] …`): the item
   * is written as a task, not a note that mentions one (`- T002 and T003 are [SYNC] because …`).
   */
  markedAfterId: boolean;
  /** All mode markers in order of appearance ([ASYNC]/[SYNC], or a heading's trailing `(ASYNC)`). */
  modes: TaskMode[];
  parallel: boolean;
  story: string | null;
  labels: string[];
  title: string;
}

/**
 * Reads a task head from a list item's first paragraph or a heading; null when the text does not
 * begin (after checkbox, status emoji, bold/strike) with a task ID.
 */
export function parseTaskHead(inline: InlineText, source: TaskSource): TaskHead | null {
  const text = inline.marked;
  let pos = 0;
  let checkbox: TaskHead['checkbox'] = null;
  let emoji: string | null = null;
  let struckBeforeId = false;
  let decorated = false;
  // Read at `pos` by character, and by sticky regexes only where one may match (without slicing).
  for (;;) {
    const code = text.charCodeAt(pos);
    if (isRegExpSpace(code)) {
      pos++;
      continue;
    }
    if (code === 0x5f /* _ */ && matchAt(UNDERSCORES_BEFORE_ID_AT, text, pos)) {
      decorated = true;
      pos = UNDERSCORES_BEFORE_ID_AT.lastIndex;
      continue;
    }
    if (code === STRIKE_OPEN || code === EMPHASIS_OPEN) {
      if (code === STRIKE_OPEN) struckBeforeId = true;
      decorated = true;
      pos += 1;
      continue;
    }
    const box: RegExpExecArray | null = checkbox === null && code === 0x5b /* [ */ ? matchAt(CHECKBOX_AT, text, pos) : null;
    if (box) {
      checkbox = box[1] === ' ' ? 'open' : 'done';
      pos += box[0].length;
      continue;
    }
    // No ASCII character is a status emoji.
    const pictograph: RegExpExecArray | null = emoji === null && code >= 0x80 ? matchAt(STATUS_EMOJI_AT, text, pos) : null;
    if (pictograph) {
      emoji = pictograph[0].replace('\uFE0F', '');
      pos += pictograph[0].length;
      continue;
    }
    break;
  }
  if (text[pos] !== 'T') return null;
  const idMatch = matchAt(TASK_ID_AT, text, pos);
  if (!idMatch) return null;
  // `T008-T010 (Models) block …` names a range of tasks; it is not one.
  if (matchAt(ID_RANGE_AFTER_AT, text, pos + idMatch[0].length)) return null;
  const id = idMatch[0];

  // Past the ID, emphasis no longer matters; strikethrough does only at the title's start.
  let rest = text.slice(pos + id.length).replace(EMPHASIS_SENTINELS, '');
  if (text[pos - 1] === '_') rest = rest.replace(LEADING_UNDERSCORES, '');
  const leading: string[] = [];
  for (;;) {
    const stripped = withoutLeadingSpaceOrStrikeClose(rest);
    const marker = LEADING_MARKER.exec(stripped);
    if (!marker || isInsideCode(marker[1]!)) break;
    leading.push(marker[1]!);
    rest = stripped.slice(marker[0].length);
  }
  rest = withoutLeadingSpaceOrStrikeClose(rest).replace(TITLE_SEPARATOR, '');
  // `**T-001**: [ASYNC] …`: a marker right after the ID's separator is as good as one right after it.
  const markedAfterId = leading.some((marker) => KNOWN_MARKER_NAME.test(marker.trim())) || KNOWN_MARKER_AT_START.test(rest);
  const titleStruck = rest.startsWith(SENTINEL.STRIKE_OPEN);
  rest = stripStyleSentinels(rest);

  let headingDone = false;
  const trailingModes: TaskMode[] = [];
  const trailing: string[] = [];
  if (source === 'heading') {
    for (let changed = true; changed; ) {
      changed = false;
      const done = HEADING_DONE.exec(rest);
      if (done) {
        headingDone = true;
        rest = rest.slice(0, done.index);
        changed = true;
      }
      const mode = HEADING_MODE.exec(rest);
      if (mode) {
        trailingModes.unshift(mode[1]!.toLowerCase() as TaskMode);
        rest = rest.slice(0, mode.index);
        changed = true;
      }
    }
  }
  for (let marker = trailingMarker(rest); marker; marker = trailingMarker(rest)) {
    if (isInsideCode(marker.name)) break;
    trailing.unshift(marker.name);
    rest = rest.slice(0, marker.index);
  }

  // Known markers may also sit inside the title (`T014 Implement [P] …`); other bracketed text there
  // is prose (`Initialize [language] project`) and stays.
  const inner: string[] = [];
  if (rest.includes('[')) {
    rest = rest.replace(KNOWN_MARKER, (_, name: string) => {
      inner.push(name);
      return ' ';
    });
  }

  const head: TaskHead = {
    id,
    checkbox,
    emoji,
    struck: struckBeforeId || titleStruck,
    decorated,
    headingDone,
    markedAfterId,
    modes: [],
    parallel: false,
    story: null,
    labels: [],
    title: displayText(rest, inline.codes).replace(WHITESPACE_RUN, ' ').trim(),
  };
  for (const markers of [leading, inner, trailing]) for (const marker of markers) applyMarker(head, marker.trim());
  for (const mode of trailingModes) head.modes.push(mode);
  return head;
}

/**
 * The match of `/\s*\[([^[\]\n]+)\]\s*$/` in `text` (its index and group), found from the end: the
 * `]` must be the last character but white space, the `[` the last one before it (no bracket may
 * come between), and the match starts where the white space before that `[` does.
 */
export function trailingMarker(text: string): { index: number; name: string } | null {
  let end = text.length;
  while (end > 0 && isRegExpSpace(text.charCodeAt(end - 1))) end--;
  if (text.charCodeAt(end - 1) !== 0x5d /* ] */) return null;
  const open = text.lastIndexOf('[', end - 2);
  if (open < 0 || open === end - 2) return null;
  const name = text.slice(open + 1, end - 1);
  if (name.includes(']') || name.includes('\n')) return null;
  let index = open;
  while (index > 0 && isRegExpSpace(text.charCodeAt(index - 1))) index--;
  return { index, name };
}

/** The text without the white space and strikethrough ends it starts with (what `^[\s\uE003]*` matches). */
function withoutLeadingSpaceOrStrikeClose(text: string): string {
  let start = 0;
  while (start < text.length && (isRegExpSpace(text.charCodeAt(start)) || text.charCodeAt(start) === STRIKE_CLOSE)) start++;
  return start === 0 ? text : text.slice(start);
}

export function isDone(head: TaskHead): boolean {
  return head.checkbox === 'done' || head.headingDone || (head.emoji !== null && DONE_EMOJI.has(head.emoji));
}

const STORY_MARKER = /^US(\d+|X)$/i;

function applyMarker(head: TaskHead, marker: string): void {
  const upper = marker.toUpperCase();
  if (marker === 'P' || marker === 'p') head.parallel = true;
  else if (upper === 'ASYNC' || upper === 'SYNC') head.modes.push(upper === 'ASYNC' ? 'async' : 'sync');
  // One story per task; a second story marker (`[US3] [USX]`) is kept as a label rather than dropped.
  else if (STORY_MARKER.test(marker) && head.story === null) head.story = upper;
  else if (STORY_MARKER.test(marker)) head.labels.push(upper);
  else if (marker.length > 0) head.labels.push(marker);
}

/** A marker candidate that contains a code placeholder is code, not a marker. */
function isInsideCode(markerText: string): boolean {
  return markerText.includes(SENTINEL.CODE_OPEN);
}

/**
 * A phase heading's mode: `(ASYNC)`, `[SYNC]`, `(SYNC — Human Review Required)`. A bare mention
 * (`SYNC/ASYNC Summary`) is not a mode.
 */
export function phaseHeadingMode(headingText: string): TaskMode | null {
  const match =
    /[[(]\s*(ASYNC|SYNC)\s*(?:[)\]]|[—–:,;-][^)\]]*[)\]])/i.exec(headingText) ??
    // `(SYNC Human Review Required)`: the mode word in capitals, then words. Not `(Async processing)`,
    // which is prose, nor `(SYNC/ASYNC …)`.
    /[[(]\s*(ASYNC|SYNC)\s+[^)\]/]*[)\]]/.exec(headingText);
  return match ? (match[1]!.toLowerCase() as TaskMode) : null;
}
