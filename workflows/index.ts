/** The workflow bundle's entry point: every workflow the worker registers. */
export { implementFeature } from './implement-feature';
export { runAgentTask } from './run-agent-task';
export { reapPod } from './reap-pod';
export { integrateFeature } from './integrate-feature';
