/**
 * Whether git can use a name as a branch: the rules of `git check-ref-format --branch`, in pure
 * TypeScript because the parser runs inside the workflow sandbox (no git there) and the CLI checks
 * --base and --integration-branch before anything starts. A name git refuses would only fail once
 * an agent pod tries to push, after the run has spent its time.
 *
 * Returns what is wrong, phrased to follow "is not a valid git branch name: ", or undefined when
 * the name is fine.
 */
export function refNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name === '@') return 'it is "@" (git reads a lone @ as HEAD)';
  // `git branch HEAD` and `git branch -x` are refused, though refs/heads/HEAD would be well formed.
  if (name === 'HEAD') return 'it is "HEAD" (git reserves it for the checked-out commit)';
  if (name.startsWith('-')) return 'it starts with "-" (git would read it as an option)';
  if (name.startsWith('/')) return 'it starts with "/"';
  if (name.endsWith('/')) return 'it ends with "/"';
  if (name.endsWith('.')) return 'it ends with "."';
  if (name.includes('//')) return 'it contains "//" (an empty path component)';
  if (name.includes('..')) return 'it contains ".."';
  if (name.includes('@{')) return 'it contains "@{"';
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) return `it contains the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    if (char === ' ') return 'it contains a space';
    if ('~^:?*[\\'.includes(char)) return `it contains "${char}" (git does not allow any of ~ ^ : ? * [ \\)`;
  }
  for (const component of name.split('/')) {
    if (component.startsWith('.')) return `a path component starts with "." ("${component}")`;
    if (component.endsWith('.lock')) return `a path component ends with ".lock" ("${component}")`;
  }
  return undefined;
}
