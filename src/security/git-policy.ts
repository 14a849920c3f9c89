/**
 * What repositories and branches a worker lets a run use. The worker's git token goes to whatever host a
 * run's repository URL names, and the worker pushes to its task branches: a URL on another host (or in
 * clear text, or on the worker's own disk) or a branch outside the agents' namespace is refused before
 * anything starts. Pure: parsed once from the worker's configuration, applied by an activity at run start.
 */

/** One allowed origin: `github.com`, `*.corp.example`, `git.corp.example:8443`; a scheme prefix allows exactly that scheme. */
export interface GitHostRule {
  /** `https`/`ssh` unless the entry names its scheme (`http://127.0.0.1:*` for a local dev server, `file://` for tests). */
  schemes: string[];
  /** Lower-case host, or `*.suffix` for any subdomain; empty for `file://`. */
  host: string;
  /** A port, `*` for any, or undefined for the scheme's default port only. */
  port?: string;
}

const SECURE_SCHEMES = ['https', 'ssh'];

/** Parses `SDLC_ALLOWED_GIT_HOSTS` (comma- or space-separated); throws with the bad entry and the accepted forms. */
export function parseAllowedGitHosts(text: string): GitHostRule[] {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) throw new Error('no host given: list the git hosts runs may use, e.g. github.com');
  return entries.map((entry) => {
    const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?([^/:\s]*)(?::(\d{1,5}|\*))?\/?$/i.exec(entry);
    const scheme = m?.[1]?.toLowerCase();
    const host = m?.[2]?.toLowerCase() ?? '';
    if (!m || (scheme === 'file' ? host !== '' || m[3] : !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host))) {
      throw new Error(`'${entry}' is not a git host: use host, *.domain or host:port (https and ssh), or scheme://host[:port|:*] for another scheme (e.g. http://127.0.0.1:* for a local dev server)`);
    }
    if (scheme && !['https', 'ssh', 'http', 'file'].includes(scheme)) throw new Error(`'${entry}': scheme ${scheme} is not a git transport the runner uses (https, ssh; http and file only for local servers)`);
    return { schemes: scheme ? [scheme] : SECURE_SCHEMES, host, port: m[3] };
  });
}

/** A repository URL as scheme, host, port and path; scp-like `git@host:path` is ssh. Undefined when it is not a URL git can use. */
function parseRepoUrl(url: string): { scheme: string; host: string; port?: string; path: string } | undefined {
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)([^\s]+)$/.exec(url);
  if (scp && !url.includes('://')) return { scheme: 'ssh', host: scp[1]!.toLowerCase(), path: scp[2]! };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return { scheme: u.protocol.replace(/:$/, ''), host: u.hostname.toLowerCase().replace(/^\[|\]$/g, ''), port: u.port || undefined, path: u.pathname };
}

const GIT_URL_FORMS = 'https://host/owner/repo.git, ssh://git@host/owner/repo.git or git@host:owner/repo.git';

/**
 * Why `url` is no repository URL a run can use whatever the worker allows, or undefined: the check where
 * the URL enters (the CLI), before any allowlist. A local path is refused (the agent pods clone from a
 * server, and the worker cannot parse it); http:// and file:// pass here, since a worker may allow them
 * by name (SDLC_ALLOWED_GIT_HOSTS), and its allowlist decides at run start.
 */
export function gitUrlProblem(url: string): string | undefined {
  const u = parseRepoUrl(url);
  if (!u) {
    // `/srv/app.git`, `./app`, `~/src/app`, `../app.git`, `repos/app.git`: what `git clone` would take from this machine's disk.
    const local = /^(?:\.{0,2}\/|~|\.{1,2}$)/.test(url) || (!/[:@\s]/.test(url) && /^[\w.-]+(?:\/[\w.-]+)+\/?$/.test(url));
    return local
      ? `'${url}' is a local path, not a git URL: the agent pods clone from the repository's server (${GIT_URL_FORMS})`
      : `'${url}' is not a git URL (${GIT_URL_FORMS})`;
  }
  if (!['https', 'ssh', 'http', 'file'].includes(u.scheme)) return `'${url}' uses ${u.scheme}://, which the runner does not clone from (${GIT_URL_FORMS})`;
  if (u.scheme !== 'file' && !u.host) return `'${url}' names no host (${GIT_URL_FORMS})`;
  if (!u.path.replace(/^\/+/, '')) return `'${url}' names no repository (${GIT_URL_FORMS})`;
  return undefined;
}

function hostMatches(rule: GitHostRule, host: string): boolean {
  return rule.host.startsWith('*.') ? host.endsWith(rule.host.slice(1)) && host.length > rule.host.length - 1 : host === rule.host;
}

/** Why a run may not use this repository URL, or undefined when the allowlist admits it. */
export function repoUrlProblem(url: string, rules: GitHostRule[]): string | undefined {
  const u = parseRepoUrl(url);
  if (!u) return `'${url}' is not a git URL (https://host/owner/repo.git or ssh://git@host/owner/repo.git)`;
  const allowed = rules.some((r) => r.schemes.includes(u.scheme) && (u.scheme === 'file' || (hostMatches(r, u.host) && (r.port === '*' || r.port === u.port))));
  if (allowed) return undefined;
  const where = u.scheme === 'file' ? 'file://' : `${u.scheme}://${u.host}${u.port ? `:${u.port}` : ''}`;
  const why = SECURE_SCHEMES.includes(u.scheme)
    ? "is not in the worker's allowlist"
    : `uses ${u.scheme}, which ${u.scheme === 'file' ? "reads the worker's own disk" : "sends the worker's git token in clear text"}, and is not allowed explicitly`;
  return `repository ${where} ${why} (SDLC_ALLOWED_GIT_HOSTS: ${rules.map(describeRule).join(', ')}). Fix: use an https:// or ssh:// URL on an allowed host, or ask the operator to allow the host (chart value git.allowedHosts)`;
}

function describeRule(r: GitHostRule): string {
  const host = `${r.host}${r.port ? `:${r.port}` : ''}`;
  return r.schemes === SECURE_SCHEMES ? host : `${r.schemes[0]}://${host}`;
}

/** Why a task branch is outside the agents' namespace (the worker pushes to it), or undefined. */
export function branchPrefixProblem(branch: string, prefix: string): string | undefined {
  if (!prefix || branch.startsWith(prefix)) return undefined;
  return `branch '${branch}' is outside '${prefix}', the only branches this worker lets agents push. Fix: use a --branch-pattern that starts with '${prefix}' (the default specs/{feature}/{taskId}-async does), or ask the operator to change SDLC_TASK_BRANCH_PREFIX`;
}

/**
 * Why the task branches a pattern makes can fall outside the prefix, or undefined. Exact for the part of
 * the pattern before the task ID (`specs/{feature}/…`), which is where a prefix lives.
 */
export function branchPatternPrefixProblem(pattern: string, feature: string, prefix: string): string | undefined {
  if (!prefix) return undefined;
  const head = pattern.split(/\{taskId(?:Lower)?\}/)[0]!.replace(/\{feature\}/g, feature);
  if (head.startsWith(prefix)) return undefined;
  return `task branches '${pattern.replace(/\{feature\}/g, feature)}' (--branch-pattern '${pattern}') are outside '${prefix}', the only branches this worker lets agents push. Fix: use a --branch-pattern that starts with '${prefix}' (the default specs/{feature}/{taskId}-async does), or ask the operator to change SDLC_TASK_BRANCH_PREFIX`;
}
