/**
 * The production worker: config from the environment, the prebuilt workflow bundle, the real
 * Kubernetes and git gateways, Prometheus metrics from the Temporal runtime, health endpoints, and a
 * graceful shutdown on SIGTERM/SIGINT (in-flight activities get the grace time to heartbeat and stop;
 * the follow activity resumes from its heartbeat on the next worker).
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KubeConfig } from '../src/k8s/client-node';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { readKeyRing } from '../src/egress/keys';
import { ConfigError, loadWorkerConfig, type WorkerConfig } from '../src/config/worker-config';
import { kubeConfigProblem } from '../src/k8s/kubeconfig';
import { parsePodTemplate, type PodTemplate } from '../src/k8s/pod-manifest';
import { connectionOptions } from '../src/temporal/connection';
import { createCliGitGateway } from '../src/git/cli-gateway';
import { createClientGateway } from '../src/k8s/client-gateway';
import { startHealthServer, type HealthServer, type Readiness } from './health';
import { apiServerOf, NEEDED_RIGHTS, rightName, waitForAgentNamespace } from './cluster-checks';
import { startOrphanPodSweeper, temporalExecutionIsOpen } from './orphan-pod-sweeper';
import { workerLogger } from './logger';

export const WORKFLOW_BUNDLE_PATH = path.resolve(__dirname, '..', 'workflow-bundle.js');

/** Temporal cannot be reached at start: the worker exits 3, as the CLI does. */
/** gRPC status codes the start checks tell apart. */
const grpcStatus = { NOT_FOUND: 5 } as const;

export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
}

/** Why a port cannot be listened on (in use, not permitted), or undefined when it is free. */
async function portTaken(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? 'the port is in use by another process' : `cannot listen on it (${err.code ?? err.message})`));
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve(undefined)));
  });
}

export interface WorkerHandle {
  stop(): Promise<void>;
  done: Promise<void>;
}

export interface StartOptions {
  /** Stops the start while it waits for the Kubernetes API (SIGTERM): the handle's `done` resolves at once. */
  signal?: AbortSignal;
}

export async function startProductionWorker(
  config: WorkerConfig = loadWorkerConfig(),
  log: (msg: string) => void = (m) => console.log(m),
  opts: StartOptions = {},
): Promise<WorkerHandle> {
  if (!existsSync(WORKFLOW_BUNDLE_PATH)) throw new Error(`workflow bundle ${WORKFLOW_BUNDLE_PATH} is missing: run 'npm run build'`);
  // Everything the worker can check without a task, before it polls: a worker that reports ready must be able to work.
  const problems: string[] = [];
  let podTemplate = '';
  let template: PodTemplate | undefined;
  try {
    podTemplate = readFileSync(config.SDLC_POD_TEMPLATE_FILE, 'utf8');
    template = parsePodTemplate(podTemplate, config.SDLC_POD_TEMPLATE_FILE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(
      code
        ? `SDLC_POD_TEMPLATE_FILE=${JSON.stringify(config.SDLC_POD_TEMPLATE_FILE)}: cannot read the agent pod template (${code}); the Helm chart mounts it from the pod-template ConfigMap`
        : `SDLC_POD_TEMPLATE_FILE=${JSON.stringify(config.SDLC_POD_TEMPLATE_FILE)}: ${(err as Error).message} (format: docs/pod-template.md)`,
    );
  }
  if (config.SDLC_EGRESS_TICKET_KEY_FILE) {
    // Checked now, not at the first pod: a worker that cannot sign would fail every task.
    try {
      readKeyRing([config.SDLC_EGRESS_TICKET_KEY_FILE]);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`SDLC_EGRESS_TICKET_KEY_FILE=${JSON.stringify(config.SDLC_EGRESS_TICKET_KEY_FILE)}: ${code ? `cannot read it (${code})` : (err as Error).message}; the chart mounts the egress ticket key Secret there (one key of >= 32 characters per line)`);
    }
  }
  const kube = kubeConfigProblem(undefined, process.env, { hasFlag: false });
  if (kube) problems.push(kube);
  for (const [name, port] of [['SDLC_HEALTH_PORT', config.SDLC_HEALTH_PORT], ['SDLC_METRICS_PORT', config.SDLC_METRICS_PORT]] as const) {
    const taken = await portTaken(port);
    if (taken) problems.push(`${name}=${port}: ${taken}; give the worker a free port`);
  }
  if (problems.length) throw new ConfigError(problems);
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new ConfigError([`the Kubernetes configuration cannot be loaded (${(err as Error).message.split('\n')[0]}). Fix: KUBECONFIG must name a valid kubeconfig file`]);
  }

  // The agent namespace, asked of the cluster (worker/cluster-checks.ts). A refusal is the operator's to fix (exit 2);
  // an API that does not answer is waited for, with /healthz up and /readyz 503 saying why.
  let readiness: Readiness = () => 'starting';
  let health: HealthServer | undefined;
  const api = apiServerOf(kc);
  const checked = await waitForAgentNamespace(
    { kubeConfig: kc, namespace: config.SDLC_K8S_NAMESPACE, template: template!, templateFile: config.SDLC_POD_TEMPLATE_FILE, signal: opts.signal },
    {
      onUnreachable: async (reason, first) => {
        readiness = () => reason;
        if (!first) return;
        health = await startHealthServer(config.SDLC_HEALTH_PORT, () => readiness());
        log(`waiting for the Kubernetes API before polling: ${reason}; retrying with backoff (up to 10 s apart); /healthz answers, /readyz 503 until it passes`);
      },
    },
  );
  if (checked.outcome !== 'pass') {
    await health?.close();
    if (checked.outcome === 'refused') throw new ConfigError(checked.problems);
    log('stopped while waiting for the Kubernetes API');
    return { stop: async () => undefined, done: Promise.resolve() };
  }
  if (health) log(`Kubernetes API at ${api} answers; the checks of namespace ${config.SDLC_K8S_NAMESPACE} pass`);
  for (const w of checked.warnings) log(w);
  readiness = () => 'connecting to Temporal';
  try {
    return await startPolling(config, log, { kc, podTemplate, health, setReadiness: (r) => (readiness = r) });
  } catch (err) {
    await health?.close();
    throw err;
  }
}

/** After the checks: the Temporal connection, the worker, its health server (unless already up), the sweeper. */
async function startPolling(
  config: WorkerConfig,
  log: (msg: string) => void,
  started: { kc: KubeConfig; podTemplate: string; health: HealthServer | undefined; setReadiness(r: Readiness): void },
): Promise<WorkerHandle> {
  Runtime.install({
    logger: workerLogger('INFO'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.SDLC_METRICS_PORT}` } } },
  });
  // The start check proved these rights: a denial of them after an apiserver restart is waited out (grant-memory.ts).
  const kubernetes = createClientGateway({ namespace: config.SDLC_K8S_NAMESPACE, podTemplate: started.podTemplate, kubeConfig: started.kc, provenRights: NEEDED_RIGHTS.map(rightName) });
  const tokenFile = config.SDLC_GIT_TOKEN_FILE && existsSync(config.SDLC_GIT_TOKEN_FILE) ? config.SDLC_GIT_TOKEN_FILE : undefined;
  if (config.SDLC_GIT_TOKEN_FILE && !tokenFile) {
    // The chart's worker Secret is optional (public repositories need no token to read): say what that means.
    log(`warning: SDLC_GIT_TOKEN_FILE=${config.SDLC_GIT_TOKEN_FILE} does not exist: branch checks, stacking and integration run without credentials; private repositories will fail verification, and pushes of stacked and integration branches will be refused`);
  }
  const git = createCliGitGateway({
    tokenFile,
    username: config.SDLC_GIT_USERNAME,
  });
  const target = {
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    tls: config.TEMPORAL_TLS,
    tlsCertFile: config.TEMPORAL_TLS_CERT_FILE,
    tlsKeyFile: config.TEMPORAL_TLS_KEY_FILE,
    tlsCaFile: config.TEMPORAL_TLS_CA_FILE,
    tlsServerName: config.TEMPORAL_TLS_SERVER_NAME,
    apiKeyFile: config.TEMPORAL_API_KEY_FILE,
  };
  const connection = await NativeConnection.connect(connectionOptions(target)).catch((err: unknown) => {
    throw new TemporalUnreachableError(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (${(err as Error).message.split('\n')[0]!.slice(0, 300)}). Fix: check TEMPORAL_ADDRESS, the network path and TLS settings`);
  });
  // A namespace that does not exist is the operator's to fix (exit 2), said plainly before any poll.
  await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE }).catch(async (err: { code?: number; message?: string }) => {
    await connection.close();
    if (err.code === grpcStatus.NOT_FOUND) {
      throw new ConfigError([`TEMPORAL_NAMESPACE=${JSON.stringify(config.TEMPORAL_NAMESPACE)}: Temporal at ${config.TEMPORAL_ADDRESS} has no such namespace. Fix: create it (temporal operator namespace create --namespace ${config.TEMPORAL_NAMESPACE}) or set TEMPORAL_NAMESPACE to an existing one`]);
    }
    throw new TemporalUnreachableError(`cannot describe namespace ${config.TEMPORAL_NAMESPACE} at ${config.TEMPORAL_ADDRESS} (${String(err.message).split('\n')[0]!.slice(0, 300)})`);
  });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
    activities: createActivities({
      kubernetes,
      git,
      gitPolicy: { allowedHosts: config.SDLC_ALLOWED_GIT_HOSTS, branchPrefix: config.SDLC_TASK_BRANCH_PREFIX },
      egress: config.SDLC_EGRESS_PROXY && config.SDLC_EGRESS_TICKET_KEY_FILE ? { proxy: config.SDLC_EGRESS_PROXY, keyFiles: [config.SDLC_EGRESS_TICKET_KEY_FILE] } : undefined,
    }),
    maxConcurrentActivityTaskExecutions: config.SDLC_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.SDLC_MAX_CONCURRENT_WORKFLOW_TASKS,
    // A new run's children all arrive on the normal (not sticky) queue at once: fixed pollers served them ~2 at a time.
    workflowTaskPollerBehavior: { type: 'autoscaling', maximum: Math.min(config.SDLC_WORKFLOW_TASK_POLLERS, config.SDLC_MAX_CONCURRENT_WORKFLOW_TASKS) },
    shutdownGraceTime: `${config.SDLC_SHUTDOWN_GRACE_SECONDS} seconds`,
  });
  // Ready = the Temporal worker is polling.
  const ready: Readiness = () => worker.getState() === 'RUNNING' || `the Temporal worker is ${worker.getState()}`;
  started.setReadiness(ready);
  const health = started.health ?? (await startHealthServer(config.SDLC_HEALTH_PORT, ready));
  log(`worker polling ${config.TEMPORAL_ADDRESS} namespace=${config.TEMPORAL_NAMESPACE} taskQueue=${config.TEMPORAL_TASK_QUEUE}; agent pods in ${config.SDLC_K8S_NAMESPACE}; health :${health.port}, metrics :${config.SDLC_METRICS_PORT}`);
  // Owners are asked of Temporal through the worker's own connection (no second connection to configure).
  const sweeper = config.SDLC_ORPHAN_SWEEP_SECONDS > 0
    ? startOrphanPodSweeper(
        { kubernetes, isOpen: temporalExecutionIsOpen(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE })), log },
        config.SDLC_ORPHAN_SWEEP_SECONDS * 1000,
      )
    : undefined;
  const done = worker.run().finally(async () => {
    await sweeper?.stop();
    await kubernetes.close();
    await health.close();
    await connection.close();
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log(`shutting down: in-flight activities get ${config.SDLC_SHUTDOWN_GRACE_SECONDS}s`);
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    })();
    return stopping;
  };
  return { stop, done };
}
