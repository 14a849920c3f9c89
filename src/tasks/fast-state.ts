import MarkdownIt from 'markdown-it';

/**
 * Cheaper token and state objects for markdown-it, with exactly the fields, field order, values and
 * prototypes of its own.
 *
 * markdown-it 15's build turns every class field into a `_defineProperty(this, key, value)` helper
 * call (key coerced through `toPropertyKey`, then an `in` check and a keyed store): a Token costs
 * eleven of them, a block state thirteen, an inline state twelve per paragraph. On a 5 MB tasks.md
 * that helper was the largest single cost of the parse, ahead of every markdown rule. The
 * constructors below make the same objects with plain stores, and the block state finds line ends
 * with `indexOf` instead of testing every character; `push`/`pushPending` are markdown-it's own,
 * creating our tokens. Every rule still runs as markdown-it wrote it and sees the same objects
 * (`instanceof` holds: the prototypes are markdown-it's).
 *
 * {@link installFastState} first builds stock and fast objects side by side on a few probe inputs
 * and installs nothing unless they are identical, so a markdown-it upgrade that adds or changes a
 * field silently keeps the stock classes (test/tasks/fast-state.test.ts says so loudly).
 */

type AnyObject = Record<string, unknown>;
type TokenConstructor = new (type: string, tag: string, nesting: number) => MarkdownIt.Token;
type BlockStateConstructor = new (src: string, md: MarkdownIt.MarkdownIt, env: unknown, tokens: MarkdownIt.Token[]) => MarkdownIt.StateBlock;
type InlineStateConstructor = new (src: string, md: MarkdownIt.MarkdownIt, env: unknown, tokens: MarkdownIt.Token[]) => MarkdownIt.StateInline;

const StockToken = MarkdownIt.Token as unknown as TokenConstructor;
const StockBlockState = MarkdownIt.StateBlock as unknown as BlockStateConstructor;
const StockInlineState = MarkdownIt.StateInline as unknown as InlineStateConstructor;

function FastTokenFn(this: AnyObject, type: string, tag: string, nesting: number): void {
  this.map = null;
  this.level = 0;
  this.children = null;
  this.content = '';
  this.markup = '';
  this.info = '';
  this.block = false;
  this.hidden = false;
  this.type = type;
  this.tag = tag;
  this.attrs = null;
  this.nesting = nesting;
  this.meta = null;
}
FastTokenFn.prototype = StockToken.prototype;
const FastToken = FastTokenFn as unknown as TokenConstructor;

function FastBlockStateFn(this: AnyObject, src: string, md: MarkdownIt.MarkdownIt, env: unknown, tokens: MarkdownIt.Token[]): void {
  const bMarks: number[] = [];
  const eMarks: number[] = [];
  const tShift: number[] = [];
  const sCount: number[] = [];
  const bsCount: number[] = [];
  this.bMarks = bMarks;
  this.eMarks = eMarks;
  this.tShift = tShift;
  this.sCount = sCount;
  this.bsCount = bsCount;
  this.blkIndent = 0;
  this.line = 0;
  this.lineMax = 0;
  this.tight = false;
  this.listIndent = -1;
  this.parentType = 'root';
  this.level = 0;
  this.Token = FastToken;
  this.src = src;
  this.md = md;
  this.env = env;
  this.tokens = tokens;
  // As markdown-it's loop: per line, the indent (spaces and tabs) and its width with tabs to 4; a
  // line ends at '\n' or at the end of the text. Like it, a last line of only spaces or tabs with no
  // newline after it is not a line.
  const len = src.length;
  let pos = 0;
  while (pos < len) {
    const start = pos;
    let indent = 0;
    let offset = 0;
    for (; pos < len; pos++) {
      const ch = src.charCodeAt(pos);
      if (ch === 0x20) offset++;
      else if (ch === 0x09) offset += 4 - (offset % 4);
      else break;
      indent++;
    }
    if (pos >= len) break;
    const newline = src.indexOf('\n', pos);
    const end = newline < 0 ? len : newline;
    bMarks.push(start);
    eMarks.push(end);
    tShift.push(indent);
    sCount.push(offset);
    bsCount.push(0);
    pos = end + 1;
  }
  bMarks.push(len);
  eMarks.push(len);
  tShift.push(0);
  sCount.push(0);
  bsCount.push(0);
  this.lineMax = bMarks.length - 1;
}
FastBlockStateFn.prototype = Object.create(StockBlockState.prototype) as object;
(FastBlockStateFn.prototype as AnyObject).push = function push(this: MarkdownIt.StateBlock, type: string, tag: string, nesting: number) {
  const token = new FastToken(type, tag, nesting);
  token.block = true;
  if (nesting < 0) this.level--;
  token.level = this.level;
  if (nesting > 0) this.level++;
  this.tokens.push(token);
  return token;
};
type GetLines = (this: MarkdownIt.StateBlock, begin: number, end: number, indent: number, keepLastLF: boolean) => string;
const stockGetLines = (StockBlockState.prototype as unknown as { getLines: GetLines }).getLines;
/**
 * markdown-it's getLines, for one line (nearly every paragraph and heading) without its array and
 * join: the line from `indent` columns in, tabs counted to 4 (over-read columns as spaces).
 */
(FastBlockStateFn.prototype as AnyObject).getLines = function getLines(this: MarkdownIt.StateBlock, begin: number, end: number, indent: number, keepLastLF: boolean): string {
  if (end - begin !== 1) return stockGetLines.call(this, begin, end, indent, keepLastLF);
  const lineStart = this.bMarks[begin]!;
  const last = keepLastLF ? this.eMarks[begin]! + 1 : this.eMarks[begin]!;
  let first = lineStart;
  let lineIndent = 0;
  while (first < last && lineIndent < indent) {
    const ch = this.src.charCodeAt(first);
    if (ch === 0x09) lineIndent += 4 - ((lineIndent + this.bsCount[begin]!) % 4);
    else if (ch === 0x20 || first - lineStart < this.tShift[begin]!) lineIndent++;
    else break;
    first++;
  }
  const text = this.src.slice(first, last);
  return lineIndent > indent ? ' '.repeat(lineIndent - indent) + text : text;
};
const FastBlockState = FastBlockStateFn as unknown as BlockStateConstructor;

function FastInlineStateFn(this: AnyObject, src: string, md: MarkdownIt.MarkdownIt, env: unknown, outTokens: MarkdownIt.Token[]): void {
  this.pos = 0;
  this.level = 0;
  this.pending = '';
  this.pendingLevel = 0;
  this.cache = {};
  this.backticks = {};
  this.backticksScanned = false;
  this.skipHtmlSpecial = false;
  this.linkLevel = 0;
  this.delimiters = [];
  this._prev_delimiters = [];
  this.Token = FastToken;
  this.src = src;
  this.env = env;
  this.md = md;
  this.tokens = outTokens;
  this.tokens_meta = Array(outTokens.length);
  this.posMax = src.length;
}
interface InlineStateFields {
  pending: string;
  pendingLevel: number;
  level: number;
  delimiters: unknown[];
  _prev_delimiters: unknown[][];
  tokens: MarkdownIt.Token[];
  tokens_meta: unknown[];
  pushPending(): MarkdownIt.Token;
}
FastInlineStateFn.prototype = Object.create(StockInlineState.prototype) as object;
(FastInlineStateFn.prototype as AnyObject).pushPending = function pushPending(this: InlineStateFields) {
  const token = new FastToken('text', '', 0);
  token.content = this.pending;
  token.level = this.pendingLevel;
  this.tokens.push(token);
  this.pending = '';
  return token;
};
(FastInlineStateFn.prototype as AnyObject).push = function push(this: InlineStateFields, type: string, tag: string, nesting: number) {
  if (this.pending) this.pushPending();
  const token = new FastToken(type, tag, nesting);
  let tokenMeta: { delimiters: unknown[] } | undefined = undefined;
  if (nesting < 0) {
    this.level--;
    this.delimiters = this._prev_delimiters.pop()!;
  }
  token.level = this.level;
  if (nesting > 0) {
    this.level++;
    this._prev_delimiters.push(this.delimiters);
    this.delimiters = [];
    tokenMeta = { delimiters: this.delimiters };
  }
  this.pendingLevel = this.level;
  this.tokens.push(token);
  this.tokens_meta.push(tokenMeta);
  return token;
};
const FastInlineState = FastInlineStateFn as unknown as InlineStateConstructor;

/** Own fields as JSON, the markdown-it instance and env left out (they are the arguments). */
function snapshot(value: object): string {
  return JSON.stringify(Object.entries(value).filter(([key]) => key !== 'md' && key !== 'env' && key !== 'Token'));
}

const PROBES = ['', 'a', ' ', '  \t', 'a\n', '\n\n', ' a\n\tb\n  \n c  ', '# h\n\n- [ ] T001 `x` *y*\n  > q\n\t\tz\n   ', 'x\n  \t ', ' \t  \t\ta\n\t \t b\n   \t\tc'];

/** True when the fast objects are the stock ones field for field on the probes (and push as they do). */
export function fastStateMatchesStock(md: MarkdownIt.MarkdownIt): boolean {
  try {
    for (const [type, tag, nesting] of [['paragraph_open', 'p', 1], ['text', '', 0], ['x', 'y', -1]] as const) {
      const stock = new StockToken(type, tag, nesting);
      const fast = new FastToken(type, tag, nesting);
      if (snapshot(stock) !== snapshot(fast) || Object.getPrototypeOf(stock) !== Object.getPrototypeOf(fast)) return false;
    }
    for (const src of PROBES) {
      const env = {};
      const stockBlock = new StockBlockState(src, md, env, []);
      const fastBlock = new FastBlockState(src, md, env, []);
      if (snapshot(stockBlock) !== snapshot(fastBlock) || !(fastBlock instanceof StockBlockState)) return false;
      const stockInline = new StockInlineState(src, md, env, []);
      const fastInline = new FastInlineState(src, md, env, []);
      if (snapshot(stockInline) !== snapshot(fastInline) || !(fastInline instanceof StockInlineState)) return false;
      // The pushes, on both: a pending text, an opening and a closing token.
      for (const state of [stockInline, fastInline]) {
        state.pending = 'p';
        state.push('em_open', 'em', 1);
        state.push('em_close', 'em', -1);
        state.pending = 'q';
        state.pushPending();
      }
      if (snapshot(stockInline) !== snapshot(fastInline) || JSON.stringify(stockInline.tokens) !== JSON.stringify(fastInline.tokens)) return false;
      for (const state of [stockBlock, fastBlock]) {
        state.push('paragraph_open', 'p', 1);
        state.push('paragraph_close', 'p', -1);
      }
      if (snapshot(stockBlock) !== snapshot(fastBlock)) return false;
      if (!getLinesMatchesStock(fastBlock)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** The fast getLines reads every line of `state` as markdown-it's does, at indents 0 to 8, with and without the newline. */
export function getLinesMatchesStock(state: MarkdownIt.StateBlock): boolean {
  for (let line = 0; line < state.lineMax; line++) {
    for (let indent = 0; indent <= 8; indent++) {
      for (const keepLastLF of [false, true]) {
        if (state.getLines(line, line + 1, indent, keepLastLF) !== stockGetLines.call(state, line, line + 1, indent, keepLastLF)) return false;
      }
    }
  }
  return true;
}

/** Makes `md` build its block and inline states (and so its tokens) with the fast constructors, when they match. */
export function installFastState(md: MarkdownIt.MarkdownIt): boolean {
  if (!fastStateMatchesStock(md)) return false;
  (md.block as unknown as { State: unknown }).State = FastBlockState;
  (md.inline as unknown as { State: unknown }).State = FastInlineState;
  return true;
}
