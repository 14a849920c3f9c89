/**
 * The agent pod's environment contract (docker/agent-entrypoint.sh reads these). Secrets are never
 * passed as values here: only paths of files mounted from Secrets, and provider keys via secretKeyRef.
 */
export const AGENT_ENV = {
  REPO_URL: 'SDLC_REPO_URL',
  BASE_BRANCH: 'SDLC_BASE_BRANCH',
  TASK_BRANCH: 'SDLC_TASK_BRANCH',
  TASK_ID: 'SDLC_TASK_ID',
  /** The task's full text (title + details) from tasks.md. */
  TASK_TEXT: 'SDLC_TASK_TEXT',
  /**
   * What the task branch already holds when the agent starts (set only for a task stacked on its
   * dependencies): a JSON array of {taskId, title, commit}, in tasks.md order. Told to the agent in its prompt.
   */
  STACKED_ON: 'SDLC_STACKED_ON',
  /** Feature directory inside the repo, e.g. specs/001-login. */
  FEATURE_DIR: 'SDLC_FEATURE_DIR',
  /** OpenCode model id, provider/model (e.g. anthropic/claude-sonnet-4-5). */
  MODEL: 'SDLC_MODEL',
  TIME_LIMIT_SECONDS: 'SDLC_TIME_LIMIT_SECONDS',
  RUN_ID: 'SDLC_RUN_ID',
  ATTEMPT: 'SDLC_ATTEMPT',
  GIT_AUTHOR_NAME: 'SDLC_GIT_AUTHOR_NAME',
  GIT_AUTHOR_EMAIL: 'SDLC_GIT_AUTHOR_EMAIL',
  /** Path of a file holding an HTTPS token (read by a git credential helper; never in URL or argv). */
  GIT_TOKEN_FILE: 'SDLC_GIT_TOKEN_FILE',
  /** Username for HTTPS token auth (default x-access-token). */
  GIT_USERNAME: 'SDLC_GIT_USERNAME',
  GIT_SSH_KEY_FILE: 'SDLC_GIT_SSH_KEY_FILE',
  GIT_KNOWN_HOSTS_FILE: 'SDLC_GIT_KNOWN_HOSTS_FILE',
  /** "true" to push partial work to the task branch when the agent failed. */
  PUSH_PARTIAL: 'SDLC_PUSH_PARTIAL',
  /** Working directory for the clone (default /workspace). */
  WORKDIR: 'SDLC_WORKDIR',
  /**
   * Directory of the checkout and publish phases only (an emptyDir the agent container does not mount):
   * the git directory publish commits and pushes from, and what checkout hands to publish. Default /sdlc-git.
   */
  GIT_STATE_DIR: 'SDLC_GIT_STATE_DIR',
  /**
   * Optional path of a JSON file with extra OpenCode config (e.g. a `provider` entry for a custom or
   * self-hosted model, mounted from a ConfigMap). Merged under the entrypoint's own settings:
   * permissions, autoupdate and sharing are always the entrypoint's, so a run never waits for a human.
   */
  OPENCODE_CONFIG_FILE: 'SDLC_OPENCODE_CONFIG_FILE',
  /**
   * Seconds OpenCode may take to exit after its final step_finish (default 20) before the
   * entrypoint's watchdog ends it (known upstream: runs that finish and never exit).
   */
  EXIT_GRACE_SECONDS: 'SDLC_EXIT_GRACE_SECONDS',
  /**
   * The pod's terminationGracePeriodSeconds, set by the runner from the pod spec (the container cannot
   * read it). After SIGTERM a push in flight gets the exit grace, but never so long that the kubelet's
   * SIGKILL comes first: the result line must still be written.
   */
  TERMINATION_GRACE_SECONDS: 'SDLC_TERMINATION_GRACE_SECONDS',
  /**
   * The model gateway's providers (gateway container only; docker/agent/model-gateway.js): a JSON array
   * of {id, api: "openai"|"anthropic", baseURL, keyFile, headers?}. Clients reach provider `id` at
   * http://<listen>/<id>/v1; the key is read from keyFile (a mounted Secret), never from the env.
   */
  GATEWAY_PROVIDERS: 'SDLC_GATEWAY_PROVIDERS',
  /** Where the model gateway finds a provider's relative keyFile: the mounted provider-keys Secret (default /var/run/secrets/sdlc-llm). */
  GATEWAY_KEYS_DIR: 'SDLC_GATEWAY_KEYS_DIR',
  /** The model gateway's listen address, host:port (default 127.0.0.1:4318; port 0 = any, see gateway.json). */
  GATEWAY_LISTEN: 'SDLC_GATEWAY_LISTEN',
  /**
   * The model gateway's pricing table: JSON {"<model>" | "<provider>/<model>" | "*": {input, output,
   * cacheRead?, cacheWrite?}}, USD per million tokens (cache prices default to the input price).
   */
  GATEWAY_PRICING: 'SDLC_GATEWAY_PRICING',
  /**
   * The task's budget the model gateway keeps: JSON {maxTokens?, maxCost? (USD)}; once reached, further
   * model requests are refused (HTTP 402, budget_exceeded). One JSON variable because redaction treats
   * the value of any variable whose name contains TOKEN as a secret.
   */
  GATEWAY_BUDGET: 'SDLC_GATEWAY_BUDGET',
  /**
   * The run's extra egress grants (`--allow-egress`), comma-separated allowlist entries. The worker signs
   * them into the attempt's egress ticket (HTTPS_PROXY); the agent's prompt names them.
   */
  EGRESS_HOSTS: 'SDLC_EGRESS_HOSTS',
  /**
   * The model gateway's state directory (default /sdlc-gateway; the gateway writes it, publish reads it,
   * the agent does not mount it): gateway.json once listening, usage.json after every response.
   */
  GATEWAY_STATE_DIR: 'SDLC_GATEWAY_STATE_DIR',
  /** Optional second path for the gateway's gateway.json (e.g. in the workspace, for the agent to wait on). */
  GATEWAY_READY_FILE: 'SDLC_GATEWAY_READY_FILE',
  /**
   * Where publish keeps the pod's log and OpenCode's transcript after the pod is gone: a ref of the task's
   * repository (`refs/sdlc-runner/logs/<run>/<run uid>/<pod>`, src/contract/log-archive.ts), set by the
   * worker per pod. Unset: no archive.
   */
  LOG_REF: 'SDLC_LOG_REF',
} as const;
