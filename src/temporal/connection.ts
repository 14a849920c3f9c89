/**
 * Temporal connection options shared by the worker and the CLI: plain (dev server), mTLS, or an API
 * key read from a file (Temporal Cloud). The key is read at connect time and never logged.
 */
import { readFileSync } from 'node:fs';

export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsCaFile?: string;
  tlsServerName?: string;
  apiKeyFile?: string;
}

export interface ConnectionOptionsLike {
  address: string;
  tls?: boolean | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
  apiKey?: string;
}

function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} from ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function connectionOptions(t: TemporalTarget): ConnectionOptionsLike {
  const opts: ConnectionOptionsLike = { address: t.address };
  if (t.tls) {
    opts.tls = {
      serverNameOverride: t.tlsServerName,
      serverRootCACertificate: t.tlsCaFile ? readSecretFile(t.tlsCaFile, 'the Temporal CA certificate') : undefined,
      clientCertPair: t.tlsCertFile && t.tlsKeyFile ? { crt: readSecretFile(t.tlsCertFile, 'the Temporal client certificate'), key: readSecretFile(t.tlsKeyFile, 'the Temporal client key') } : undefined,
    };
  }
  if (t.apiKeyFile) opts.apiKey = readSecretFile(t.apiKeyFile, 'the Temporal API key').toString('utf8').trim();
  return opts;
}

/** Temporal UI link for a workflow (the dev server's UI, or Temporal Cloud's when SDLC_TEMPORAL_UI_URL says so). */
export function workflowUiLink(uiBase: string, namespace: string, workflowId: string): string {
  return `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
