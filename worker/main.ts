/** Worker entrypoint (the worker image runs `node dist/worker/main.js`). */
import { ConfigError } from '../src/config/worker-config';
import { startProductionWorker, TemporalUnreachableError } from './run-worker';

async function run(): Promise<void> {
  const handle = await startProductionWorker();
  // Temporal's Runtime also handles SIGINT/SIGTERM by shutting workers down gracefully; this makes it explicit.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void handle.stop());
  await handle.done;
}

// One line per problem, no stack trace, for what the operator must fix (exit 2) or reach (exit 3); a stack only for a bug.
run().catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else if (err instanceof TemporalUnreachableError) console.error(`worker: ${err.message}`);
  else console.error(`worker failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : err instanceof TemporalUnreachableError ? 3 : 1);
});
