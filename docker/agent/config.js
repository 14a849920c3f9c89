'use strict';
/** Reads and validates the agent pod's environment (src/contract/agent-env.ts). */
const fs = require('node:fs');
const path = require('node:path');
const { ENV, PHASES } = require('./contract');

class ConfigError extends Error {}

const DEFAULT_TIME_LIMIT_SECONDS = 3600;
const DEFAULT_EXIT_GRACE_SECONDS = 20;
const BRANCH_NAME = /^(?!\/|.*(?:\/\/|\.\.|@\{|\\|\.lock$|\/$|\.$))[^\s~^:?*[\x00-\x1f\x7f]+$/;

function required(env, name) {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(`${name} is required`);
  return value;
}

function positiveNumber(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name} must be a positive number, got '${raw}'`);
  return n;
}

function branch(env, name) {
  const value = required(env, name);
  if (!BRANCH_NAME.test(value)) throw new ConfigError(`${name} is not a valid branch name: '${value}'`);
  return value;
}

function readableFile(env, name) {
  const file = env[name];
  if (!file) return undefined;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new ConfigError(`${name} points to a file that cannot be read: ${file}`);
  }
  return file;
}

/**
 * Best-effort identity for the result line even when the config is invalid: the workflow needs a
 * taskId and branch to attribute a config_error to.
 */
function identityForReport(env) {
  return { taskId: env[ENV.TASK_ID] || 'unknown', branch: env[ENV.TASK_BRANCH] || 'unknown' };
}

const DEFAULT_GIT_STATE_DIR = '/sdlc-git';

/**
 * @param {Record<string,string|undefined>} env
 * @param {'checkout'|'agent'|'publish'} phase what this container does (contract.js PHASES): each phase
 *   checks what it needs; only checkout and publish may hold the git credential, only the agent the model.
 * @returns the validated config; throws ConfigError with a message naming the variable.
 */
function loadConfig(env, phase) {
  const repoUrl = required(env, ENV.REPO_URL);
  if (repoUrl.startsWith('-')) throw new ConfigError(`${ENV.REPO_URL} must be a URL or path, got '${repoUrl}'`);
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(repoUrl) && /^https?:/i.test(repoUrl)) {
    throw new ConfigError(`${ENV.REPO_URL} must not contain credentials; mount a token file and set ${ENV.GIT_TOKEN_FILE}`);
  }
  const gitPhase = phase === PHASES.CHECKOUT || phase === PHASES.PUBLISH;
  const credentialVars = [ENV.GIT_TOKEN_FILE, ENV.GIT_SSH_KEY_FILE].filter((name) => env[name]);
  if (!gitPhase && credentialVars.length) {
    // The agent container must not be handed the git credential, not even its path.
    throw new ConfigError(`${credentialVars.join(', ')} must not be set in the ${phase} container: only checkout and publish hold the git credential`);
  }
  const tokenFile = gitPhase ? readableFile(env, ENV.GIT_TOKEN_FILE) : undefined;
  const sshKeyFile = gitPhase ? readableFile(env, ENV.GIT_SSH_KEY_FILE) : undefined;
  const knownHostsFile = gitPhase ? readableFile(env, ENV.GIT_KNOWN_HOSTS_FILE) : undefined;
  if (sshKeyFile && !knownHostsFile) {
    throw new ConfigError(`${ENV.GIT_SSH_KEY_FILE} needs ${ENV.GIT_KNOWN_HOSTS_FILE}: host keys are always verified`);
  }
  if (tokenFile && fs.readFileSync(tokenFile, 'utf8').trim() === '') {
    throw new ConfigError(`${ENV.GIT_TOKEN_FILE} is empty`);
  }
  // Every phase gets the task's env: checkout refuses a bad model before anything is cloned.
  const model = required(env, ENV.MODEL);
  if (!/^[^/\s]+\/\S+$/.test(model)) throw new ConfigError(`${ENV.MODEL} must be provider/model, got '${model}'`);
  const extraOpencodeConfig = phase === PHASES.AGENT ? opencodeConfig(env) : {};
  const stackedOn = stackedOnList(env);
  const featureDir = env[ENV.FEATURE_DIR] || '';
  if (featureDir && (path.isAbsolute(featureDir) || featureDir.split(/[\\/]/).includes('..'))) {
    throw new ConfigError(`${ENV.FEATURE_DIR} must be a path inside the repo, got '${featureDir}'`);
  }
  return {
    phase,
    repoUrl,
    baseBranch: branch(env, ENV.BASE_BRANCH),
    taskBranch: branch(env, ENV.TASK_BRANCH),
    taskId: required(env, ENV.TASK_ID),
    taskText: required(env, ENV.TASK_TEXT),
    featureDir,
    stackedOn,
    model,
    timeLimitSeconds: positiveNumber(env, ENV.TIME_LIMIT_SECONDS, DEFAULT_TIME_LIMIT_SECONDS),
    exitGraceSeconds: positiveNumber(env, ENV.EXIT_GRACE_SECONDS, DEFAULT_EXIT_GRACE_SECONDS),
    terminationGraceSeconds: positiveNumber(env, ENV.TERMINATION_GRACE_SECONDS, undefined),
    runId: required(env, ENV.RUN_ID),
    attempt: env[ENV.ATTEMPT] || '1',
    authorName: env[ENV.GIT_AUTHOR_NAME] || 'SDLC Agent',
    authorEmail: env[ENV.GIT_AUTHOR_EMAIL] || 'sdlc-agent@localhost',
    tokenFile,
    gitUsername: env[ENV.GIT_USERNAME] || 'x-access-token',
    sshKeyFile,
    knownHostsFile,
    pushPartial: (env[ENV.PUSH_PARTIAL] || '').toLowerCase() === 'true',
    workdir: path.resolve(env[ENV.WORKDIR] || '/workspace'),
    gitStateDir: path.resolve(env[ENV.GIT_STATE_DIR] || DEFAULT_GIT_STATE_DIR),
    extraOpencodeConfig,
  };
}

function opencodeConfig(env) {
  const file = readableFile(env, ENV.OPENCODE_CONFIG_FILE);
  if (!file) return {};
  let config;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${ENV.OPENCODE_CONFIG_FILE} is not valid JSON: ${err.message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(`${ENV.OPENCODE_CONFIG_FILE} must hold a JSON object`);
  }
  return config;
}

/** What the runner already merged into the task branch: [{taskId, title, commit}], or [] when not stacked. */
function stackedOnList(env) {
  const raw = env[ENV.STACKED_ON];
  if (!raw) return [];
  let list;
  try {
    list = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`${ENV.STACKED_ON} is not valid JSON: ${err.message}`);
  }
  const ok = Array.isArray(list) && list.every((d) => d && typeof d.taskId === 'string' && typeof d.title === 'string' && /^[0-9a-f]{40}$/.test(d.commit));
  if (!ok) throw new ConfigError(`${ENV.STACKED_ON} must be a JSON array of {taskId, title, commit} (commit: 40 hex)`);
  return list.map((d) => ({ taskId: d.taskId, title: d.title, commit: d.commit }));
}

/**
 * A git phase's config (checkout, publish) with its credential's content registered with the redactor.
 * @returns the config; throws ConfigError, or the read error of a credential file (configErrorOf says which are the operator's).
 */
function loadGitPhaseConfig(env, phase, redactor) {
  const cfg = loadConfig(env, phase);
  for (const file of [cfg.tokenFile, cfg.sshKeyFile]) if (file) redactor.addSecret(fs.readFileSync(file, 'utf8'));
  return cfg;
}

/** The message of an error the operator must fix (bad config, a credential file missing or unreadable); undefined for a bug. */
function configErrorOf(err) {
  return err instanceof ConfigError || err.code === 'ENOENT' || err.code === 'EACCES' ? `configuration error: ${err.message}` : undefined;
}

module.exports = { loadConfig, loadGitPhaseConfig, configErrorOf, ConfigError, identityForReport };
