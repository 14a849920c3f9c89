import MarkdownIt from 'markdown-it';
import { installFastState } from './fast-state';
import { inlineReader } from './inline-reader';

export type Token = MarkdownIt.Token;

/**
 * One CommonMark+GFM configuration. `html: true` makes HTML comments opaque html_block tokens (with
 * html off they would be parsed as paragraphs, and commented-out tasks would become real ones).
 * Tables and strikethrough are on in the default preset; typographer and linkify stay off so the
 * text we match IDs and markers against is the text the user wrote.
 *
 * Two instances of it split markdown-it's core chain where its `inline` rule starts: `blockMd` runs
 * the chain up to there (block structure; inline tokens keep their raw `content`, `children` empty),
 * `inlineMd` runs the rest of it on one inline token at a time, when the parser first asks for that
 * token's text. A token's inline parse depends only on its content and on the document's link
 * reference definitions (in `env`, complete once the block phase is done), so the result is the
 * same as `md.parse`; the parser never pays for paragraphs, table cells and prose items it does not
 * read (most of a large file's inline content).
 */
const OPTIONS = { html: true, linkify: false, typographer: false } as const;
const blockMd = new MarkdownIt('default', OPTIONS);
const inlineMd = new MarkdownIt('default', OPTIONS);
{
  const names = (blockMd.core.ruler as unknown as { __rules__: { name: string }[] }).__rules__.map((rule) => rule.name);
  const inlineAt = names.indexOf('inline');
  blockMd.core.ruler.disable(names.slice(inlineAt));
  inlineMd.core.ruler.disable(names.slice(0, inlineAt));
  installFastState(blockMd);
  installFastState(inlineMd);
  // markdown-it's normalize rewrites the whole text (two replacements) even when it has no '\r' and no
  // NUL to replace, as the text the parser hands it almost never has.
  const rules = (blockMd.core.ruler as unknown as { __rules__: { name: string; fn: (state: MarkdownIt.StateCore) => void }[] }).__rules__;
  const normalize = rules.find((rule) => rule.name === 'normalize')!.fn;
  blockMd.core.ruler.at('normalize', (state) => {
    if (state.src.includes('\r') || state.src.includes('\0')) normalize(state);
  });
}
const readInline = inlineReader(inlineMd);

/** Splits like markdown-it does, so token `map` line numbers index into this array. */
export function splitLines(text: string): string[] {
  return text.includes('\r') ? text.split(/\r\n|\r|\n/) : text.split('\n');
}

/**
 * YAML front matter is not markdown: `---` / `key: value` / `---` would parse as a setext level-2
 * heading and pose as a phase. Blank its lines (keeping the count, so line numbers stay true).
 * Returns `lines` itself when there is none.
 */
export function blankFrontMatter(lines: string[]): string[] {
  const close = frontMatterEnd(lines);
  return close < 0 ? lines : lines.map((line, i) => (i <= close ? '' : line));
}

/** The index of the line that closes the front matter, or -1 when the file has none. */
export function frontMatterEnd(lines: string[]): number {
  if (lines[0]?.trim() !== '---') return -1;
  const close = lines.findIndex((line, i) => i > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (close < 0) return -1;
  // A file may also open with a `---` rule and use more rules as separators: only a block that
  // reads as YAML (first entry `key: value`, no markdown heading) is front matter.
  const inner = lines.slice(1, close).filter((line) => line.trim() !== '');
  const yamlLike = inner.length > 0 && /^[A-Za-z_][\w-]*\s*:/.test(inner[0]!) && !inner.some((line) => /^#{1,6}\s/.test(line));
  return yamlLike ? close : -1;
}

/** A parsed document: markdown-it's block tokens, and the inline text of each, parsed when first read. */
export interface MarkdownDocument {
  tokens: Token[];
  /**
   * The flattened inline content of `tokens[index]` (see {@link flattenInline}); empty for a
   * missing or non-inline token. Parsed once, on first use; the same object on every call.
   */
  inline(index: number): InlineText;
}

const NO_INLINE: InlineText = Object.freeze({ marked: '', codes: Object.freeze([]) as unknown as string[] });

/** Parses markdown text (lines joined by `\n`, as {@link splitLines} splits them). */
export function parseMarkdown(text: string, opts: { keepChildren?: boolean } = {}): MarkdownDocument {
  const env = {};
  const tokens = blockMd.parse(text, env);
  const flattened: (InlineText | undefined)[] = new Array(tokens.length);
  const state = new inlineMd.core.State('', inlineMd, env);
  return {
    tokens,
    inline(index: number): InlineText {
      const token = tokens[index];
      if (token === undefined || token.type !== 'inline') return NO_INLINE;
      let text = flattened[index];
      if (text === undefined && !opts.keepChildren) {
        if (isPlainInline(token.content)) text = { marked: token.content, codes: [] };
        else {
          // Most of the rest is read without markdown-it's inline rule loop (see inline-reader.ts).
          const children = readInline(token.content, env);
          if (children) text = flattenInline(children);
        }
        if (text !== undefined) flattened[index] = text;
      }
      if (text === undefined) {
        state.tokens = [token];
        inlineMd.core.process(state);
        text = flattenInline(token.children);
        // Only the flattened text is read from here on: the child tokens can die young instead of
        // living (and being copied by the GC) as long as the document.
        if (!opts.keepChildren) token.children = [];
        flattened[index] = text;
      }
      return text;
    },
  };
}

/**
 * Characters with which an inline rule can start (with html on, linkify and typographer off): escape,
 * code span, strikethrough, emphasis, link and image, autolink and HTML, entity, line break. Inline
 * text without any of them is one text token of the text itself (none at all when empty), so its
 * flattened form is the text: no need to run the inline parser (most headings and many items).
 */
const INLINE_SYNTAX = /[\\`~*_[<&\n]/;

export function isPlainInline(content: string): boolean {
  return !INLINE_SYNTAX.test(content);
}

/** Every inline token parsed, children kept, as `md.parse` leaves them (for tests: the lazy path must equal it). */
export function parseMarkdownFully(text: string): Token[] {
  const document = parseMarkdown(text, { keepChildren: true });
  document.tokens.forEach((_, index) => document.inline(index));
  return document.tokens;
}

/**
 * Inline content flattened to one string so IDs and markers can be matched on the text as the
 * reader sees it (escapes resolved, emphasis removed). What must not be lost is kept out-of-band:
 * code spans become placeholders (markers inside code do not count), and strikethrough / emphasis
 * boundaries become private-use sentinels (a struck ID means "skipped").
 */
export interface InlineText {
  marked: string;
  codes: string[];
}

export const SENTINEL = {
  CODE_OPEN: '\uE000',
  CODE_CLOSE: '\uE001',
  STRIKE_OPEN: '\uE002',
  STRIKE_CLOSE: '\uE003',
  EMPHASIS_OPEN: '\uE004',
  EMPHASIS_CLOSE: '\uE005',
} as const;

const STYLE_SENTINELS = /[\uE002-\uE005]/g;
/** Text without any sentinel is its own display and search text. */
const ANY_SENTINEL = /[\uE000-\uE005]/;

export function flattenInline(children: Token[] | null): InlineText {
  const codes: string[] = [];
  let marked = '';
  for (const child of children ?? []) {
    switch (child.type) {
      case 'text':
      case 'text_special':
        marked += child.content;
        break;
      case 'code_inline':
        marked += `${SENTINEL.CODE_OPEN}${codes.length}${SENTINEL.CODE_CLOSE}`;
        codes.push(child.content);
        break;
      case 'softbreak':
      case 'hardbreak':
        marked += '\n';
        break;
      case 's_open':
        marked += SENTINEL.STRIKE_OPEN;
        break;
      case 's_close':
        marked += SENTINEL.STRIKE_CLOSE;
        break;
      // `_` emphasis in a task line is nearly always a mangled identifier (`__init__.py`,
      // `snake_case_name`), so it stays literal text; `*` emphasis is formatting.
      case 'strong_open':
      case 'em_open':
        marked += child.markup.startsWith('_') ? child.markup : SENTINEL.EMPHASIS_OPEN;
        break;
      case 'strong_close':
      case 'em_close':
        marked += child.markup.startsWith('_') ? child.markup : SENTINEL.EMPHASIS_CLOSE;
        break;
      case 'image':
        marked += child.content;
        break;
      case 'html_inline':
        if (/^<br\b/i.test(child.content)) marked += '\n';
        break;
      default:
        // link_open/link_close and other markup carry no text of their own.
        break;
    }
  }
  return { marked, codes };
}

/** Readable text: code spans back in backticks, style sentinels dropped. */
export function displayText(marked: string, codes: string[]): string {
  if (!ANY_SENTINEL.test(marked)) return marked;
  return withCodes(marked.replace(STYLE_SENTINELS, ''), codes, '`');
}

/** Text for searching (`depends on T012`): code content without backticks, sentinels dropped. */
export function searchText(marked: string, codes: string[]): string {
  if (!ANY_SENTINEL.test(marked)) return marked;
  return withCodes(marked.replace(STYLE_SENTINELS, ''), codes, '');
}

/**
 * `text.replace(/\uE000(\d+)\uE001/g, (_, n) => fence + (codes[Number(n)] ?? '') + fence)`, without
 * a callback per placeholder (the largest cost of a task's title and search text).
 */
export function withCodes(text: string, codes: string[], fence: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(SENTINEL.CODE_OPEN); at >= 0; at = text.indexOf(SENTINEL.CODE_OPEN, at + 1)) {
    let end = at + 1;
    while (end < text.length && text.charCodeAt(end) >= 0x30 && text.charCodeAt(end) <= 0x39) end++;
    if (end === at + 1 || text.charCodeAt(end) !== 0xe001) continue;
    out += text.slice(from, at) + fence + (codes[Number(text.slice(at + 1, end))] ?? '') + fence;
    from = end + 1;
    at = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

export function stripStyleSentinels(marked: string): string {
  return marked.replace(STYLE_SENTINELS, '');
}
