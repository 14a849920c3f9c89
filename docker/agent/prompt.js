'use strict';
/** The prompt OpenCode gets: the task, where the feature's spec lives, and the rules of the run. */
const fs = require('node:fs');
const path = require('node:path');

/** Spec-kit feature documents, in the order a reader needs them. */
const FEATURE_DOCS = ['spec.md', 'plan.md', 'tasks.md', 'data-model.md', 'research.md', 'quickstart.md', 'contracts/'];

/** Paths (relative to the repo root) of the feature documents that exist in the clone. */
function featureDocuments(repoDir, featureDir) {
  if (!featureDir) return [];
  return FEATURE_DOCS.map((doc) => path.posix.join(featureDir, doc) + (doc.endsWith('/') ? '/' : '')).filter((rel) => {
    try {
      const st = fs.statSync(path.join(repoDir, rel));
      return rel.endsWith('/') ? st.isDirectory() : st.isFile();
    } catch {
      return false;
    }
  });
}

/**
 * @param {object} cfg validated config
 * @param {{ repoDir: string, resumed: boolean, previousCommit?: string }} run
 */
function composePrompt(cfg, run) {
  const docs = featureDocuments(run.repoDir, cfg.featureDir);
  const lines = [
    `You are implementing exactly one task of a spec-kit feature in this git repository (${run.repoDir}).`,
    '',
    `## Task ${cfg.taskId}`,
    '',
    cfg.taskText.trim(),
    '',
  ];
  if (docs.length) {
    lines.push('## Feature context', '', 'Read these before changing anything; they define what the task means:', ...docs.map((d) => `- ${d}`), '');
  } else if (cfg.featureDir) {
    lines.push('## Feature context', '', `The feature directory is ${cfg.featureDir}.`, '');
  }
  if (cfg.stackedOn && cfg.stackedOn.length) {
    const ids = cfg.stackedOn.map((d) => d.taskId).join(', ');
    lines.push(
      '## Starting point',
      '',
      `This branch already holds the work of ${ids}, which this task builds on (merged by the runner before you started):`,
      ...cfg.stackedOn.map((d) => `- ${d.taskId}: ${d.title} (commit ${d.commit.slice(0, 12)})`),
      '',
      'Use what they built; do not redo, revert or rewrite their work unless this task asks for it.',
      '',
    );
  }
  if (run.resumed) {
    lines.push(
      '## Earlier attempt',
      '',
      `This branch already holds earlier work on this task${run.previousCommit ? ` (latest commit: "${run.previousCommit}")` : ''}.`,
      'Continue from it: keep what is correct, fix or finish the rest. Do not start over.',
      '',
    );
  }
  lines.push(
    '## Rules',
    '',
    `1. Implement only task ${cfg.taskId}. Do not implement, edit, tick off or reword other tasks (in tasks.md or anywhere else).`,
    '2. Change files inside this repository only.',
    '3. Do not commit, push, create or switch branches, or change git configuration: the runner commits and pushes your work when you finish.',
    '4. Never print or write secrets (tokens, keys, passwords).',
    '5. When you are done, answer with a short summary of what you changed and how you checked it.',
  );
  return lines.join('\n');
}

module.exports = { composePrompt, featureDocuments };
