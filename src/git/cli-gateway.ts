/**
 * GitGateway on the git CLI: `git ls-remote` against the remote. A token, when given, is read from a
 * file by a credential helper at call time: never in the URL, argv, or the environment of other processes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { credentialOrigin } from '../../docker/agent/git';
import { GitRemoteError, type GitGateway } from './gateway';

const run = promisify(execFile);

/** What git prints when the remote refuses us for good (HTTP 401/403/404, SSH key refused, no such repo). */
const PERMANENT_GIT_FAILURE = /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied|Repository not found|repository '[^']*' not found|does not appear to be a git repository|returned error: 40[134]|Invalid username or password|Host key verification failed/i;

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]+@/, '//***@');
}

/** A username the credential protocol carries as is: no whitespace (a newline would add protocol lines), ':' or '@'. */
export const PLAIN_GIT_USERNAME = /^[A-Za-z0-9._~+-]+$/;

export function createCliGitGateway(opts: { tokenFile?: string; username?: string; timeoutMs?: number } = {}): GitGateway {
  const username = opts.username ?? 'x-access-token';
  if (!PLAIN_GIT_USERNAME.test(username)) {
    throw new Error(`git username ${JSON.stringify(username)} is not a plain username: use letters, digits and . _ ~ + - only`);
  }
  return {
    async branchHead(repoUrl: string, branch: string): Promise<string | undefined> {
      const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
      const origin = credentialOrigin(repoUrl);
      if (opts.tokenFile && origin) {
        // git runs this helper itself; the helper reads the file. The token never appears in argv.
        // Scoped to the repository's scheme://host[:port], so a redirect to another host gets no token.
        // The username also comes from the environment, never spliced into the shell text.
        env.GIT_CONFIG_COUNT = '2';
        env.GIT_CONFIG_KEY_0 = 'credential.helper';
        env.GIT_CONFIG_VALUE_0 = '';
        env.GIT_CONFIG_KEY_1 = `credential.${origin}.helper`;
        env.GIT_CONFIG_VALUE_1 = `!f() { test "$1" = get || exit 0; printf 'username=%s\\n' "$SDLC_GIT_USERNAME"; printf 'password=%s\\n' "$(cat "$SDLC_GIT_TOKEN_FILE")"; }; f`;
        env.SDLC_GIT_TOKEN_FILE = opts.tokenFile;
        env.SDLC_GIT_USERNAME = username;
      }
      try {
        const { stdout } = await run('git', ['ls-remote', '--heads', '--', repoUrl, `refs/heads/${branch}`], { env, timeout: opts.timeoutMs ?? 30_000 });
        const line = stdout.split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
        return line?.split('\t')[0];
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-2).join(' ');
        const detail = stderr || (err as Error).message;
        if (PERMANENT_GIT_FAILURE.test(stderr)) {
          throw new GitRemoteError(
            `git ls-remote ${redactUrl(repoUrl)} failed: ${detail}. Fix: check that the repository URL is right and that the worker's git credentials ` +
              `(SDLC_GIT_TOKEN_FILE${opts.tokenFile ? '' : ', not set'}) can read it`,
            false,
          );
        }
        throw new GitRemoteError(`git ls-remote ${redactUrl(repoUrl)} failed: ${detail}`, true);
      }
    },
  };
}
