/**
 * Reading the agent pods' log archives (docker/agent/log-archive.js) back from the task's repository,
 * for `sdlc-runner logs` once the pods are gone. Runs the user's own git, so their credential helper
 * answers for the repository exactly as it does for a clone; nothing is written outside a scratch dir.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogLine } from '../k8s/gateway';
import { parseLogLine } from '../k8s/log-stream';
import { podOfLogArchiveRef } from '../contract/log-archive';

/** One pod's archived log. */
export interface ArchivedPodLog {
  pod: string;
  ref: string;
  taskId: string;
  attempt: string;
  lines: LogLine[];
}

export class LogArchiveError extends Error {
  override readonly name = 'LogArchiveError';
}

function git(args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 256 * 1024 * 1024, signal },
      (err, stdout, stderr) => {
        if (err) reject(new LogArchiveError(`git ${args.find((a) => !a.startsWith('-')) ?? ''} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`));
        else resolve(stdout);
      },
    );
  });
}

/** The refs under `prefix` (`logArchivePrefix`) on the remote, without fetching anything. */
export async function listLogArchives(repoUrl: string, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const out = await git(['ls-remote', '--refs', '--', repoUrl, `${prefix}*`], signal);
  return out
    .split('\n')
    .map((l) => l.split('\t')[1] ?? '')
    .filter((ref) => ref.startsWith(prefix));
}

/** The archives under `prefix` whose task `wanted` accepts, each with its lines in the order written. */
export async function readLogArchives(repoUrl: string, prefix: string, opts: { wanted?: (taskId: string) => boolean; signal?: AbortSignal } = {}): Promise<ArchivedPodLog[]> {
  const refs = await listLogArchives(repoUrl, prefix, opts.signal);
  if (!refs.length) return [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-runner-logs-'));
  try {
    const gd = ['--git-dir', dir];
    await git(['init', '--quiet', '--bare', dir], opts.signal);
    await git([...gd, 'fetch', '--quiet', '--no-tags', '--depth=1', '--', repoUrl, ...refs.map((r) => `+${r}:${r}`)], opts.signal);
    // All trailers in one atom: git 2.39 applies one trailers atom's options to every other in the format.
    const meta = await git([...gd, 'for-each-ref', '--format=%(refname)%09%(trailers:only,unfold,separator=%x1f)', prefix], opts.signal);
    const logs: ArchivedPodLog[] = [];
    for (const row of meta.split('\n').filter(Boolean)) {
      const [ref = '', trailers = ''] = row.split('\t');
      const trailer = (key: string) => trailers.split('\x1f').find((t) => t.startsWith(`${key}: `))?.slice(key.length + 2).trim() ?? '';
      const [taskId, attempt] = [trailer('Sdlc-Task-Id'), trailer('Sdlc-Attempt')];
      if (opts.wanted && !opts.wanted(taskId)) continue;
      const text = await git([...gd, 'cat-file', 'blob', `${ref}:log.txt`], opts.signal).catch(() => '');
      const lines: LogLine[] = [];
      for (const raw of text.split('\n')) {
        if (!raw) continue;
        // Every line is stamped by publish; one that is not keeps the previous stamp (order is kept).
        const line = parseLogLine(raw) ?? (lines.length ? { ts: lines.at(-1)!.ts, text: raw } : undefined);
        if (line) lines.push(line);
      }
      logs.push({ pod: podOfLogArchiveRef(ref), ref, taskId, attempt, lines });
    }
    return logs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
