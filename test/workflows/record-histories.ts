/**
 * Records workflow histories for the replay test (test/workflows/replay.test.ts): each scenario runs
 * through a real Temporal server and Worker and its parent and child histories are saved as JSON under
 * test/workflows/histories/<label>/. Run it against the code whose histories must keep replaying:
 *   HISTORY_LABEL=v1 npx jest --testMatch '<rootDir>/test/workflows/record-histories.ts' test/workflows/record-histories.ts
 * Not part of the suite (the file is not a *.test.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { cancelTasksUpdate, finishUpdate, retryTasksUpdate } from '../../workflows/definitions';
import { eventually } from '../support/temporal';
import { harness, tasksMarkdown, type Harness } from './harness';

const label = process.env.HISTORY_LABEL ?? 'v1';
const outDir = path.join(__dirname, 'histories', label);
const index: Record<string, string> = {};

async function save(h: Harness, name: string, handle: WorkflowHandle): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  // Every execution (continue-as-new makes several) of the run and of its children; visibility lags a moment.
  const query = `WorkflowId = "${handle.workflowId}" OR WorkflowId STARTS_WITH "${handle.workflowId}/"`;
  const runs = await eventually(async () => {
    const found: { workflowId: string; runId: string }[] = [];
    for await (const wf of h.env.client.workflow.list({ query })) if (wf.status.name !== 'RUNNING') found.push({ workflowId: wf.workflowId, runId: wf.runId });
    return found.length >= (await expectedExecutions(h, handle)) && found;
  }, 'closed executions in visibility');
  let i = 0;
  for (const { workflowId, runId } of runs) {
    const history = await h.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const file = `${name}--${String(i++).padStart(2, '0')}-${workflowId.replace(/^sdlc-test-[^/]+/, 'run').replace(/\//g, '_')}.pb`;
    // Binary protobuf: exact (the JSON form needs one protobufjs instance for both ends, which jest's module registry splits).
    writeFileSync(path.join(outDir, file), temporal.api.history.v1.History.encode(history).finish());
    index[file] = workflowId; // replay needs the workflow ID the history ran under (child IDs derive from it)
  }
  writeFileSync(path.join(outDir, 'index.json'), JSON.stringify(index, null, 1) + '\n');
}

/** Children started (from the run's state) plus the run's own executions (its continue-as-new generations). */
async function expectedExecutions(h: Harness, handle: WorkflowHandle): Promise<number> {
  const state = await h.state(handle);
  const children = state.tasks.reduce((n, t) => n + t.attempt, 0);
  return children + state.generation + 1;
}

jest.setTimeout(120_000);

test('fan-out with a dependency, all succeed', async () => {
  const h = await harness();
  try {
    const handle = await h.start(tasksMarkdown(3, { T003: 'depends on T001' }), { maxParallel: 2 });
    await h.result(handle);
    await save(h, 'fanout', handle);
  } finally {
    await h.close();
  }
});

test('failure blocks a dependant; retry; then success', async () => {
  const h = await harness((req) => (req.name.includes('-t001-a1-') ? { result: 'failure' } : {}));
  try {
    const handle = await h.start(tasksMarkdown(3, { T002: 'depends on T001' }), { decisionTimeoutSeconds: 60 });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    await handle.executeUpdate(retryTasksUpdate, { args: [{}] });
    await h.result(handle);
    await save(h, 'retry', handle);
  } finally {
    await h.close();
  }
});

test('cancel one task, then finish', async () => {
  const h = await harness((req) => (req.name.includes('-t002-') ? { hang: true } : {}));
  try {
    const handle = await h.start(tasksMarkdown(2), { decisionTimeoutSeconds: 60 });
    await eventually(async () => (await h.state(handle)).tasks.find((t) => t.id === 'T001')?.status === 'succeeded', 'T001 done');
    await handle.executeUpdate(cancelTasksUpdate, { args: [{ taskIds: ['T002'] }] });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    await handle.executeUpdate(finishUpdate);
    await h.result(handle);
    await save(h, 'cancel-finish', handle);
  } finally {
    await h.close();
  }
});

test('eviction: a new pod for the same attempt', async () => {
  const h = await harness((req) => (req.name.includes('a1r') ? {} : { evict: true, runMs: 200 }));
  try {
    const handle = await h.start(tasksMarkdown(1), { retry: { infraRetries: 1, agentRetries: 0 } });
    await h.result(handle);
    await save(h, 'evict', handle);
  } finally {
    await h.close();
  }
});

test('two tasks naming the same file (run together before file-overlap ordering, one after the other since)', async () => {
  const h = await harness();
  try {
    const md = ['# Tasks', '', '## Phase 1', '', '- [ ] T001 [P] [ASYNC] Create `src/models/user.ts`', '- [ ] T002 [P] [ASYNC] Add validation to `src/models/user.ts`', ''].join('\n');
    const handle = await h.start(md);
    await h.result(handle);
    await save(h, 'overlap', handle);
  } finally {
    await h.close();
  }
});

test('continue-as-new between waves', async () => {
  const h = await harness();
  try {
    const handle = await h.start(tasksMarkdown(4), { maxParallel: 1, maxHistoryEvents: 40 });
    await h.result(handle);
    await save(h, 'continue-as-new', handle);
  } finally {
    await h.close();
  }
});

test('the run cancelled while tasks run', async () => {
  const h = await harness(() => ({ hang: true }));
  try {
    const handle = await h.start(tasksMarkdown(2));
    await eventually(async () => (await h.state(handle)).tasks.every((t) => t.status === 'running'), 'tasks running');
    await handle.cancel();
    await h.result(handle).catch(() => undefined);
    await save(h, 'run-cancelled', handle);
  } finally {
    await h.close();
  }
});
