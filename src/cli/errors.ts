/** A user-facing error: printed as-is (no stack), with a non-zero exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
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
