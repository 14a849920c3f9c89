/** A workflow that only parses: proves the parser loads and runs inside Temporal's sandbox. */
import { parseTasksMarkdown } from '../../../src/tasks/parse';
import type { TaskPlan } from '../../../src/tasks/types';

export async function parsePlanWorkflow(text: string, file: string, feature: string): Promise<TaskPlan> {
  return parseTasksMarkdown(text, { file, feature });
}
