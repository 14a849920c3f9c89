/** Connects the CLI to Temporal: flags win over env (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...). */
import { Client, Connection } from '@temporalio/client';
import { connectionOptions } from '../temporal/connection';
import { CliError, namespaceMissing } from './errors';

export interface TemporalFlags {
  address?: string;
  namespace?: string;
  taskQueue?: string;
  uiUrl?: string;
}

export interface CliTemporal {
  client: Client;
  namespace: string;
  taskQueue: string;
  uiUrl: string;
  close(): Promise<void>;
}

const GRPC_NOT_FOUND = 5;

export async function connectTemporal(flags: TemporalFlags): Promise<CliTemporal> {
  const address = flags.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const namespace = flags.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
  if (!namespace) throw new CliError(`empty Temporal namespace (--namespace / TEMPORAL_NAMESPACE). Fix: pass the namespace of the runs, e.g. --namespace default`);
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...connectionOptions({
        address,
        namespace,
        tls: process.env.TEMPORAL_TLS === 'true',
        tlsCertFile: process.env.TEMPORAL_TLS_CERT_FILE,
        tlsKeyFile: process.env.TEMPORAL_TLS_KEY_FILE,
        tlsCaFile: process.env.TEMPORAL_TLS_CA_FILE,
        tlsServerName: process.env.TEMPORAL_TLS_SERVER_NAME,
        apiKeyFile: process.env.TEMPORAL_API_KEY_FILE,
      }),
      connectTimeout: 5000,
    });
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${address}: ${(err as Error).message}. Start one with 'sdlc-runner dev', or set TEMPORAL_ADDRESS / --address.`, 3);
  }
  // A namespace that does not exist is bad input, said once here: calls in it fail later in ways that read
  // like a missing run. Only NOT_FOUND counts; a client that may not describe its namespace goes on.
  const missing = await connection.workflowService.describeNamespace({ namespace }).then(
    () => false,
    (err: { code?: number }) => err?.code === GRPC_NOT_FOUND,
  );
  if (missing) {
    await connection.close();
    throw new CliError(namespaceMissing(namespace, address));
  }
  return {
    client: new Client({ connection, namespace }),
    namespace,
    taskQueue: flags.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? 'agentic-sdlc',
    uiUrl: flags.uiUrl ?? process.env.SDLC_TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
    close: () => connection.close(),
  };
}
