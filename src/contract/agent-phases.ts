/**
 * The agent pod runs a task in three phases, one container each, each with its own uid
 * (docker/agent/README.md "Phases"); the phase is the container's first argument and its name.
 * - checkout (init container): clones the task branch with the git credential; hands a worktree to the agent.
 * - agent: OpenCode and nothing else; no git credential.
 * - publish: after the agent ends, commits the worktree from its own git directory and pushes only the
 *   task branch; prints the result line.
 * - gateway (a native sidecar: an init container with restartPolicy Always): the model gateway
 *   (docker/agent/model-gateway.js), the only container with the provider keys; meters and budgets.
 */
export const AGENT_PHASES = {
  CHECKOUT: 'checkout',
  AGENT: 'agent',
  PUBLISH: 'publish',
  GATEWAY: 'gateway',
} as const;

export type AgentPhase = (typeof AGENT_PHASES)[keyof typeof AGENT_PHASES];
