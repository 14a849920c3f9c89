/**
 * Worker configuration from the environment (the Helm chart's ConfigMap + mounted secret files),
 * validated at start with one clear message per bad value.
 */
import { z } from 'zod';
import { parseAllowedGitHosts, type GitHostRule } from '../security/git-policy';
import { parseProxyAddress } from '../egress/pod-env';
import { refNameProblem } from '../tasks/ref-name';
import { MAX_PARALLEL_LIMIT } from '../../workflows/run-table';
import { hostPortProblem, wholeNumberProblem } from './values';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
/** Digits only, within bounds: the CLI's numeric flags' rule (`1e3`, `0x50`, `2.5` are refused, not read as something else). */
const wholeNumber = (min: number, max: number, note?: string) =>
  z.string().transform((text, ctx) => {
    const problem = wholeNumberProblem(text, min, max);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `${problem}${note ? ` (${note})` : ''}` });
      return z.NEVER;
    }
    return Number(text);
  });
const port = wholeNumber(1, 65_535, 'a TCP port');
const DAY_MINUTES = 24 * 60;
/** A name Temporal keys on (namespace, task queue): a space there is a typo that matches nothing. */
const temporalName = z.string().regex(/^\S+$/, 'must have no whitespace');

export const WorkerConfigSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .superRefine((text, ctx) => {
      const problem = hostPortProblem(text, { portOptional: false });
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `must be host:port${problem ? ` (${problem})` : ''}, e.g. temporal-frontend.temporal:7233` });
    })
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: temporalName.default('default'),
  TEMPORAL_TASK_QUEUE: temporalName.default('agentic-sdlc'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_FILE: z.string().optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().optional(),
  TEMPORAL_TLS_CA_FILE: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  /** Path of a file holding a Temporal Cloud API key (never the key itself). */
  TEMPORAL_API_KEY_FILE: z.string().optional(),
  SDLC_K8S_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name (DNS-1123 label)').max(63),
  SDLC_POD_TEMPLATE_FILE: z.string().min(1, 'must be the path of the agent pod template (the chart mounts it)'),
  SDLC_HEALTH_PORT: port.default(8080),
  SDLC_METRICS_PORT: port.default(9464),
  SDLC_SHUTDOWN_GRACE_SECONDS: wholeNumber(1, DAY_MINUTES * 60, 'at most a day').default(30),
  SDLC_MAX_CONCURRENT_ACTIVITIES: wholeNumber(1, 100_000).default(200),
  /**
   * Workflow tasks one worker runs at once. A task's pod create, branch check and pod delete are local
   * activities that run inside its workflow task, holding the slot while they wait on the API: 200 let a
   * 150-task run have every pod in 6 s instead of 11 s (the SDK's default 40; docs/benchmarks.md).
   */
  SDLC_MAX_CONCURRENT_WORKFLOW_TASKS: wholeNumber(2, 10_000).default(200),
  /** At most this many workflow-task polls open at once; the worker scales between 1 and it with the backlog (Temporal's autoscaling pollers). */
  SDLC_WORKFLOW_TASK_POLLERS: wholeNumber(2, 1_000).default(100),
  /** How often the worker deletes agent pods whose task workflow closed without cleanup (terminated); 0 turns it off. */
  SDLC_ORPHAN_SWEEP_SECONDS: wholeNumber(0, 7 * DAY_MINUTES * 60, '0 turns the sweep off; at most a week').default(300),
  /** Read token for `git ls-remote` when verifying pushed branches (optional for public repos). */
  SDLC_GIT_TOKEN_FILE: z.string().optional(),
  /** HTTPS username that goes with the read token (default x-access-token); some hosts need their own, e.g. a deploy token's user. */
  SDLC_GIT_USERNAME: z
    .string()
    .regex(/^[A-Za-z0-9._~+-]+$/, "must be a plain username: letters, digits and . _ ~ + - only (no whitespace, ':', '@', quotes or shell characters)")
    .optional(),
  /**
   * The git hosts runs may use (comma-separated): the worker's token goes to them and it pushes there.
   * Required: a run on any other host, or over http/file, is refused before anything starts.
   */
  SDLC_ALLOWED_GIT_HOSTS: z.string().transform((text, ctx): GitHostRule[] => {
    try {
      return parseAllowedGitHosts(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  /** Agents (and the worker's stacking and integration) push only branches under this prefix; `none` for any. */
  SDLC_TASK_BRANCH_PREFIX: z
    .string()
    .superRefine((p, ctx) => {
      // The start of a branch name: with a name after it, git must accept it (a space or '..' would refuse every run).
      const problem = p === 'none' ? undefined : refNameProblem(`${p}x`);
      if (problem) ctx.addIssue({ code: 'custom', message: `must be the start of valid git branch names, and ${problem}: every task branch would be refused. Fix: e.g. specs/, or none for any branch` });
    })
    .default('specs/')
    .transform((p) => (p === 'none' ? '' : p)),
  /**
   * The egress proxy's Service, host:port (chart `egress.mode: proxy`): agent pods get it as their
   * HTTPS_PROXY/HTTP_PROXY with a ticket signed per attempt. Unset: pods get no proxy (egress is the
   * NetworkPolicy's alone).
   */
  SDLC_EGRESS_PROXY: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseProxyAddress(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  /** The ticket key ring the proxy verifies with (the same Secret, mounted); the first key signs. */
  SDLC_EGRESS_TICKET_KEY_FILE: z.string().optional(),
  // The bounds of a run's own options (src/contract/run-input.ts): a default past them would refuse every run.
  SDLC_DEFAULT_TASK_TIMEOUT_MINUTES: wholeNumber(1, 7 * DAY_MINUTES, "7 days, a run's limit").default(60),
  SDLC_DEFAULT_PENDING_TIMEOUT_MINUTES: wholeNumber(1, DAY_MINUTES, "1 day, a run's limit").default(10),
  SDLC_DEFAULT_MAX_PARALLEL: wholeNumber(1, MAX_PARALLEL_LIMIT, "a run's limit").default(4),
}).superRefine((c, ctx) => {
  if ((c.TEMPORAL_TLS_CERT_FILE === undefined) !== (c.TEMPORAL_TLS_KEY_FILE === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['TEMPORAL_TLS_KEY_FILE'], message: 'TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together (mTLS client certificate)' });
  }
  if (c.SDLC_HEALTH_PORT === c.SDLC_METRICS_PORT) {
    ctx.addIssue({ code: 'custom', path: ['SDLC_METRICS_PORT'], message: `the same port as SDLC_HEALTH_PORT: both servers cannot listen on it; give each its own port` });
  }
  // Without TLS these files are silently ignored: the worker would connect in clear text instead.
  for (const key of ['TEMPORAL_TLS_CERT_FILE', 'TEMPORAL_TLS_CA_FILE', 'TEMPORAL_TLS_SERVER_NAME'] as const) {
    if (c[key] !== undefined && !c.TEMPORAL_TLS) ctx.addIssue({ code: 'custom', path: [key], message: 'only used with TEMPORAL_TLS=true: set it, or unset this' });
  }
  if ((c.SDLC_EGRESS_PROXY === undefined) !== (c.SDLC_EGRESS_TICKET_KEY_FILE === undefined)) {
    const [set, missing] = c.SDLC_EGRESS_PROXY === undefined ? ['SDLC_EGRESS_TICKET_KEY_FILE', 'SDLC_EGRESS_PROXY'] : ['SDLC_EGRESS_PROXY', 'SDLC_EGRESS_TICKET_KEY_FILE'];
    ctx.addIssue({ code: 'custom', path: [set], message: `needs ${missing} too: the egress proxy refuses pods without a ticket signed with its key (chart egress.mode: proxy sets both)` });
  }
  if (c.TEMPORAL_API_KEY_FILE && !c.TEMPORAL_TLS) {
    ctx.addIssue({ code: 'custom', path: ['TEMPORAL_API_KEY_FILE'], message: 'an API key requires TEMPORAL_TLS=true (never send it in clear text)' });
  }
});

export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

const REQUIRED_HINTS: Record<string, string> = {
  SDLC_K8S_NAMESPACE: 'set it to the namespace the agent pods run in',
  SDLC_POD_TEMPLATE_FILE: 'set it to the path of the agent pod template (the Helm chart mounts it; format in docs/pod-template.md)',
  SDLC_ALLOWED_GIT_HOSTS: 'set it to the git hosts runs may use, e.g. github.com (chart value git.allowedHosts); http:// and file:// URLs need an explicit entry such as http://127.0.0.1:*',
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError listing every bad value (name, value shown only when not secret-like, fix). */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(WorkerConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = WorkerConfigSchema.safeParse(picked);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '');
      const value = picked[name];
      if (value === undefined && i.code === 'custom') return `${name} (its default): ${i.message}`;
      if (value === undefined) return `${name} is not set: ${REQUIRED_HINTS[name] ?? i.message}`;
      return `${name}=${JSON.stringify(value)}: ${i.message}`;
    }),
  );
}
