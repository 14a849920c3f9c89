'use strict';
/**
 * Outbound connections through the pod's egress proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as the
 * worker sets them: http://ticket:<ticket>@proxy:3128). git, curl and Bun read these variables
 * themselves; Node's http client does not, so the model gateway sends its provider calls through
 * `requestFor` here, and ssh remotes use `node proxy-agent.js connect <host> <port>` as ssh's
 * ProxyCommand. Builtins only: the agent image installs no npm package of its own.
 *
 * https targets go through a CONNECT tunnel (TLS stays end to end); plain http targets are sent to
 * the proxy as absolute-URI requests (the proxy's allowlist then applies port 80 rules, not 443's).
 */
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');

/** The proxy for `target` (a URL), or undefined: no proxy variable, or NO_PROXY covers the host. */
function proxyFor(target, env = process.env) {
  const secure = target.protocol === 'https:';
  const raw = secure ? env.https_proxy || env.HTTPS_PROXY : env.http_proxy || env.HTTP_PROXY;
  if (!raw) return undefined;
  if (bypassed(target.hostname, env.no_proxy ?? env.NO_PROXY ?? '')) return undefined;
  const proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  if (proxy.protocol !== 'http:') throw new Error(`proxy ${proxy.protocol}// is not supported (the egress proxy speaks plain http)`);
  return proxy;
}

/** curl's NO_PROXY rules: `*`, an exact host, or a domain (with or without its leading dot) and its subdomains. */
function bypassed(hostname, noProxy) {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return noProxy
    .split(',')
    .map((e) => e.trim().toLowerCase().replace(/^\[|\]$/g, ''))
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      const domain = entry.replace(/^\./, '');
      return host === domain || host.endsWith(`.${domain}`);
    });
}

/** `Proxy-Authorization` for the proxy URL's userinfo (the ticket), or undefined. */
function proxyAuthorization(proxy) {
  if (!proxy.username && !proxy.password) return undefined;
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(creds).toString('base64')}`;
}

/** Where to connect for the proxy URL (brackets off an IPv6 literal; port 80 when it names none). */
function proxyEndpoint(proxy) {
  return { host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port || 80) };
}

/** Opens a tunnel to host:port through the proxy; calls back with the raw socket, or an error naming the proxy's answer. */
function tunnel(proxy, host, port, callback) {
  const authorization = proxyAuthorization(proxy);
  const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const req = http.request({
    ...proxyEndpoint(proxy),
    method: 'CONNECT',
    path: authority,
    headers: { host: authority, ...(authorization ? { 'proxy-authorization': authorization } : {}) },
    agent: false,
  });
  let settled = false;
  const done = (err, socket) => {
    if (settled) return;
    settled = true;
    callback(err, socket);
  };
  req.once('connect', (res, socket, head) => {
    if (res.statusCode !== 200) {
      // The refusal's body says why and how to grant it (the proxy closes after it): pass its first line on.
      const chunks = head && head.length ? [head] : [];
      const refuse = () => {
        const why = Buffer.concat(chunks).toString('utf8').split('\n')[0].trim().slice(0, 300);
        socket.destroy();
        done(Object.assign(new Error(`egress proxy refused ${authority}: ${res.statusCode}${why ? ` (${why})` : ''}`), { code: 'EPROXYREFUSED', statusCode: res.statusCode }));
      };
      socket.on('data', (c) => chunks.push(c));
      socket.once('end', refuse);
      socket.once('close', refuse);
      socket.once('error', refuse);
      return;
    }
    if (head && head.length) socket.unshift(head);
    done(null, socket);
  });
  req.once('response', (res) => {
    res.resume();
    done(Object.assign(new Error(`egress proxy answered CONNECT ${authority} with ${res.statusCode}`), { code: 'EPROXYREFUSED', statusCode: res.statusCode }));
  });
  req.once('error', (err) => done(err));
  req.end();
}

/** An https agent whose connections are CONNECT tunnels through `proxy` (Agent.createConnection may answer through its callback). */
class TunnelAgent extends https.Agent {
  constructor(proxy, options) {
    super({ keepAlive: true, ...options });
    this.proxy = proxy;
  }

  createConnection(options, callback) {
    tunnel(this.proxy, options.host, Number(options.port || 443), (err, socket) => {
      if (err) return callback(err);
      const secured = tls.connect({ ...options, socket, servername: options.servername || (net.isIP(options.host) ? undefined : options.host) });
      callback(null, secured);
    });
    return undefined;
  }
}

/**
 * `(url, options) => ClientRequest` for `target`'s scheme: direct when no proxy applies, else through it.
 * One agent per proxy URL, so keep-alive tunnels are reused across requests.
 */
function requestFor(target, env = process.env) {
  const proxy = proxyFor(target, env);
  const secure = target.protocol === 'https:';
  if (!proxy) return secure ? https.request : http.request;
  if (secure) {
    const agent = new TunnelAgent(proxy);
    return (url, options) => https.request(url, { ...options, agent });
  }
  const authorization = proxyAuthorization(proxy);
  return (url, options) =>
    http.request({
      ...options,
      ...proxyEndpoint(proxy),
      path: url.href,
      headers: { ...options.headers, host: url.host, ...(authorization ? { 'proxy-authorization': authorization } : {}) },
    });
}

/** ssh's ProxyCommand: `node proxy-agent.js connect %h %p` pipes stdio through a tunnel (direct when no proxy applies). */
function connectMain(host, port) {
  const target = new URL(`https://${net.isIPv6(host) ? `[${host}]` : host}`);
  const proxy = proxyFor(target);
  const pipe = (socket) => {
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    socket.on('close', () => process.exit(0));
  };
  const fail = (err) => {
    process.stderr.write(`proxy-agent: ${err.message}\n`);
    process.exit(1);
  };
  if (!proxy) {
    const socket = net.connect(Number(port), host, () => pipe(socket));
    socket.once('error', fail);
    return;
  }
  tunnel(proxy, host, Number(port), (err, socket) => (err ? fail(err) : pipe(socket)));
}

if (require.main === module) {
  const [cmd, host, port] = process.argv.slice(2);
  if (cmd !== 'connect' || !host || !/^\d+$/.test(port || '')) {
    process.stderr.write('usage: node proxy-agent.js connect <host> <port>\n');
    process.exit(2);
  }
  connectMain(host, port);
}

module.exports = { proxyFor, bypassed, requestFor, tunnel };
