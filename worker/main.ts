/** Worker entrypoint (the worker image runs `node dist/worker/main.js`). */
import { ConfigError } from '../src/config/worker-config';
import { startProductionWorker } from './run-worker';

async function run(): Promise<void> {
  const handle = await startProductionWorker();
  // Temporal's Runtime also handles SIGINT/SIGTERM by shutting workers down gracefully; this makes it explicit.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void handle.stop());
  await handle.done;
}

run().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `worker failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
