import { planDispatch } from './dispatch';
import {
  blankFrontMatter,
  frontMatterEnd,
  displayText,
  parseMarkdown,
  searchText,
  splitLines,
  stripStyleSentinels,
  type InlineText,
  type MarkdownDocument,
  type Token,
} from './markdown';
import { isDone, parseTaskHead, phaseHeadingMode, type TaskHead, type TaskSource } from './task-head';
import { WHITESPACE_RUN } from './white-space';
import type { ParseOptions, PlanError, PlanWarning, Task, TaskMode, TaskPlan, TaskStatus } from './types';

/**
 * Parses a spec-kit tasks.md into a plan. Pure and deterministic (it runs inside Temporal's workflow
 * sandbox): no I/O, no clock, no randomness — only markdown-it and string work.
 *
 * Structure comes from markdown-it's token stream, so fenced code, HTML comments, tables and block
 * quotes never yield tasks; regexes only read the text of one inline token at a time.
 *
 * Never throws for any text: a file with no task at all, two dispatched tasks sharing an ID,
 * dispatched tasks whose `depends on` form a cycle, or task branches git cannot use come back in
 * `errors` (with an empty `dispatch`); `assertRunnablePlan` turns them into the error the CLI and
 * the workflow report.
 */
export function parseTasksMarkdown(text: string, opts: ParseOptions): TaskPlan {
  return parsePlan(text, opts, SEGMENT_MIN_LINES);
}

/**
 * @internal For tests: the same parse with the file read as one segment (`minLines` null), or cut
 * wherever it may be cut at least `minLines` apart (see {@link findCandidates}).
 */
export function parseTasksMarkdownInSegments(text: string, opts: ParseOptions, minLines: number | null): TaskPlan {
  return parsePlan(text, opts, minLines);
}

function parsePlan(text: string, opts: ParseOptions, segmentMinLines: number | null): TaskPlan {
  const unmarked = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const split = splitLines(unmarked);
  const lines = blankFrontMatter(split);
  const source = joinedLines(unmarked, split, lines);
  const candidates = findCandidates(source, lines, segmentMinLines);
  if (candidates.length === 0) {
    return { file: opts.file, feature: opts.feature, tasks: [], dispatch: [], warnings: [], errors: [noTasksProblem(parseMarkdown(source))] };
  }

  const kept = dropCrossReferences(candidates);
  const keptSet = new Set(kept);
  const warnings: PlanWarning[] = [];
  const tasks = kept.map((candidate) => buildTask(candidate, keptSet, lines, warnings));
  expandDependencyRanges(tasks);
  return planDispatch({ ...opts, tasks, warnings });
}

/**
 * What markdown-it reads: `lines` joined by '\n'. That is the text itself when it has no '\r' and no
 * front matter, and with front matter (blanked, see {@link blankFrontMatter}) one newline per blank
 * line before the rest of the text as it is: a multi-megabyte join either way avoided.
 */
function joinedLines(text: string, split: string[], lines: string[]): string {
  if (text.includes('\r')) return lines.join('\n');
  if (lines === split) return text;
  const close = frontMatterEnd(split);
  if (close < 0 || close + 1 >= split.length) return lines.join('\n');
  let offset = 0;
  for (let i = 0; i <= close; i++) offset += split[i]!.length + 1;
  return '\n'.repeat(close + 1) + text.slice(offset);
}

/** A list item or heading that begins with a task ID, with the line range it spans and what it holds. */
interface Candidate {
  head: TaskHead;
  source: TaskSource;
  /** 0-based first line; exclusive end line. */
  startLine: number;
  endLine: number;
  phase: string | null;
  phaseMode: TaskMode | null;
  /**
   * What the task's range holds, in token order: the text of each inline token that is not inside
   * a nested candidate, and each directly nested candidate (whose text is the outer task's too if
   * it turns out to be a mere mention, see {@link ownInlineOf}).
   */
  content: (InlineText | Candidate)[];
}

/**
 * The candidates of the whole file, in file order. The file is parsed in segments that each start
 * at a top-level ATX heading after a blank line (see {@link segmentStarts}): markdown-it's block
 * parse of such a segment is the same as that part of the whole file's, and a segment's tokens are
 * dropped once its candidates are read, so a large file's hundreds of thousands of tokens never live
 * (and burden the garbage collector) all at once. A segment is parsed again with the next ones when
 * something may run on past its end: a fence or HTML block still open at its last line, or a heading
 * task whose section the next segment's heading does not close.
 */
function findCandidates(source: string, lines: string[], segmentMinLines: number | null): Candidate[] {
  const starts = segmentMinLines === null ? [{ line: 0, offset: 0 }] : segmentStarts(source, lines, segmentMinLines);
  const candidates: Candidate[] = [];
  const phase: PhaseState = { phase: null, phaseMode: null };
  for (let s = 0; s < starts.length; ) {
    for (let e = s + 1; ; e = Math.min(starts.length, e + (e - s))) {
      const last = e >= starts.length;
      const from = starts[s]!;
      const to = last ? { line: lines.length, offset: source.length } : starts[e]!;
      const found = scanSegment(parseMarkdown(source.slice(from.offset, to.offset)), from.line, to.line, last, lines, { ...phase });
      if (found) {
        candidates.push(...found.candidates);
        Object.assign(phase, found.phase);
        s = e;
        break;
      }
    }
  }
  return candidates;
}

interface PhaseState {
  phase: string | null;
  phaseMode: TaskMode | null;
}

/**
 * Where the file may be cut for {@link findCandidates}: line 0, and (at least SEGMENT_MIN_LINES
 * apart) a line that starts with `#` right after a blank line, or a bullet item at column 0 (see
 * {@link startsTopLevelItem}). After a blank line nothing at the top level continues into a line that
 * starts at column 0 with `#` (paragraphs, tables and HTML blocks of types 6-7 end at the blank line,
 * lists and indented code need the line indented or a list marker, block quotes a `>`), except an
 * open fence or HTML block, which {@link scanSegment} checks for. Link reference definitions act on
 * inline text anywhere in the file, so a file that may have one is one segment.
 */
function segmentStarts(source: string, lines: string[], minLines: number): { line: number; offset: number }[] {
  const starts = [{ line: 0, offset: 0 }];
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // Segments of at least SEGMENT_MIN_LINES: far fewer parser set-ups, and still few tokens alive at once.
    if (i - starts[starts.length - 1]!.line >= minLines && (startsSectionAfterBlank(lines, i) || startsTopLevelItem(line))) starts.push({ line: i, offset });
    if (line.includes('[')) {
      MAY_DEFINE_REFERENCE_AT.lastIndex = offset;
      if (MAY_DEFINE_REFERENCE_AT.test(source)) return [{ line: 0, offset: 0 }];
    }
    offset += line.length + 1;
  }
  return starts;
}

/**
 * Necessary for a link reference definition (`[label]: url`): a `[` that opens a line's content
 * (after any block quote markers, list markers and indentation) and a label without unescaped
 * brackets, possibly over several lines, then `]:`. `- [ ] T001 [P]: …` is not one. Tried at the
 * start of each line that has a `[`.
 */
const MAY_DEFINE_REFERENCE_AT = /(?:[ \t>]|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))*\[(?:[^[\]\\]|\\[\s\S])*\]:/y;

const SEGMENT_MIN_LINES = 50;

/** Line `i` starts with `#` right after a blank line. */
function startsSectionAfterBlank(lines: string[], i: number): boolean {
  return lines[i]!.charCodeAt(0) === 0x23 /* # */ && isBlank(lines[i - 1]!);
}

/**
 * A bullet list item at column 0 with text on its line (`- [ ] T001 …`), which is not a thematic
 * break (`- - -`). Whatever the line after precedes, such an item starts a block at the top level:
 * it ends a list item before it (not indented enough to be its content), interrupts a paragraph (a
 * bullet item with text may, also as lazy continuation, in a quote or a list item), ends a table
 * and indented code; only an open fence or HTML block would hold it, and {@link scanSegment} checks
 * for those. The list it belongs to may read as two lists when cut there: the parser looks at items,
 * not at the lists around them.
 */
function startsTopLevelItem(line: string): boolean {
  const marker = line.charCodeAt(0);
  if (marker !== 0x2d /* - */ && marker !== 0x2a /* * */ && marker !== 0x2b /* + */) return false;
  const after = line.charCodeAt(1);
  if (after !== 0x20 && after !== 0x09) return false;
  return !isBlank(line.slice(2)) && !THEMATIC_BREAK.test(line);
}

/** markdown-it's hr: three or more `-`, `*` or `_` (the same one), spaces and tabs between, nothing else. */
const THEMATIC_BREAK = /^([-*_])(?:[ \t]*\1){2,}[ \t]*$/;

/** Blank to markdown-it: only spaces and tabs. */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const ch = line.charCodeAt(i);
    if (ch !== 0x20 && ch !== 0x09) return false;
  }
  return true;
}

/**
 * The candidates of one segment (lines `fromLine` to `toLine` of the file), or null when the
 * segment must be parsed together with the next one.
 */
function scanSegment(
  document: MarkdownDocument,
  fromLine: number,
  toLine: number,
  last: boolean,
  lines: string[],
  phase: PhaseState,
): { candidates: Candidate[]; phase: PhaseState } | null {
  const { tokens } = document;
  const candidates: Candidate[] = [];
  /** Candidates whose range holds the current token, innermost last, with their exclusive end token. */
  const open: { candidate: Candidate; endToken: number }[] = [];
  const add = (candidate: Candidate, endToken: number) => {
    open.at(-1)?.candidate.content.push(candidate);
    open.push({ candidate, endToken });
    candidates.push(candidate);
  };
  let quoteDepth = 0;
  for (let i = 0; i < tokens.length; i++) {
    while (open.length > 0 && open.at(-1)!.endToken <= i) open.pop();
    const token = tokens[i]!;
    if (token.type === 'inline') {
      if (open.length > 0) open.at(-1)!.candidate.content.push(document.inline(i));
    } else if ((token.type === 'fence' || token.type === 'html_block') && !last && fromLine + token.map![1] >= toLine) {
      // Open until the end of the segment: in the whole file it may run on.
      return null;
    } else if (token.type === 'blockquote_open') quoteDepth++;
    else if (token.type === 'blockquote_close') quoteDepth--;
    // Only top-level headings structure the file; a heading inside a quote or list item is content.
    else if (token.type === 'heading_open' && token.level === 0) {
      const inline = document.inline(i + 1);
      const level = headingLevel(token);
      const head = parseTaskHead(inline, 'heading');
      if (head) {
        const endToken = headingSectionEnd(tokens, i, level);
        let endLine: number;
        if (endToken < tokens.length) endLine = fromLine + tokens[endToken]!.map![0];
        else if (last) endLine = lines.length;
        else if (closesHeadingSection(lines, toLine, level)) endLine = toLine;
        else return null;
        add({ head, source: 'heading', startLine: fromLine + token.map![0], endLine, phase: phase.phase, phaseMode: phase.phaseMode, content: [] }, endToken);
      } else if (level === 2) {
        phase = {
          phase: headingText(inline),
          // Like task markers, a mode inside inline code (`[ASYNC]` quoted in a Format heading) does not count.
          phaseMode: phaseHeadingMode(textOutsideCode(inline)),
        };
      }
    } else if (token.type === 'list_item_open' && quoteDepth === 0 && isBulletItem(token)) {
      // A task's ID must open the item's first paragraph; an item that starts with a fence or a
      // nested list is not a task.
      if (tokens[i + 1]?.type !== 'paragraph_open') continue;
      if (!mayHoldTaskId(tokens[i + 2]?.content ?? '')) continue;
      const head = parseTaskHead(document.inline(i + 2), 'item');
      if (!head) continue;
      const endToken = matchingClose(tokens, i);
      add({ head, source: 'item', startLine: fromLine + token.map![0], endLine: fromLine + token.map![1], phase: phase.phase, phaseMode: phase.phaseMode, content: [] }, endToken);
    }
  }
  return { candidates, phase };
}

/**
 * Whether line `line` (the first of the next segment: column 0, after a blank line) is an ATX
 * heading of level `level` or higher, which ends a heading task's section of that level. A line
 * with a `|` (it or the next) might start a table instead: not known, so no.
 */
function closesHeadingSection(lines: string[], line: number, level: number): boolean {
  const text = lines[line] ?? '';
  const hashes = /^#{1,6}(?=[ \t]|$)/.exec(text);
  return hashes !== null && hashes[0].length <= level && !text.includes('|') && !(lines[line + 1] ?? '').includes('|');
}

/**
 * Spec-kit files end with notes such as `- T008 blocks T009, T015`, `- **T016-T018** (Views) block
 * T019` or `- T003 and T004 can run in parallel`: list items that begin with an ID but only mention
 * a task defined elsewhere. A list item without checkbox or status emoji is such a mention when its
 * ID was already seen, or when the ID is bare (not bold/struck) and a checkbox, emoji or heading
 * task defines it anywhere in the file. Files written only as `- **T-001**: …` or `- T001 …` items
 * keep them all as tasks. An item whose ID is directly followed by a marker (`- T001 [ASYNC] …`)
 * is a task, never a mention: a repeated one must surface as a duplicate (an error when both are
 * dispatched), not vanish.
 */
function dropCrossReferences(candidates: Candidate[]): Candidate[] {
  const definite = (c: Candidate) => c.source === 'heading' || c.head.checkbox !== null || c.head.emoji !== null || c.head.markedAfterId;
  const definedIds = new Set(candidates.filter(definite).map((c) => c.head.id));
  // In a file of bare items (`- T001 …`, no checkboxes) a repeated ID is only a note when it would
  // not be dispatched: two open items with one ID in an (ASYNC) phase are two tasks, and the
  // duplicate must be reported, not silently dropped.
  const wouldDispatch = (c: Candidate) => !c.head.struck && !isDone(c.head) && (c.head.modes[0] ?? c.phaseMode) === 'async';
  const firstBare = new Map<string, boolean>();
  const kept: Candidate[] = [];
  for (const candidate of candidates) {
    const id = candidate.head.id;
    const seenBefore = firstBare.has(id);
    const mention =
      !definite(candidate) &&
      (seenBefore ? !(firstBare.get(id) && wouldDispatch(candidate)) : !candidate.head.decorated && definedIds.has(id));
    if (!seenBefore) firstBare.set(id, !definite(candidate));
    if (!mention) kept.push(candidate);
  }
  return kept;
}

function buildTask(candidate: Candidate, kept: Set<Candidate>, lines: string[], warnings: PlanWarning[]): Task {
  const { head } = candidate;
  const line = candidate.startLine + 1;
  const ownInline = ownInlineOf(candidate, kept, []);
  // Most tasks are one inline token: its text without an array and a join.
  const text = ownInline.length === 1 ? searchText(ownInline[0]!.marked, ownInline[0]!.codes) : ownInline.map((inline) => searchText(inline.marked, inline.codes)).join('\n');

  // (The first mode is never a different one: no rest destructuring, which iterates.)
  const firstMode = head.modes[0];
  if (head.modes.some((mode) => mode !== firstMode)) {
    warnings.push({ line, message: `${head.id} is marked both [ASYNC] and [SYNC]; using the first, [${firstMode!.toUpperCase()}]` });
  }
  return {
    id: head.id,
    line,
    phase: candidate.phase,
    status: statusOf(head),
    mode: firstMode ?? candidate.phaseMode,
    parallel: head.parallel,
    story: head.story,
    labels: head.labels,
    title: head.title,
    details: sourceOf(lines, candidate.startLine, candidate.endLine, candidate.source),
    dependsOn: dependenciesIn(text, head.id),
    files: filesIn(ownInline),
    branch: null,
    orderedAfter: [],
    waitsOnAgents: [],
  };
}

function statusOf(head: TaskHead): TaskStatus {
  if (head.struck) return 'skipped';
  return isDone(head) ? 'done' : 'open';
}

/**
 * The inline content of a task's own range, minus tasks nested in it (they speak for themselves); a
 * nested candidate dropped as a mention is part of the text around it.
 */
function ownInlineOf(candidate: Candidate, kept: Set<Candidate>, into: InlineText[]): InlineText[] {
  for (const part of candidate.content) {
    if (!('head' in part)) into.push(part);
    else if (!kept.has(part)) ownInlineOf(part, kept, into);
  }
  return into;
}

const DEP_ID = String.raw`T-?\d+[a-z]?(?:\.\d+)*`;
/**
 * `T012, T013`, `T012 and T013`, `T012, T013, and T014`, `T012 & T013`, ranges `T012-T015` / `T012–T015`.
 * A negated phrase (`does not depend on T002`) names no dependency.
 */
const DEP_SEPARATOR = String.raw`(?:\s*,\s*(?:and\s+)?|\s*[;/&+]\s*|\s+and\s+|\s*[-–]\s*)`;
const DEPENDS_ON = new RegExp(String.raw`(?<!(?:\bnot|n['’]t|\bnever)\s+)\bdepends?\s+on\b[\s:*]*(${DEP_ID}(?:${DEP_SEPARATOR}${DEP_ID})*)`, 'giu');
/** What every DEPENDS_ON match contains (same flags, so the same case folding): a cheap test first. */
const MAY_DEPEND = /depends?\s+on/iu;
const DEP_PART = new RegExp(String.raw`(${DEP_ID})(?:\s*[-–]\s*(${DEP_ID}))?`, 'gu');
/** Stands for "every task from A to B" in `dependsOn` until {@link expandDependencyRanges} resolves it. */
const RANGE_JOIN = '\u0000';

/**
 * `depends on T012, T013` / `**Depends on**: T001 and T002` / `depends on T002-T004`, anywhere in
 * the task's own text. Ranges stay as one `A\0B` entry until every task of the file is known.
 */
function dependenciesIn(text: string, selfId: string): string[] {
  // The full pattern (a look-behind at every position) is slow to fail; most tasks name no dependency.
  if (!MAY_DEPEND.test(text)) return [];
  const ids: string[] = [];
  for (const match of text.matchAll(DEPENDS_ON)) {
    for (const part of match[1]!.matchAll(DEP_PART)) {
      const id = part[2] !== undefined ? `${part[1]}${RANGE_JOIN}${part[2]}` : part[1]!;
      if (id !== selfId && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

/**
 * A range `T002-T005` means the tasks from T002 to T005 in file order (spec-kit numbers tasks in
 * file order, so this also picks up `T003a`). When an end is not a task in the file, or comes before
 * the start, the range is just its two ends (and the unknown end is warned about like any other).
 */
function expandDependencyRanges(tasks: Task[]): void {
  const order = tasks.map((task) => task.id);
  for (const task of tasks) {
    if (!task.dependsOn.some((dep) => dep.includes(RANGE_JOIN))) continue;
    const expanded: string[] = [];
    for (const dep of task.dependsOn) {
      const [from, to] = dep.split(RANGE_JOIN) as [string, string | undefined];
      const start = order.indexOf(from);
      const end = to === undefined ? -1 : order.indexOf(to);
      const ids = to === undefined ? [from] : start >= 0 && end >= start ? order.slice(start, end + 1) : [from, to];
      for (const id of ids) if (id !== task.id && !expanded.includes(id)) expanded.push(id);
    }
    task.dependsOn = expanded;
  }
}

/**
 * Backticked text that looks like a path: no spaces, and a `/` or a file extension (letters and
 * digits of any script, so `docs/功能说明.md` counts). URLs and commands (`npm run build`) do not.
 */
const PATH_LIKE = /^(?![a-z][a-z0-9+.-]*:\/\/)[\p{L}\p{N}_.@~/+-]*(?:\/[\p{L}\p{N}_.@+-]|\.[a-z][a-z0-9]{0,7}$)[\p{L}\p{N}_.@~/+-]*$/u;
/** Files that are named without an extension, as a spec-kit task mentions them (`Dockerfile`). */
const EXTENSIONLESS_FILE = /^(?:Dockerfile|Containerfile|Makefile|GNUmakefile|Justfile|Procfile|Gemfile|Rakefile|Jenkinsfile|Vagrantfile|Brewfile|Podfile|Cartfile|Pipfile|Tiltfile|Caddyfile|CODEOWNERS|LICENSE|NOTICE)$/;

const LINE_RANGE = /:\d+(?:-\d+)?$/;
const ONLY_DOTS = /^\.+$/;

function filesIn(inlines: InlineText[]): string[] {
  const files: string[] = [];
  for (const inline of inlines) {
    for (const code of inline.codes) {
      // `shared_infra.py:297-298` names the file; the line range is not part of the path.
      const candidate = code.trim().replace(LINE_RANGE, '');
      const path = PATH_LIKE.test(candidate) || EXTENSIONLESS_FILE.test(candidate);
      if (path && !ONLY_DOTS.test(candidate) && !files.includes(candidate)) files.push(candidate);
    }
  }
  return files;
}

/**
 * The item's markdown as written, dedented to its first line, without trailing blank lines (and,
 * for a heading task, without the `---` rule that usually separates it from the next section).
 */
function sourceOf(lines: string[], start: number, end: number, source: TaskSource): string {
  // Most tasks are one line: that line without its indentation.
  if (end - start === 1) return lines[start]!.slice(leadingBlanks(lines[start]!));
  const slice = lines.slice(start, end);
  const trailing = source === 'heading' ? TRAILING_RULE_OR_BLANK : BLANK_LINE;
  while (slice.length > 1 && trailing.test(slice[slice.length - 1]!)) slice.pop();
  const indent = leadingBlanks(slice[0] ?? '');
  return slice.map((line) => line.slice(Math.min(indent, leadingBlanks(line)))).join('\n');
}

const TRAILING_RULE_OR_BLANK = /^\s*(?:(?:[-*_]\s*){3,})?$/;
const BLANK_LINE = /^\s*$/;

/** How many spaces and tabs a line starts with (the length of the match of `^[ \t]*`). */
function leadingBlanks(line: string): number {
  let n = 0;
  while (n < line.length && (line.charCodeAt(n) === 0x20 || line.charCodeAt(n) === 0x09)) n++;
  return n;
}

/**
 * Whether a paragraph's markdown can read as text with a task ID in it: the ID's `T` comes from the
 * source as written, from an entity (`&#84;`), or from a percent-escape that an autolink decodes
 * (`<%54001@x>`). A paragraph with none of them cannot begin with a task ID, so its inline content
 * need not be parsed to know it is not a task.
 */
function mayHoldTaskId(markdown: string): boolean {
  return markdown.includes('T') || markdown.includes('&') || markdown.includes('%');
}

/** Tasks are bullet items (`-`, `*`, `+`); numbered lists are prose (`1. **T009** still lacks …`). */
function isBulletItem(token: Token): boolean {
  return token.markup === '-' || token.markup === '*' || token.markup === '+';
}

function headingLevel(token: Token): number {
  return Number(token.tag.slice(1));
}

function headingText(inline: InlineText): string {
  return displayText(inline.marked, inline.codes).replace(WHITESPACE_RUN, ' ').trim();
}

/** The heading's text with code spans blanked out and style sentinels dropped. */
function textOutsideCode(inline: InlineText): string {
  return stripStyleSentinels(inline.marked).replace(/\uE000\d+\uE001/g, ' ');
}

function headingSectionEnd(tokens: Token[], start: number, level: number): number {
  for (let i = start + 1; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type === 'heading_open' && token.level === 0 && headingLevel(token) <= level) return i;
  }
  return tokens.length;
}

function matchingClose(tokens: Token[], open: number): number {
  const level = tokens[open]!.level;
  for (let i = open + 1; i < tokens.length; i++) {
    if (tokens[i]!.type === 'list_item_close' && tokens[i]!.level === level) return i;
  }
  return tokens.length;
}

/**
 * No task at all: say where the file does mention IDs (table rows, plain lines) or has checkboxes
 * without IDs, since those are the usual reasons.
 */
function noTasksProblem(document: MarkdownDocument): PlanError {
  const { tokens } = document;
  const tableRows: number[] = [];
  const plainLines: number[] = [];
  const idLessItems: number[] = [];
  let rowLine: number | null = null;
  let quoteDepth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.type === 'blockquote_open') quoteDepth++;
    else if (token.type === 'blockquote_close') quoteDepth--;
    else if (token.type === 'tr_open') rowLine = token.map ? token.map[0] + 1 : null;
    else if (token.type === 'td_open' && next?.type === 'inline' && rowLine !== null) {
      if (beginsWithTaskId(document.inline(i + 1)) && !tableRows.includes(rowLine)) tableRows.push(rowLine);
    } else if (token.type === 'paragraph_open' && quoteDepth === 0 && next?.type === 'inline') {
      if (tokens[i - 1]?.type === 'list_item_open') {
        if (/^\s*(?:\p{Extended_Pictographic}\uFE0F?\s*)?\[[ xX]\]/u.test(next.content)) idLessItems.push(token.map![0] + 1);
        continue;
      }
      const inline = document.inline(i + 1);
      inline.marked.split('\n').forEach((line, offset) => {
        if (beginsWithTaskId({ marked: line, codes: inline.codes })) plainLines.push(token.map![0] + offset + 1);
      });
    }
  }
  const example = '"- [ ] T001 [ASYNC] Create the parser in src/parser.ts"';
  if (plainLines.length > 0) {
    return {
      problem: 'no task found: lines start with task IDs but are plain text, not list items or headings',
      hint: `put "- [ ] " in front of each task line, e.g. ${example}`,
      lines: plainLines.slice(0, 5),
    };
  }
  if (tableRows.length > 0) {
    return {
      problem: 'no task found: task IDs appear only in table rows, and table rows are not tasks',
      hint: `write each task as a list item that starts with its ID, e.g. ${example}`,
      lines: tableRows.slice(0, 5),
    };
  }
  if (idLessItems.length > 0) {
    return {
      problem: 'no task found: the checklist items have no task IDs',
      hint: `start each item with an ID (T001, T002, …), e.g. ${example}`,
      lines: idLessItems.slice(0, 5),
    };
  }
  return {
    lines: [1],
    problem: 'no task found: no list item or heading begins with a task ID such as T001',
    hint: `add tasks as list items that start with an ID, e.g. ${example} (spec-kit's /tasks command writes them)`,
  };
}

function beginsWithTaskId(inline: InlineText): boolean {
  return parseTaskHead(inline, 'item') !== null;
}
