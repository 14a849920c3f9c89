/**
 * What the scripted model does for each agent of the demo: it reads which task its conversation is
 * about from the agent's prompt ("## Task T002"), writes that task's file with one bash call, then
 * answers with a summary. Each turn depends only on that conversation, so three agents can run at once.
 */
import type { ScenarioContext, Turn } from '../integration/support/scripted-model';
import { messageText } from '../integration/support/scripted-model';

/** The files the sample feature's [ASYNC] tasks ask for (test/integration/support/sample-repo.ts). */
const TASK_FILES: Record<string, { file: string; content: string }> = {
  T002: { file: 'src/greet.js', content: "module.exports = function greet(name) {\n  return `Hello, ${name}!`;\n};\n" },
  T003: { file: 'src/farewell.js', content: "module.exports = function farewell(name) {\n  return `Goodbye, ${name}!`;\n};\n" },
  T005: { file: 'docs/usage.md', content: "# Usage\n\n```js\nrequire('./src/greet')('Ada'); // Hello, Ada!\nrequire('./src/farewell')('Ada'); // Goodbye, Ada!\n```\n" },
};

export function taskOf(ctx: ScenarioContext): string | undefined {
  for (const m of ctx.request.messages) {
    const id = /## Task (T\d+)/.exec(messageText(m))?.[1];
    if (id) return id;
  }
  return undefined;
}

export function agentScenario(ctx: ScenarioContext): Turn {
  const id = taskOf(ctx) ?? 'unknown';
  const target = TASK_FILES[id] ?? { file: `notes/${id}.md`, content: `# ${id}\n\nDone by the scripted demo model.\n` };
  if (ctx.toolOutputs.length === 0) {
    const command = `mkdir -p "$(dirname ${target.file})" && cat > ${target.file} <<'SDLC_EOF'\n${target.content}SDLC_EOF\nls -l ${target.file}`;
    return { bash: { command, description: `Write ${target.file} for ${id}` } };
  }
  return { text: `Implemented ${id}: wrote ${target.file} and checked it exists.` };
}
