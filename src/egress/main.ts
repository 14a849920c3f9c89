#!/usr/bin/env node
/**
 * Entry of the egress proxy: `node dist/src/egress/main.js`. Runs as its own Deployment (the chart's
 * `egress.mode: proxy`, templates/egress-proxy.yaml); agent pods reach the outside only through it
 * (their NetworkPolicy allows the proxy and DNS, nothing else).
 *
 * Environment:
 *   EGRESS_LISTEN              host:port to listen on (default 0.0.0.0:3128; port 0 picks a free one,
 *                              the first log line says which). GET /healthz on it answers probes
 *                              (200 ok, 503 while draining).
 *   EGRESS_TICKET_KEY_FILES    required; comma-separated files, one key per line (>= 32 chars, `#`
 *                              comments). The same Secret the worker signs with; every key verifies,
 *                              so rotation is: prepend the new key, roll, drop the old one later.
 *   EGRESS_ALWAYS_ALLOW        comma-separated allowlist entries every run gets on top of its ticket
 *                              (e.g. a package registry): `host`, `*.domain`, `host:port`. Without a
 *                              port an entry allows 443 for CONNECT and 80 for plain http.
 *   EGRESS_GIT_HOSTS           the git hosts runs may use: exactly the worker's SDLC_ALLOWED_GIT_HOSTS
 *                              text, read with the same parser (parseAllowedGitHosts). A bare `host` or
 *                              `*.domain` allows ports 443 and 22 (https and ssh), `host:port` that port,
 *                              `https://`/`ssh://`/`http://host` 443/22/80 or the named port; `file://`
 *                              adds nothing; `:*` (any port) is refused at start. Always allowed.
 *   EGRESS_PROVIDER_URLS       the model providers' base URLs, comma-separated (the chart's
 *                              agents.llmProviders[].baseURL): each allows its `host:port` (443 for
 *                              https, 80 for http unless named). Always allowed.
 *   EGRESS_DENIED_CIDRS        comma-separated CIDRs refused in every mode on top of the built-in
 *                              169.254.0.0/16, fe80::/10, 0.0.0.0/8, ::/128, fd00:ec2::254/128
 *                              (set the cluster's pod and service ranges here).
 *   EGRESS_ALLOW_LOOPBACK      true to allow 127.0.0.0/8 and ::1 (tests, dev stacks); default false.
 *   EGRESS_LOG_FORMAT          json (default) or kv: one line per connection on stdout, never the ticket.
 *   EGRESS_SHUTDOWN_GRACE_MS   on SIGTERM/SIGINT: stop accepting, let tunnels finish this long
 *                              (default 25000, under the pod's terminationGracePeriodSeconds), exit 0.
 */
import { loadConfig } from './config';
import { stdoutSink } from './log';
import { startEgressProxy } from './proxy';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = stdoutSink(config.logFormat);
  const proxy = await startEgressProxy({ ...config, log });
  log({
    event: 'listening',
    host: proxy.host,
    port: proxy.port,
    always_allow: config.alwaysAllow.map((e) => e.text).join(','),
    denied: config.denied.cidrs.join(','),
    keys: config.keys.length,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log({ event: 'draining', signal, active: proxy.active(), grace_ms: config.graceMs });
    void proxy.close(config.graceMs).then(() => {
      log({ event: 'stopped' });
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`egress proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
