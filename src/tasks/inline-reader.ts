import type MarkdownIt from 'markdown-it';

type Token = MarkdownIt.Token;
type TokenConstructor = new (type: string, tag: string, nesting: number) => Token;

/** What markdown-it's delimiter rules record for each `*`, `_` and `~~` (the post-processing rules read it). */
interface Delimiter {
  marker: number;
  length: number;
  token: number;
  end: number;
  open: boolean;
  close: boolean;
}

type ScanDelims = (this: { src: string; posMax: number }, start: number, canSplitWord: boolean) => { can_open: boolean; can_close: boolean; length: number };

/**
 * Inline parsing of the content the parser reads (task lines, headings, the text of a task's range)
 * without markdown-it's per-character rule loop, for content where most of its inline rules cannot
 * match. The tokens are exactly those markdown-it's inline parse leaves (test/tasks/inline-reader.test.ts
 * compares them on every fixture and on a random corpus); anything else is left to markdown-it.
 *
 * It reads content without `](` in a document without link reference definitions: there a link or
 * image cannot match (it needs its label's `]` followed by `(`, or a reference to look up), so every
 * `[`, `!` and `]` is text. It declines the content where, outside code spans, it meets a `\`, a `<`
 * or an `&` followed by `#` or a letter (an escape, autolink, inline HTML or entity may start
 * there); any other `&` is text. What is left: text, line breaks, code spans and the `*`, `_`, `~~`
 * delimiter runs, each read as markdown-it's rule for it does; the runs are then paired and turned
 * into emphasis and strikethrough by markdown-it's own post-processing rules.
 */
export function inlineReader(md: MarkdownIt.MarkdownIt): (content: string, env: { references?: unknown }) => Token[] | null {
  const StateInline = (md.inline as unknown as { State: new (src: string, md: MarkdownIt.MarkdownIt, env: unknown, tokens: Token[]) => { Token: TokenConstructor } }).State;
  // The token class markdown-it's inline state creates (the fast one, see fast-state.ts, when installed).
  const TokenClass = new StateInline('', md, {}, []).Token;
  const scanDelims = (StateInline.prototype as unknown as { scanDelims: ScanDelims }).scanDelims;
  const postRules = md.inline.ruler2.getRules('') as unknown as ((state: { tokens: Token[]; delimiters: Delimiter[]; tokens_meta: unknown[] }) => void)[];

  return function readInline(src: string, env: { references?: unknown }): Token[] | null {
    // A link or image needs its label's `]` followed by `(`, or a reference to look up.
    if (env.references !== undefined || src.includes('](')) return null;
    const tokens: Token[] = [];
    const delimiters: Delimiter[] = [];
    const max = src.length;
    let pending = '';
    /** Lengths of backtick runs that found no closing run: none will later either (linear, as markdown-it's cache). */
    let unclosed: number[] | null = null;
    const push = (type: string, tag: string): Token => {
      if (pending) pushPending();
      const token = new TokenClass(type, tag, 0);
      tokens.push(token);
      return token;
    };
    const pushPending = () => {
      const token = new TokenClass('text', '', 0);
      token.content = pending;
      tokens.push(token);
      pending = '';
    };

    let pos = 0;
    let textStart = 0;
    while (pos < max) {
      // Everything up to the next of these is text (the regex scans faster than a loop over the characters).
      READ_SYNTAX.lastIndex = pos;
      if (!READ_SYNTAX.test(src)) break;
      pos = READ_SYNTAX.lastIndex - 1;
      const ch = src.charCodeAt(pos);
      if (ch === 0x5c /* \ */ || ch === 0x3c /* < */) return null;
      if (ch === 0x26 /* & */) {
        if (mayStartEntity(src.charCodeAt(pos + 1))) return null;
        pos++;
        continue;
      }
      const runEnd = endOfRun(src, pos, ch);
      // A single `~` is text (strikethrough needs two).
      if (ch === 0x7e && runEnd - pos < 2) {
        pos = runEnd;
        continue;
      }
      pending += src.slice(textStart, pos);
      if (ch === 0x0a) {
        // markdown-it's newline rule: two or more trailing spaces make a hard break, one is dropped.
        const last = pending.length - 1;
        if (last >= 0 && pending.charCodeAt(last) === 0x20) {
          if (last >= 1 && pending.charCodeAt(last - 1) === 0x20) {
            let ws = last - 1;
            while (ws >= 1 && pending.charCodeAt(ws - 1) === 0x20) ws--;
            pending = pending.slice(0, ws);
            push('hardbreak', 'br');
          } else {
            pending = pending.slice(0, -1);
            push('softbreak', 'br');
          }
        } else push('softbreak', 'br');
        pos++;
        while (pos < max && (src.charCodeAt(pos) === 0x20 || src.charCodeAt(pos) === 0x09)) pos++;
      } else if (ch === 0x60) {
        // markdown-it's backticks rule: the next run of as many backticks closes the span; none, the run is text.
        const length = runEnd - pos;
        let close = -1;
        if (!unclosed?.includes(length)) {
          close = closingRun(src, runEnd, length);
          if (close < 0) (unclosed ??= []).push(length);
        }
        if (close >= 0) {
          const token = push('code_inline', 'code');
          token.markup = src.slice(pos, runEnd);
          let content = src.slice(runEnd, close).replace(NEWLINES, ' ');
          if (content.startsWith(' ') && content.endsWith(' ') && NOT_A_SPACE.test(content)) content = content.slice(1, -1);
          token.content = content;
          pos = close + length;
        } else {
          pending += src.slice(pos, runEnd);
          pos = runEnd;
        }
      } else {
        // markdown-it's strikethrough and emphasis rules: a text token and a delimiter per `~~` or per `*`/`_`.
        const scanned = scanAsciiDelims(src, pos, runEnd, ch !== 0x5f) ?? scanDelims.call({ src, posMax: max }, pos, ch !== 0x5f);
        const one = String.fromCharCode(ch);
        let count = scanned.length;
        if (ch === 0x7e && count % 2 === 1) {
          push('text', '').content = one;
          count--;
        }
        const step = ch === 0x7e ? 2 : 1;
        for (let i = 0; i < count; i += step) {
          push('text', '').content = step === 2 ? one + one : one;
          delimiters.push({ marker: ch, length: ch === 0x7e ? 0 : scanned.length, token: tokens.length - 1, end: -1, open: scanned.can_open, close: scanned.can_close });
        }
        pos = runEnd;
      }
      textStart = pos;
    }
    pending += src.slice(textStart, max);
    if (pending) pushPending();
    // Without delimiters there is nothing to pair, and no two text tokens in a row to join.
    if (delimiters.length > 0) {
      const state = { tokens, delimiters, tokens_meta: [] };
      for (const rule of postRules) rule(state);
    }
    return tokens;
  };
}

/**
 * What the reader acts on: line breaks, code spans, emphasis and strikethrough, and the characters
 * where an escape, autolink, inline HTML or entity may start (it declines the content there); all
 * else is text.
 */
const READ_SYNTAX = /[\n`*_~\\<&]/g;

const NEWLINES = /\n/g;
const NOT_A_SPACE = /[^ ]/;

/** `&` followed by this may start an entity (`&#…;`, `&name;`); followed by anything else it is text. */
function mayStartEntity(next: number): boolean {
  return next === 0x23 /* # */ || ((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a);
}

/**
 * markdown-it's `scanDelims` for a run between ASCII characters (nearly every run): there its Unicode
 * punctuation test (a regex per call) is its ASCII punctuation list. Null for other runs.
 */
function scanAsciiDelims(src: string, start: number, end: number, canSplitWord: boolean): { can_open: boolean; can_close: boolean; length: number } | null {
  const last = start > 0 ? src.charCodeAt(start - 1) : 0x20;
  const next = end < src.length ? src.charCodeAt(end) : 0x20;
  if (last >= 0x80 || next >= 0x80) return null;
  const lastPunct = isAsciiPunct(last);
  const nextPunct = isAsciiPunct(next);
  const lastSpace = isAsciiWhiteSpace(last);
  const nextSpace = isAsciiWhiteSpace(next);
  const leftFlanking = !nextSpace && (!nextPunct || lastSpace || lastPunct);
  const rightFlanking = !lastSpace && (!lastPunct || nextSpace || nextPunct);
  return {
    can_open: leftFlanking && (canSplitWord || !rightFlanking || lastPunct),
    can_close: rightFlanking && (canSplitWord || !leftFlanking || nextPunct),
    length: end - start,
  };
}

/** markdown-it's `isMdAsciiPunct`: `!` to `/`, `:` to `@`, `[` to `` ` ``, `{` to `~`. */
function isAsciiPunct(code: number): boolean {
  return (code >= 0x21 && code <= 0x2f) || (code >= 0x3a && code <= 0x40) || (code >= 0x5b && code <= 0x60) || (code >= 0x7b && code <= 0x7e);
}

/** markdown-it's `isWhiteSpace` below 0x80: tab, line feed, vertical tab, form feed, carriage return, space. */
function isAsciiWhiteSpace(code: number): boolean {
  return (code >= 0x09 && code <= 0x0d) || code === 0x20;
}

function endOfRun(src: string, pos: number, ch: number): number {
  let end = pos + 1;
  while (end < src.length && src.charCodeAt(end) === ch) end++;
  return end;
}

/** The start of the first run of exactly `length` backticks from `from`, or -1. */
function closingRun(src: string, from: number, length: number): number {
  for (let start = src.indexOf('`', from); start >= 0; start = src.indexOf('`', start)) {
    const end = endOfRun(src, start, 0x60);
    if (end - start === length) return start;
    start = end;
  }
  return -1;
}
