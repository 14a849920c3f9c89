/**
 * Histories recorded from earlier releases of the workflow code (test/workflows/histories/<release>/,
 * made by record-histories.ts) must replay on the current code without a non-determinism error: a
 * run that was in flight during a rolling deploy continues on the new worker unchanged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { WORKFLOW_BUNDLE } from '../support/temporal';

const root = path.join(__dirname, 'histories');
/** Each release's index.json maps a history file to the workflow ID it ran under. */
const files = readdirSync(root).flatMap((release) => {
  const index = JSON.parse(readFileSync(path.join(root, release, 'index.json'), 'utf8')) as Record<string, string>;
  return Object.entries(index).map(([file, workflowId]) => ({ file: path.join(root, release, file), workflowId }));
});

test('every recorded history replays on the current workflow code', async () => {
  expect(files.length).toBeGreaterThanOrEqual(20);
  const histories = files.map((f) => ({ workflowId: f.workflowId, history: temporal.api.history.v1.History.decode(readFileSync(f.file)) }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    else replayed++;
  }
  expect(failures).toEqual([]);
  expect(replayed).toBe(files.length);
});
