/**
 * Exit codes of docker/agent-entrypoint.sh (the agent pod's main process). The workflow reads them
 * from the container's terminated state, together with the result line.
 */
export const AGENT_EXIT = {
  /** The agent changed the tree, the commit was pushed, the branch head is the reported sha. */
  SUCCESS: 0,
  /** OpenCode failed: model/session error, rejected tool call, no change, truncated (`length`) output. */
  AGENT_FAILURE: 10,
  /** clone, fetch or push failed (auth, network, rejected push) after retries. */
  GIT_FAILURE: 20,
  /** A required env var or mounted file is missing or invalid. Retrying will not help. */
  CONFIG_ERROR: 30,
  /** The time limit (SDLC_TIME_LIMIT_SECONDS) passed before the agent finished. */
  TIMEOUT: 40,
  /** The task's token or cost budget ran out (the model gateway's count, SDLC_GATEWAY_BUDGET) before the agent finished. */
  BUDGET_EXCEEDED: 50,
} as const;

export type AgentExitCode = (typeof AGENT_EXIT)[keyof typeof AGENT_EXIT];

export function describeAgentExit(code: number): string {
  switch (code) {
    case AGENT_EXIT.SUCCESS: return 'success';
    case AGENT_EXIT.AGENT_FAILURE: return 'agent failure';
    case AGENT_EXIT.GIT_FAILURE: return 'git failure';
    case AGENT_EXIT.CONFIG_ERROR: return 'configuration error';
    case AGENT_EXIT.TIMEOUT: return 'agent time limit exceeded';
    case AGENT_EXIT.BUDGET_EXCEEDED: return 'task budget exhausted';
    case 137: return 'killed (SIGKILL, often out of memory)';
    case 143: return 'terminated (SIGTERM)';
    default: return `exit code ${code}`;
  }
}
