'use strict';
/**
 * The agent pod's contract, mirrored from src/contract/*.ts for a program that must run in the image
 * with no npm dependencies. test/agent/contract-mirror.test.ts fails when the two drift apart.
 */

/** Exit codes (src/contract/agent-exit-codes.ts). */
const EXIT = Object.freeze({
  SUCCESS: 0,
  AGENT_FAILURE: 10,
  GIT_FAILURE: 20,
  CONFIG_ERROR: 30,
  TIMEOUT: 40,
  BUDGET_EXCEEDED: 50,
});

/** Result statuses (src/contract/result-line.ts AgentResultStatus), keyed by the exit code they go with. */
const STATUS_FOR_EXIT = Object.freeze({
  [EXIT.SUCCESS]: 'succeeded',
  [EXIT.AGENT_FAILURE]: 'failed',
  [EXIT.GIT_FAILURE]: 'git_failed',
  [EXIT.CONFIG_ERROR]: 'config_error',
  [EXIT.TIMEOUT]: 'timed_out',
  [EXIT.BUDGET_EXCEEDED]: 'budget_exceeded',
});

/** Environment variable names (src/contract/agent-env.ts AGENT_ENV). */
const ENV = Object.freeze({
  REPO_URL: 'SDLC_REPO_URL',
  BASE_BRANCH: 'SDLC_BASE_BRANCH',
  TASK_BRANCH: 'SDLC_TASK_BRANCH',
  TASK_ID: 'SDLC_TASK_ID',
  TASK_TEXT: 'SDLC_TASK_TEXT',
  STACKED_ON: 'SDLC_STACKED_ON',
  FEATURE_DIR: 'SDLC_FEATURE_DIR',
  MODEL: 'SDLC_MODEL',
  TIME_LIMIT_SECONDS: 'SDLC_TIME_LIMIT_SECONDS',
  RUN_ID: 'SDLC_RUN_ID',
  ATTEMPT: 'SDLC_ATTEMPT',
  GIT_AUTHOR_NAME: 'SDLC_GIT_AUTHOR_NAME',
  GIT_AUTHOR_EMAIL: 'SDLC_GIT_AUTHOR_EMAIL',
  GIT_TOKEN_FILE: 'SDLC_GIT_TOKEN_FILE',
  GIT_USERNAME: 'SDLC_GIT_USERNAME',
  GIT_SSH_KEY_FILE: 'SDLC_GIT_SSH_KEY_FILE',
  GIT_KNOWN_HOSTS_FILE: 'SDLC_GIT_KNOWN_HOSTS_FILE',
  PUSH_PARTIAL: 'SDLC_PUSH_PARTIAL',
  WORKDIR: 'SDLC_WORKDIR',
  GIT_STATE_DIR: 'SDLC_GIT_STATE_DIR',
  OPENCODE_CONFIG_FILE: 'SDLC_OPENCODE_CONFIG_FILE',
  EXIT_GRACE_SECONDS: 'SDLC_EXIT_GRACE_SECONDS',
  TERMINATION_GRACE_SECONDS: 'SDLC_TERMINATION_GRACE_SECONDS',
  GATEWAY_PROVIDERS: 'SDLC_GATEWAY_PROVIDERS',
  GATEWAY_KEYS_DIR: 'SDLC_GATEWAY_KEYS_DIR',
  GATEWAY_LISTEN: 'SDLC_GATEWAY_LISTEN',
  GATEWAY_PRICING: 'SDLC_GATEWAY_PRICING',
  GATEWAY_BUDGET: 'SDLC_GATEWAY_BUDGET',
  EGRESS_HOSTS: 'SDLC_EGRESS_HOSTS',
  GATEWAY_STATE_DIR: 'SDLC_GATEWAY_STATE_DIR',
  GATEWAY_READY_FILE: 'SDLC_GATEWAY_READY_FILE',
  LOG_REF: 'SDLC_LOG_REF',
});

const RESULT_LINE_PREFIX = '::sdlc-result::';

/** The pod's phases, one container each (src/contract/agent-phases.ts): the container's first argument. */
const PHASES = Object.freeze({ CHECKOUT: 'checkout', AGENT: 'agent', PUBLISH: 'publish', GATEWAY: 'gateway' });

module.exports = { EXIT, STATUS_FOR_EXIT, ENV, RESULT_LINE_PREFIX, PHASES };
