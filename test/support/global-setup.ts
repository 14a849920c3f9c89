import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startDevServer } from '../../src/temporal/dev-server';

/**
 * Starts the real servers the suite shares. Fails loudly (no skipping) when a binary is missing:
 * run `npm run setup` first. Connection details reach test files through env vars.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const server = await startDevServer({ headless: true });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = server.namespace;
  process.env.TEMPORAL_UI_URL = server.uiUrl;
  (globalThis as Record<string, unknown>).__TEMPORAL_DEV_SERVER__ = server;
  const out = path.resolve(__dirname, '../../test-output');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'temporal-dev-server.json'), JSON.stringify({ address: server.address, startMs: Date.now() - started }) + '\n');
  // eslint-disable-next-line no-console
  console.log(`\n[global-setup] temporal dev server ${server.address} ready in ${Date.now() - started} ms`);
}
