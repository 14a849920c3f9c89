/** Worker entrypoint (the worker image runs `node dist/worker/main.js`). */
import { ConfigError } from '../src/config/worker-config';
import { startProductionWorker, TemporalUnreachableError, type WorkerHandle } from './run-worker';

async function run(): Promise<void> {
  // Installed before the start: SIGTERM while it waits for the Kubernetes API ends it at once (exit 0).
  // Temporal's Runtime also handles SIGINT/SIGTERM by shutting workers down gracefully; this makes it explicit.
  const abort = new AbortController();
  let handle: WorkerHandle | undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => (handle ? void handle.stop() : abort.abort()));
  handle = await startProductionWorker(undefined, undefined, { signal: abort.signal });
  if (abort.signal.aborted) void handle.stop(); // the signal came while Temporal was being connected
  await handle.done;
}

// One line per problem, no stack trace, for what the operator must fix (exit 2) or reach (exit 3); a stack only for a bug.
run().catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else if (err instanceof TemporalUnreachableError) console.error(`worker: ${err.message}`);
  else console.error(`worker failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : err instanceof TemporalUnreachableError ? 3 : 1);
});
