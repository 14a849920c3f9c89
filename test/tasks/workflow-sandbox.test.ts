import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { parseTasksMarkdown } from '../../src/tasks/parse';
import { fixtureText } from './fixture-support';

/**
 * The implementFeature workflow parses tasks.md inside Temporal's deterministic sandbox, where
 * node: modules, the clock and randomness are not available. This bundles the parser the way the
 * worker does (the bundler rejects node built-ins) and runs it in a real Worker against the dev
 * server from globalSetup.
 */
describe('parseTasksMarkdown in the Temporal workflow sandbox', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    const address = process.env.TEMPORAL_ADDRESS;
    if (!address) throw new Error('TEMPORAL_ADDRESS is not set: the jest globalSetup must start the Temporal dev server');
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // Another test file in this jest worker process installed the (process-wide) runtime already.
    }
    env = await TestWorkflowEnvironment.createFromExistingServer({ address, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('bundles without node modules and returns the same plan as outside the sandbox', async () => {
    const started = Date.now();
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.resolve(__dirname, 'support/parse-workflow.ts'),
      logger: new DefaultLogger('WARN'),
    });
    const bundleMs = Date.now() - started;
    const taskQueue = `tasks-sandbox-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { code } });

    const text = fixtureText('02_');
    const plan = await worker.runUntil(
      env.client.workflow.execute('parsePlanWorkflow', { taskQueue, workflowId: `parse-${randomUUID()}`, args: [text, 'specs/002-demo/tasks.md', '002-demo'] }),
    );
    expect(plan).toEqual(parseTasksMarkdown(text, { file: 'specs/002-demo/tasks.md', feature: '002-demo' }));
    expect(plan.dispatch).toHaveLength(19);
    // eslint-disable-next-line no-console
    console.log(`[tasks] workflow bundle with the parser built in ${bundleMs} ms`);
  });
});
