import { withCodes } from '../../src/tasks/markdown';
import { trailingMarker } from '../../src/tasks/task-head';
import { isRegExpSpace } from '../../src/tasks/white-space';

/**
 * Hand-written scans that stand in for regexes in the task head and the inline text
 * (src/tasks/white-space.ts, task-head.ts, markdown.ts) must find exactly what the regexes find.
 */

function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function randomText(random: () => number, pieces: string[], maxPieces: number): string {
  let text = '';
  for (let n = Math.floor(random() * (maxPieces + 1)); n > 0; n--) text += pieces[Math.floor(random() * pieces.length)];
  return text;
}

const SPACES = [' ', '  ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u200a', '\u200b', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u0085'];

describe('hand-written text scans equal the regexes they replace', () => {
  it('takes as white space exactly the code units \\s matches', () => {
    for (let code = 0; code <= 0xffff; code++) expect([code, isRegExpSpace(code)]).toEqual([code, /\s/.test(String.fromCharCode(code))]);
    expect(isRegExpSpace(NaN)).toBe(false);
  });

  it('finds no status emoji among ASCII characters (the task head tries the emoji pattern only past them)', () => {
    for (let code = 0; code < 0x80; code++) expect(/^(?:\p{Extended_Pictographic}|[\u2713\u2717])/u.test(String.fromCharCode(code))).toBe(false);
  });

  it('finds the trailing marker /\\s*\\[([^[\\]\\n]+)\\]\\s*$/ finds', () => {
    const random = seeded(5);
    const pieces = [...SPACES.slice(0, 6), '[', ']', '[P]', '[ ]', '[]', 'a', 'US1', '\uE0000\uE001', ']]', '[['];
    const pattern = /\s*\[([^[\]\n]+)\]\s*$/;
    for (let i = 0; i < 30_000; i++) {
      const text = randomText(random, pieces, 8);
      const match = pattern.exec(text);
      expect(trailingMarker(text)).toEqual(match ? { index: match.index, name: match[1] } : null);
    }
  });

  it('puts code back for placeholders as the placeholder pattern does', () => {
    const random = seeded(11);
    const pieces = ['\uE000', '\uE001', '0', '1', '2', '12', 'a', ' ', '\uE0000\uE001', '\uE0001\uE001', '\uE00099\uE001', '\uE000\uE001'];
    const codes = ['x', 'y/z.ts', ''];
    for (let i = 0; i < 20_000; i++) {
      const text = randomText(random, pieces, 8);
      for (const fence of ['`', '']) {
        expect(withCodes(text, codes, fence)).toBe(text.replace(/\uE000(\d+)\uE001/g, (_, n: string) => fence + (codes[Number(n)] ?? '') + fence));
      }
    }
  });
});
