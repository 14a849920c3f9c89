export { parseTasksMarkdown } from './parse';
export { loadTasksFile, MAX_TASKS_FILE_BYTES } from './load';
export { formatPlanTable } from './format';
export { assertRunnablePlan, TasksFileError } from './errors';
export { branchName } from './dispatch';
export { DEFAULT_BRANCH_PATTERN } from './types';
export type { ParseOptions, PlanError, PlanWarning, Task, TaskMode, TaskPlan, TaskStatus } from './types';
