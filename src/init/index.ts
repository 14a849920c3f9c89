export { applyInit, chooseCommandDir, conflicts, formatPlan, planInit, COMMANDS, HOOK_COMMANDS, type InitPlan, type PlannedFile } from './install';
export { managedState, stampManaged } from './marker';
export { detectSpecKit, mergeHooks, EXTENSIONS_FILE, HOOKS, MIN_HOOK_SPECKIT_VERSION } from './speckit';
export { initCommand } from './command';
