/**
 * GitGateway on the git CLI: `git ls-remote` against the remote. A token, when given, is read from a
 * file by a credential helper at call time: never in the URL, argv, or the environment of other processes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { GitGateway } from './gateway';

const run = promisify(execFile);

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]+@/, '//***@');
}

export function createCliGitGateway(opts: { tokenFile?: string; username?: string; timeoutMs?: number } = {}): GitGateway {
  return {
    async branchHead(repoUrl: string, branch: string): Promise<string | undefined> {
      const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
      if (opts.tokenFile) {
        // git runs this helper itself; the helper reads the file. The token never appears in argv.
        env.GIT_CONFIG_COUNT = '2';
        env.GIT_CONFIG_KEY_0 = 'credential.helper';
        env.GIT_CONFIG_VALUE_0 = '';
        env.GIT_CONFIG_KEY_1 = 'credential.helper';
        env.GIT_CONFIG_VALUE_1 = `!f() { test "$1" = get || exit 0; echo username=${opts.username ?? 'x-access-token'}; printf 'password=%s\\n' "$(cat "$SDLC_GIT_TOKEN_FILE")"; }; f`;
        env.SDLC_GIT_TOKEN_FILE = opts.tokenFile;
      }
      try {
        const { stdout } = await run('git', ['ls-remote', '--heads', '--', repoUrl, `refs/heads/${branch}`], { env, timeout: opts.timeoutMs ?? 30_000 });
        const line = stdout.split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
        return line?.split('\t')[0];
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-2).join(' ');
        throw new Error(`git ls-remote ${redactUrl(repoUrl)} failed: ${stderr || (err as Error).message}`);
      }
    },
  };
}
