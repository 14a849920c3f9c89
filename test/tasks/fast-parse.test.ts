import MarkdownIt from 'markdown-it';
import { fastStateMatchesStock, getLinesMatchesStock, installFastState } from '../../src/tasks/fast-state';
import { flattenInline, isPlainInline, parseMarkdownFully } from '../../src/tasks/markdown';
import { WHITESPACE_RUN } from '../../src/tasks/white-space';
import { parseTasksMarkdown, parseTasksMarkdownInSegments } from '../../src/tasks/parse';
import { allFixtures, fixtureText, reopened } from './fixture-support';

/**
 * The parser's speed-ups must not change a single token or plan: markdown-it's own objects built
 * faster (src/tasks/fast-state.ts), inline content parsed only when read, and the file parsed in
 * segments cut at top-level headings (src/tasks/parse.ts). Each is compared here with the plain way.
 */

const OPTIONS = { html: true, linkify: false, typographer: false } as const;

/** Shapes that end (or do not end) where a segment would: fences, HTML blocks, heading tasks, tables, references. */
const EDGE_CASES = [
  '',
  '\n',
  '# T001 only heading',
  'a\n   ',
  'a\n\t\n  \t',
  ' \ta\n\t\tb\n  \n c  ',
  'x\u0000y\n- [ ] T001 [ASYNC] nul',
  '## P (ASYNC)\r\n\r\n- [ ] T001 crlf\r\n- [ ] T002 cr\r# T003 heading\r\n',
  '## P (ASYNC)\n\n```\n- [ ] T900 in an unclosed fence\n\n## Not a heading\n\n- [ ] T901 still fence\n',
  '## P (ASYNC)\n\n- [ ] T001 a\n\n<!--\n\n## T002 commented\n\n- [ ] T003 commented\n-->\n\n- [ ] T004 b\n',
  '## T001 [ASYNC] heading task\n\n### sub\n\n- [ ] T002 nested\n\n#### T003 deeper\n\ntext `src/x.ts`\n\n### T004 level 3\n\n## T005 next\n',
  '# T001 [ASYNC] the whole file\n\n## a\n\n- [ ] T002 x\n\n### T003 (ASYNC)\n\n#### b\n\n- [ ] T004 y depends on T002\n',
  '## P (ASYNC)\n\n- [ ] T001 see [the docs][d] depends on T002\n\n# Heading\n\n- [ ] T002 x\n\n[d]: http://example.com\n',
  '## P (ASYNC)\n\n- [ ] T001 see [d]\n\n# Heading\n\n- [d]: http://example.com\n- [ ] T002 [d]\n',
  '# T001 heading task\n| a | b |\n|---|---|\n| T004 | c |\n\n# x | y\n|---|---|\n\n- [ ] T005 after table\n\n## T006 (ASYNC)\n\n1. item\n\n#\n\n- [ ] T007 after empty heading\n',
  '## P (ASYNC)\n\n- [ ] T001 a\n\n   \n# T002 heading\n\n- [ ] T003\n\n\t\n##T004 no space\n\n- [ ] T005 <%54006@x.com>\n- <%54007@x.com>\n',
  '## P (ASYNC)\n\n- [ ] T001 x\n  ```\n  code\n\n# T002 level one task\n\n- [ ] T003 in it\n  <!-- open comment\n\n## after | pipe\n\n- [ ] T004 y\n\n#hashtag\n\n####### seven\n\n> quote\n\n# after quote\n> - [ ] T005 quoted\n',
  '## P (ASYNC)\n- [ ] T001 a\nlazy line\n- [ ] T002 b\n<div>\n- [ ] T003 in html\n\n- [ ] T004 c\n| a |\n|---|\n- [ ] T005 after table\n    code\n- [ ] T006 d\n> q\n- [ ] T007 e\n-\n- - -\n* [ ] T008 star\n+ T009 plus\n-\tT010 tab\n1. T011 num\n- [ ] T012 f\n```\n- [ ] T013 fenced\n',
  '## T001 heading task (ASYNC)\n- [ ] T002 a\n- [ ] T003 b\n  - [ ] T004 nested\n- [ ] T005 c\n<!--\n- [ ] T006 comment\n-->\n- [ ] T007 d depends on T005\n',
];

/** Deterministic edits of a real file: lines that open or close blocks dropped in at random places. */
function mutated(text: string, seed: number): string {
  const snippets = ['```', '~~~', '<!--', '-->', '<pre>', '</pre>', '<div>', '<custom-tag>', '# T777 [ASYNC] heading', '## T778 (ASYNC)', '### Sub', '', '   ', '> quote', '- [ ] T780 [ASYNC] x', '* [ ] T781 y', '-', '- - -', '  - [ ] T782 nested', 'lazy text', '    code', '| a | b |', '|---|---|', '[x]: http://e.com', '---', '==='];
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines = text.split('\n');
  for (let edits = 1 + Math.floor(random() * 6); edits > 0; edits--) {
    const at = Math.floor(random() * lines.length);
    const snippet = snippets[Math.floor(random() * snippets.length)]!;
    if (random() < 0.3) lines.splice(at, 0, '', snippet, '');
    else lines.splice(at, 0, snippet);
  }
  return lines.join('\n');
}

describe('the parser speed-ups change nothing', () => {
  it('builds markdown-it objects the fast way with this markdown-it version', () => {
    // False would only mean slower parsing (the stock classes are kept), but it should be noticed.
    expect(fastStateMatchesStock(new MarkdownIt('default', OPTIONS))).toBe(true);
  });

  it('reads lines (getLines) as markdown-it does, also with the indents and tab offsets lists and quotes set', () => {
    const md = new MarkdownIt('default', OPTIONS);
    expect(installFastState(md)).toBe(true);
    const State = (md.block as unknown as { State: new (src: string, md: MarkdownIt.MarkdownIt, env: object, tokens: MarkdownIt.Token[]) => MarkdownIt.StateBlock }).State;
    let state = 1;
    const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const texts = [...allFixtures().map((name) => fixtureText(name)), ...EDGE_CASES, '\t\ta\n \t b\n  \t\t  c\n\t'];
    for (const text of texts) {
      const block = new State(text, md, {}, []);
      expect(getLinesMatchesStock(block)).toBe(true);
      // What the list and blockquote rules do to a line while they parse inside it.
      for (let line = 0; line < block.lineMax; line++) {
        block.bsCount[line] = Math.floor(random() * 4);
        const length = block.eMarks[line]! - block.bMarks[line]!;
        const skip = Math.floor(random() * (Math.min(length, 6) + 1));
        block.bMarks[line] = block.bMarks[line]! + skip;
        block.tShift[line] = Math.max(0, block.tShift[line]! - skip + Math.floor(random() * 3) - 1);
      }
      expect(getLinesMatchesStock(block)).toBe(true);
    }
  });

  it('gives exactly the tokens of markdown-it md.parse, every inline token parsed on demand', () => {
    const stock = new MarkdownIt('default', OPTIONS);
    const texts = [...allFixtures().map((name) => fixtureText(name)), ...EDGE_CASES];
    for (const text of texts) {
      expect(JSON.stringify(parseMarkdownFully(text))).toBe(JSON.stringify(stock.parse(text, {})));
    }
  });

  it('takes inline text without inline syntax as it is, as markdown-it would read it', () => {
    const texts = [...allFixtures().map((name) => fixtureText(name)), ...EDGE_CASES, 'a: b - c (d) #e $f %g +h =i >j @k ]l ^m {n} !o', 'x\u00a0y\u2028z'];
    let plain = 0;
    for (const token of texts.flatMap((text) => parseMarkdownFully(text))) {
      if (token.type !== 'inline' || !isPlainInline(token.content)) continue;
      plain++;
      expect(flattenInline(token.children)).toEqual({ marked: token.content, codes: [] });
    }
    expect(plain).toBeGreaterThan(1000);
  });

  it('collapses white space exactly as /\\s+/g does', () => {
    const pieces = [' ', '  ', '\t', '\n', '\u00a0', '\u2028', '\ufeff', '\u3000', 'a', 'bc'];
    let state = 1;
    const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      for (let n = Math.floor(random() * 8); n > 0; n--) text += pieces[Math.floor(random() * pieces.length)];
      expect(text.replace(WHITESPACE_RUN, ' ')).toBe(text.replace(/\s+/g, ' '));
    }
  });

  it('reads a file in segments exactly as in one piece', () => {
    const texts = allFixtures().flatMap((name) => {
      const text = fixtureText(name);
      return [text, reopened(text), text.replace(/^(##\s.*)$/gm, '$1 (ASYNC)'), ...[1, 2, 3].map((seed) => mutated(text, seed * 7919 + text.length))];
    });
    for (const text of [...texts, ...EDGE_CASES]) {
      const opts = { file: 'specs/001-x/tasks.md', feature: '001-x' };
      const whole = parseTasksMarkdownInSegments(text, opts, null);
      expect(parseTasksMarkdown(text, opts)).toEqual(whole);
      // Cut wherever it may be cut: every heading after a blank line, every bullet item at column 0.
      expect(parseTasksMarkdownInSegments(text, opts, 1)).toEqual(whole);
    }
  });
});
