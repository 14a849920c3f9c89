'use strict';
/**
 * Redaction for everything the agent pod prints: pod logs are read by people and stored by the
 * cluster, so no credential may reach them. Two layers: exact known secret values (the git token
 * file, provider keys in the environment, SSH key lines) and patterns for common credential shapes
 * (URLs with userinfo, Authorization headers, well-known token formats, PEM private keys).
 */

const MASK = '[REDACTED]';

/** Shortest value treated as a secret: shorter ones would mask ordinary words. */
const MIN_SECRET_LENGTH = 6;

/** Env var names whose values are secrets (provider API keys and the like). */
const SECRET_ENV_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)/i;

const PATTERNS = [
  // scheme://user:password@host and scheme://token@host (a password may itself hold an unencoded '@')
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+(?::[^\s/"'<>]*)?@/gi, `$1${MASK}@`],
  // Authorization / Proxy-Authorization headers, whatever the scheme, also as JSON/object keys ("Authorization": "Basic …")
  [/\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(basic|bearer|token|digest)\s+)?[^\s"',;]+/gi, (_m, head, scheme) => `${head}${scheme ? `${scheme} ` : ''}${MASK}`],
  [/\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${MASK}`],
  // PEM private keys (single line form, and the header/footer of multi-line ones)
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g, MASK],
  [/-----(BEGIN|END) [A-Z0-9 ]*PRIVATE KEY-----/g, MASK],
  // Forge and provider token formats
  [/\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, MASK],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, MASK],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/g, MASK],
  [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}\b/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, MASK],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, MASK],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, MASK],
  // key=value / "key": "value" where the key names a secret (AWS_SECRET_ACCESS_KEY, db_password, GITLAB_TOKEN, …)
  [/\b([A-Za-z0-9_.-]*(?:api[_-]?key|secret|password|passwd)[A-Za-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"',;&]{4,}/gi, `$1${MASK}`],
  [/\b([A-Za-z0-9_.-]*[_-]token["']?\s*[:=]\s*["']?)[^\s"',;&]{4,}/gi, `$1${MASK}`],
];

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

class Redactor {
  constructor() {
    /** @type {Set<string>} */
    this.secrets = new Set();
    this.exact = null;
  }

  /** Registers a secret value; multi-line values (keys) register each meaningful line too. */
  addSecret(value) {
    if (typeof value !== 'string') return;
    const candidates = [value, value.trim(), ...value.split(/\r?\n/).map((l) => l.trim())];
    for (const c of candidates) {
      if (c.length >= MIN_SECRET_LENGTH && !/^-----(BEGIN|END) /.test(c)) this.secrets.add(c);
    }
    this.exact = null;
  }

  /** Registers the values of secret-looking environment variables (provider keys). */
  addSecretsFromEnv(env) {
    for (const [name, value] of Object.entries(env)) {
      if (SECRET_ENV_NAME.test(name) && value && !/^(true|false|0|1)$/i.test(value)) this.addSecret(value);
    }
  }

  redact(text) {
    let out = String(text);
    if (this.secrets.size) {
      if (!this.exact) {
        // Longest first, so a secret that contains another is masked whole.
        const sorted = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
        this.exact = new RegExp(sorted.join('|'), 'g');
      }
      out = out.replace(this.exact, MASK);
    }
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    return out;
  }
}

module.exports = { Redactor, MASK };
