/**
 * Prebuilds the workflow bundle (webpack, via the Temporal SDK) into dist/workflow-bundle.js so the
 * worker starts fast and the image ships exactly the code that was tested.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function run(): Promise<void> {
  const dist = path.resolve(__dirname, '..');
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(dist, 'workflows', 'index.js'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  const out = path.join(dist, 'workflow-bundle.js');
  await writeFile(out, code);
  console.log(`workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB, ${Date.now() - started} ms)`);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
