'use strict';
/**
 * Redaction for everything the agent pod prints: pod logs are read by people and stored by the
 * cluster, so no credential may reach them. Two layers: exact known secret values (the git token
 * file, provider keys in the environment, SSH key lines) together with their encodings (base64,
 * base64url, hex, percent-encoding), and patterns for common credential shapes (URLs with userinfo,
 * Authorization headers, well-known token formats, PEM private keys).
 *
 * The worker compiles this very file in (src/security/redact.ts, tsconfig allowJs): one
 * implementation for both sides. Node builtins only: it runs in the agent image.
 */

const MASK = '[REDACTED]';

/** Shortest value treated as a secret: shorter ones would mask ordinary words. */
const MIN_SECRET_LENGTH = 6;

/** Shortest secret whose encodings are masked too: encodings of shorter values are short enough to occur in ordinary text. */
const MIN_ENCODED_SECRET_LENGTH = 8;

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

function base64url(b64) {
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The ways a secret is printed encoded, each a literal to mask like the secret itself:
 * - base64 and base64url. Inside a longer base64 text (`base64` of "Authorization: Bearer " + token,
 *   of a whole credentials file, …) the secret's bytes start at an offset whose remainder mod 3 decides
 *   how they are encoded, so each of the three alignments gives a variant: the characters that encode
 *   only the secret's bits (the partial characters it shares with its neighbours dropped); and the
 *   whole encoding with its `=` padding, for the value printed on its own.
 * - hex, lower and upper case.
 * - percent-encoding: encodeURIComponent's form and the form where every byte is %XX, each with upper
 *   and lower case hex digits.
 * Not covered: an encoding split across lines (`base64` wraps at 76 columns) or nested encodings.
 * @param {string} secret
 * @returns {string[]} distinct forms other than the secret itself
 */
function encodedForms(secret) {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set();
  const whole = bytes.toString('base64');
  forms.add(whole);
  for (let offset = 0; offset < 3; offset++) {
    const aligned = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // Characters holding any bit of the leading filler, or bits of what follows the secret, are not the secret's.
    forms.add(aligned.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6)));
  }
  for (const b64 of [...forms]) forms.add(base64url(b64));
  const hex = bytes.toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  const uri = encodeURIComponent(secret);
  forms.add(uri);
  forms.add(uri.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  const everyByte = hex.replace(/../g, '%$&');
  forms.add(everyByte);
  forms.add(everyByte.toUpperCase());
  forms.delete(secret);
  return [...forms];
}

class Redactor {
  constructor() {
    /** @type {Set<string>} the secret values as registered */
    this.secrets = new Set();
    /** @type {Set<string>} what is masked: the values and, for the long enough ones, their encodings (computed once, here) */
    this.literals = new Set();
    this.exact = null;
  }

  /** Registers a secret value; multi-line values (keys) register each meaningful line too. */
  addSecret(value) {
    if (typeof value !== 'string') return;
    const candidates = [value, value.trim(), ...value.split(/\r?\n/).map((l) => l.trim())];
    for (const c of candidates) {
      if (c.length < MIN_SECRET_LENGTH || /^-----(BEGIN|END) /.test(c) || this.secrets.has(c)) continue;
      this.secrets.add(c);
      this.literals.add(c);
      if (c.length >= MIN_ENCODED_SECRET_LENGTH) for (const form of encodedForms(c)) this.literals.add(form);
      this.exact = null;
    }
  }

  /** Registers the values of secret-looking environment variables (provider keys). */
  addSecretsFromEnv(env) {
    for (const [name, value] of Object.entries(env)) {
      if (SECRET_ENV_NAME.test(name) && value && !/^(true|false|0|1)$/i.test(value)) this.addSecret(value);
    }
  }

  redact(text) {
    let out = String(text);
    if (this.literals.size) {
      if (!this.exact) {
        // Longest first, so a secret (or encoding) that contains another is masked whole.
        const sorted = [...this.literals].sort((a, b) => b.length - a.length).map(escapeRegExp);
        this.exact = new RegExp(sorted.join('|'), 'g');
      }
      out = out.replace(this.exact, MASK);
    }
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    return out;
  }
}

module.exports = { Redactor, MASK, encodedForms, MIN_ENCODED_SECRET_LENGTH };
