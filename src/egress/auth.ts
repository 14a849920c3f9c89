/**
 * The client's credential: `Proxy-Authorization: Basic base64("ticket:<ticket>")`, which is what git,
 * curl and Node's proxy agents send for `HTTPS_PROXY=http://ticket:<ticket>@proxy:3128`.
 */
export const PROXY_REALM = 'sdlc-egress';
export const TICKET_USER = 'ticket';

/** The ticket text, or undefined when the header is absent or not Basic with user `ticket`. */
export function ticketFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  if (sep < 0 || decoded.slice(0, sep) !== TICKET_USER) return undefined;
  // Proxy URLs are percent-decoded by clients, but be lenient with one that forwarded them encoded.
  const ticket = decoded.slice(sep + 1);
  if (!ticket) return undefined;
  try {
    return decodeURIComponent(ticket);
  } catch {
    return ticket; // malformed escapes: verification will refuse it
  }
}

/** The proxy URL a pod is given: HTTPS_PROXY / HTTP_PROXY value for this ticket. */
export function egressProxyUrl(proxy: { host: string; port: number }, ticket: string): string {
  return `http://${TICKET_USER}:${encodeURIComponent(ticket)}@${proxy.host}:${proxy.port}`;
}
