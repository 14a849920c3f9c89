import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A real git server for tests: git's own `git http-backend` (CGI) behind a small Node HTTP server on
 * 127.0.0.1, with HTTP basic auth. Every request must carry the right token as the password (any
 * username), otherwise 401 — like a forge with a personal access token. Bare repos live in a temp dir.
 */
export interface GitServer {
  /** Clone URL of a hosted repo: http://127.0.0.1:<port>/<name>.git (no credentials in it). */
  url(repo: string): string;
  /** Creates a bare repo whose `branch` (default main) has one commit with `files`. */
  createRepo(repo: string, files: Record<string, string>, opts?: { branch?: string }): string;
  /** Adds a commit with `files` on top of `fromBranch` (default: `branch` itself) and stores it as `branch`. */
  commitToBranch(repo: string, branch: string, files: Record<string, string>, message: string, fromBranch?: string): string;
  /** Head sha of a branch, or undefined when the branch does not exist. */
  branchHead(repo: string, branch: string): string | undefined;
  /** Content of a file at a ref, or undefined when absent. */
  readFile(repo: string, ref: string, file: string): string | undefined;
  /** Runs a read-only git command in the bare repo (for assertions: log, show, rev-list...). */
  git(repo: string, ...args: string[]): string;
  /** Every HTTP request seen: method, url and whether it was authorized. */
  readonly requests: { method: string; url: string; authorized: boolean }[];
  readonly root: string;
  stop(): Promise<void>;
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.test',
  GIT_COMMITTER_NAME: 'Test Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.test',
};

function gitIn(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, ...GIT_IDENTITY }, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function isAuthorized(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  return sep >= 0 && decoded.slice(sep + 1) === token;
}

/** Runs git-http-backend as CGI for one request and relays its response. */
function serveCgi(root: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, user: string): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    CONTENT_LENGTH: String(body.length),
    REMOTE_USER: user,
    REMOTE_ADDR: '127.0.0.1',
    GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
  };
  const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  cgi.stdout.on('data', (c: Buffer) => out.push(c));
  cgi.stderr.on('data', (c: Buffer) => err.push(c));
  cgi.stdin.on('error', () => undefined);
  cgi.stdin.end(body);
  cgi.on('close', () => {
    const raw = Buffer.concat(out);
    let headerEnd = raw.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (headerEnd < 0) {
      headerEnd = raw.indexOf('\n\n');
      sepLen = 2;
    }
    if (headerEnd < 0) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`git http-backend failed: ${Buffer.concat(err).toString()}`);
      return;
    }
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of raw.subarray(0, headerEnd).toString('utf8').split(/\r?\n/)) {
      const idx = line.indexOf(':');
      if (idx < 0) continue;
      const name = line.slice(0, idx).trim();
      const value = line.slice(idx + 1).trim();
      if (name.toLowerCase() === 'status') status = parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers).end(raw.subarray(headerEnd + sepLen));
  });
}

/**
 * `host`: the loopback address to listen on (default 127.0.0.1); another one (127.0.0.2) stands for a
 * host on the internet, which a test pod with its own network reaches only through the egress proxy.
 */
export async function startGitServer(opts: { token: string; host?: string }): Promise<GitServer> {
  const host = opts.host ?? '127.0.0.1';
  const root = mkdtempSync(path.join(os.tmpdir(), 'sdlc-git-server-'));
  const requests: GitServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const authorized = isAuthorized(req.headers.authorization, opts.token);
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', authorized });
      if (!authorized) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="sdlc-test-git"', 'content-type': 'text/plain' }).end('unauthorized\n');
        return;
      }
      serveCgi(root, req, Buffer.concat(chunks), res, 'tester');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const bare = (repo: string) => path.join(root, `${repo}.git`);

  /** Writes files in a scratch clone, commits and pushes to the bare repo by path (no HTTP). */
  function commitVia(repo: string, branch: string, fromBranch: string | undefined, files: Record<string, string>, message: string): string {
    const work = mkdtempSync(path.join(os.tmpdir(), 'sdlc-git-fixture-'));
    try {
      if (fromBranch) {
        gitIn(work, ['clone', '-q', '--branch', fromBranch, bare(repo), '.']);
      } else {
        gitIn(work, ['init', '-q', '-b', branch, '.']);
      }
      for (const [file, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
        writeFileSync(path.join(work, file), content);
      }
      gitIn(work, ['add', '-A']);
      gitIn(work, ['commit', '-q', '-m', message]);
      gitIn(work, ['push', '-q', bare(repo), `HEAD:refs/heads/${branch}`]);
      return gitIn(work, ['rev-parse', 'HEAD']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  const api: GitServer = {
    root,
    requests,
    url: (repo) => `http://${host}:${port}/${repo}.git`,
    createRepo(repo, files, o) {
      const branch = o?.branch ?? 'main';
      gitIn(root, ['init', '-q', '--bare', '-b', branch, bare(repo)]);
      return commitVia(repo, branch, undefined, files, 'Initial commit');
    },
    commitToBranch(repo, branch, files, message, fromBranch) {
      return commitVia(repo, branch, fromBranch ?? branch, files, message);
    },
    branchHead(repo, branch) {
      try {
        return gitIn(bare(repo), ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
      } catch {
        return undefined;
      }
    },
    readFile(repo, ref, file) {
      try {
        return execFileSync('git', ['show', `${ref}:${file}`], { cwd: bare(repo), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return undefined;
      }
    },
    git: (repo, ...args) => gitIn(bare(repo), args),
    async stop() {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      rmSync(root, { recursive: true, force: true });
    },
  };
  return api;
}
