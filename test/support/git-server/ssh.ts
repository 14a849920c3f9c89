import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, utils, type Connection } from 'ssh2';

/**
 * Git over SSH for tests: an SSH server (ssh2, on 127.0.0.1) that accepts one public key and runs
 * git's own upload-pack / receive-pack on the bare repos of a GitServer's root. The client side is
 * the real OpenSSH `ssh`, so host key checking against known_hosts and key auth are the real thing.
 */
export interface GitSshServer {
  /** ssh://git@127.0.0.1:<port>/<repo>.git */
  url(repo: string): string;
  /** A known_hosts line for this server's host key. */
  knownHostsLine: string;
  /** Private key file (OpenSSH format) of the one authorized client key. */
  clientKeyFile: string;
  /** Commands clients ran, e.g. "git-upload-pack '/greeting.git'". */
  commands: string[];
  stop(): Promise<void>;
}

function sshKeygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sdlc-test', '-f', file], { stdio: 'ignore' });
}

/** Parses `git-upload-pack '/repo.git'` into the service and a path confined to the root. */
function parseGitCommand(command: string, root: string): { service: string; repoPath: string } | undefined {
  const m = /^(git-upload-pack|git-receive-pack) '\/?([A-Za-z0-9._/-]+)'$/.exec(command.trim());
  if (!m || m[2]!.split('/').includes('..')) return undefined;
  return { service: m[1]!, repoPath: path.join(root, m[2]!) };
}

export async function startGitSshServer(opts: { root: string }): Promise<GitSshServer> {
  const keys = mkdtempSync(path.join(os.tmpdir(), 'sdlc-git-ssh-'));
  const hostKeyFile = path.join(keys, 'host_ed25519');
  const clientKeyFile = path.join(keys, 'client_ed25519');
  sshKeygen(hostKeyFile);
  sshKeygen(clientKeyFile);
  const authorized = utils.parseKey(readFileSync(`${clientKeyFile}.pub`));
  if (authorized instanceof Error) throw authorized;
  const authorizedPub = authorized.getPublicSSH();
  const commands: string[] = [];
  const connections = new Set<Connection>();

  const server = new Server({ hostKeys: [readFileSync(hostKeyFile)] }, (client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || !ctx.key.data.equals(authorizedPub)) return ctx.reject(['publickey']);
      // Without a signature the client only asks whether the key would do; with one it proves it.
      if (!ctx.signature) return ctx.accept();
      if (ctx.blob && authorized.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
      return ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (acceptExec, rejectExec, info) => {
          const parsed = parseGitCommand(info.command, opts.root);
          if (!parsed) return rejectExec();
          commands.push(info.command);
          const stream = acceptExec();
          const git = spawn(parsed.service, [parsed.repoPath], { stdio: ['pipe', 'pipe', 'pipe'] });
          stream.pipe(git.stdin);
          git.stdout.pipe(stream, { end: false });
          git.stderr.pipe(stream.stderr, { end: false });
          git.stdin.on('error', () => undefined);
          git.on('close', (code) => {
            stream.exit(code ?? 1);
            stream.end();
          });
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const hostPub = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    url: (repo) => `ssh://git@127.0.0.1:${port}/${repo}.git`,
    knownHostsLine: `[127.0.0.1]:${port} ${hostPub}`,
    clientKeyFile,
    commands,
    async stop() {
      for (const c of connections) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(keys, { recursive: true, force: true });
    },
  };
}
