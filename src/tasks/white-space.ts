/** White space as JavaScript regexes read it (`\s`). */

/**
 * A UTF-16 code unit that `\s` matches: ECMAScript white space and line terminators (the test
 * compares it with `\s` on every code unit).
 */
export function isRegExpSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

/**
 * With `' '`, the same replacement as `/\s+/g`: every run of white space becomes one space. A run
 * that already is one space is left alone instead of being replaced by itself, which makes the
 * common case (words separated by single spaces) several times faster.
 */
export const WHITESPACE_RUN = /\s{2,}|[^\S ]/g;
