import MarkdownIt from 'markdown-it';
import { installFastState } from '../../src/tasks/fast-state';
import { inlineReader } from '../../src/tasks/inline-reader';
import { flattenInline, parseMarkdown, parseMarkdownFully } from '../../src/tasks/markdown';
import { allFixtures, fixtureText } from './fixture-support';

/**
 * The hand-written inline reader (src/tasks/inline-reader.ts) must leave exactly the tokens of
 * markdown-it's inline parse wherever it reads content, and leave the rest to markdown-it.
 */

const OPTIONS = { html: true, linkify: false, typographer: false } as const;
const stock = new MarkdownIt('default', OPTIONS);
const fast = new MarkdownIt('default', OPTIONS);
installFastState(fast);
const readInline = inlineReader(fast);

/** markdown-it's inline parse of `content` alone, as the child tokens of the one inline token. */
function stockChildren(content: string, env: Record<string, unknown> = {}): MarkdownIt.Token[] {
  return stock.parseInline(content, env)[0]?.children ?? [];
}

/** Pieces of inline syntax for random content: text, punctuation, white space, and what the reader reads. */
const PIECES = [
  'a', 'b', 'T001', ' ', ' ', '  ', '   ', '\t', '\n', '\n  ', '  \n', '.', ',', ':', '-', '(', ')', '!', '#', '|', '=', '+', '@', '%', '$', '^', '{', '}', '"', "'",
  '*', '**', '***', '_', '__', '___', '~', '~~', '~~~', '~~~~', '`', '``', '```', '[', ']', '[P]', '[ ]', '[x]', '[US1]', '![', '&', '& ', '&&',
  '`<b>`', '`\\`', '`&amp;`', '&;',
  'é', '中', '😀', '\u00a0', '\u3000', '\u2028', '\uE000', '—', '…', '¡', '§',
];
/** Outside the reader's reach (it must decline them), sprinkled in rarely. */
const DECLINED = [
  '\\', '\\*', '\\\n', '<', '<b>', '<http://x.y>', '](', '](u)', '&amp;', '&#84;', '&x', '&#', '`](x)`',
];

function piece(random: () => number): string {
  return random() < 0.02 ? DECLINED[Math.floor(random() * DECLINED.length)]! : PIECES[Math.floor(random() * PIECES.length)]!;
}

function randomContent(random: () => number): string {
  let text = '';
  for (let n = 1 + Math.floor(random() * 14); n > 0; n--) text += piece(random);
  return text;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** The inline content of every inline token of a document (what the block pass hands the inline parse). */
function inlineContents(text: string): string[] {
  return stock.parse(text, {}).flatMap((token) => (token.type === 'inline' ? [token.content] : []));
}

describe('the inline reader reads as markdown-it does', () => {
  it('gives the tokens of md.parse for every inline token of every fixture, in its document', () => {
    let read = 0;
    let total = 0;
    for (const name of allFixtures()) {
      const env = {};
      for (const token of stock.parse(fixtureText(name), env)) {
        if (token.type !== 'inline') continue;
        total++;
        const tokens = readInline(token.content, env);
        if (tokens === null) continue;
        read++;
        expect(JSON.stringify(tokens)).toBe(JSON.stringify(token.children));
      }
    }
    // It must read nearly all of it, not decline its way to green.
    expect(read / total).toBeGreaterThan(0.9);
  });

  it('gives the tokens of markdown-it on random content with code spans, emphasis, strikethrough, brackets and breaks', () => {
    const random = seeded(42);
    let read = 0;
    for (let i = 0; i < 30_000; i++) {
      const content = randomContent(random);
      const tokens = readInline(content, {});
      if (tokens === null) continue;
      read++;
      expect(JSON.stringify(tokens)).toBe(JSON.stringify(stockChildren(content)));
    }
    expect(read).toBeGreaterThan(20_000);
  });

  it('gives the tokens of markdown-it on fixture lines with syntax dropped in', () => {
    const lines = allFixtures().flatMap((name) => inlineContents(fixtureText(name)));
    const random = seeded(7);
    let read = 0;
    for (let i = 0; i < 20_000; i++) {
      const line = lines[Math.floor(random() * lines.length)]!;
      let content = line;
      for (let edits = 1 + Math.floor(random() * 4); edits > 0; edits--) {
        const at = Math.floor(random() * (content.length + 1));
        content = content.slice(0, at) + piece(random) + content.slice(at);
      }
      const tokens = readInline(content, {});
      if (tokens === null) continue;
      read++;
      expect(JSON.stringify(tokens)).toBe(JSON.stringify(stockChildren(content)));
    }
    expect(read).toBeGreaterThan(15_000);
  });

  it('declines what it does not read: escapes, HTML, autolinks, entities, links, and any document with references', () => {
    for (const content of ['a \\* b', 'x <b>y</b>', '<http://a.b>', 'a &amp; b', '&#84;001', 'see [x](y)', '![i](u)', '`a` <b>', '`x`](y)']) {
      expect(readInline(content, {})).toBeNull();
    }
    expect(readInline('- [x] T001 `a` **b**', { references: {} })).toBeNull();
    for (const content of ['T001 & T002', 'a&', '[P] [x]', '![alt] x', 'a ] ( b', '~x~ ~~y~~', '`a` ``b`` `c', 'run `<cmd> \\n` &;']) {
      expect(readInline(content, {})).not.toBeNull();
    }
  });

  it('flattens every inline token of a document as markdown-it`s own parse does', () => {
    // The lazy document's text (reader, plain shortcut or markdown-it) against the fully parsed tokens.
    const texts = allFixtures().map((name) => fixtureText(name));
    texts.push('## P (ASYNC)\n\n- [ ] T001 see [d] *a*\n\n[d]: http://example.com\n', '- [ ] T001 <b>x</b> \\* &amp; [l](u) `c`\n');
    for (const text of texts) {
      const lazy = parseMarkdown(text);
      parseMarkdownFully(text).forEach((token, index) => {
        if (token.type === 'inline') expect(lazy.inline(index)).toEqual(flattenInline(token.children));
      });
    }
  });
});
