// Light imports only: every command loads this module, and the SDKs load later, when a command needs them.
import { NamespaceNotFoundError } from '@temporalio/common/lib/errors';
import { TasksFileError } from '../tasks/errors';

/** A user-facing error: printed as-is (no stack), with a non-zero exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}

/** The one message for a Temporal namespace that does not exist (at connect, or from an SDK error later). */
export function namespaceMissing(namespace: string, address?: string): string {
  return `Temporal namespace '${namespace}' does not exist${address ? ` at ${address}` : ''}. Fix: create it with 'temporal operator namespace create --namespace ${namespace}', or check --namespace / TEMPORAL_NAMESPACE`;
}

/**
 * The one place errors become exit codes: a CliError keeps its own; bad input found deeper down (tasks.md,
 * the worker's configuration, a Temporal namespace that does not exist) is exit 2. Undefined: unexpected.
 */
export function asCliError(err: unknown): CliError | undefined {
  if (err instanceof CliError) return err;
  // ConfigError (src/config/worker-config) by name: that module (zod) loads only with the worker.
  if (err instanceof TasksFileError || (err instanceof Error && err.name === 'ConfigError')) return new CliError(err.message);
  if (err instanceof NamespaceNotFoundError) return new CliError(namespaceMissing(err.namespace));
  // TemporalUnreachableError (worker/run-worker, for `dev`'s worker), by name for the same reason.
  if (err instanceof Error && err.name === 'TemporalUnreachableError') return new CliError(err.message, 3);
  return undefined;
}

/** The message a rejected Update or failed call carries, without SDK wrapping. */
export function rootMessage(err: unknown): string {
  let e = err as (Error & { cause?: unknown }) | undefined;
  let msg = e?.message ?? String(err);
  while (e?.cause instanceof Error) {
    e = e.cause as Error & { cause?: unknown };
    if (e.message) msg = e.message;
  }
  return msg;
}
