import MarkdownIt from 'markdown-it';

export type Token = MarkdownIt.Token;

/**
 * One shared CommonMark+GFM parser. `html: true` makes HTML comments opaque html_block tokens (with
 * html off they would be parsed as paragraphs, and commented-out tasks would become real ones).
 * Tables and strikethrough are on in the default preset; typographer and linkify stay off so the
 * text we match IDs and markers against is the text the user wrote.
 */
const md = new MarkdownIt('default', { html: true, linkify: false, typographer: false });

/** Splits like markdown-it does, so token `map` line numbers index into this array. */
export function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * YAML front matter is not markdown: `---` / `key: value` / `---` would parse as a setext level-2
 * heading and pose as a phase. Blank its lines (keeping the count, so line numbers stay true).
 */
export function blankFrontMatter(lines: string[]): string[] {
  if (lines[0]?.trim() !== '---') return lines;
  const close = lines.findIndex((line, i) => i > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (close < 0) return lines;
  // A file may also open with a `---` rule and use more rules as separators: only a block that
  // reads as YAML (first entry `key: value`, no markdown heading) is front matter.
  const inner = lines.slice(1, close).filter((line) => line.trim() !== '');
  const yamlLike = inner.length > 0 && /^[A-Za-z_][\w-]*\s*:/.test(inner[0]!) && !inner.some((line) => /^#{1,6}\s/.test(line));
  if (!yamlLike) return lines;
  return lines.map((line, i) => (i <= close ? '' : line));
}

export function parseMarkdown(lines: string[]): Token[] {
  return md.parse(lines.join('\n'), {});
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

const CODE_PLACEHOLDER = /\uE000(\d+)\uE001/g;
const STYLE_SENTINELS = /[\uE002-\uE005]/g;

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
  return marked.replace(STYLE_SENTINELS, '').replace(CODE_PLACEHOLDER, (_, n: string) => '`' + (codes[Number(n)] ?? '') + '`');
}

/** Text for searching (`depends on T012`): code content without backticks, sentinels dropped. */
export function searchText(marked: string, codes: string[]): string {
  return marked.replace(STYLE_SENTINELS, '').replace(CODE_PLACEHOLDER, (_, n: string) => codes[Number(n)] ?? '');
}

export function stripStyleSentinels(marked: string): string {
  return marked.replace(STYLE_SENTINELS, '');
}
