/**
 * Reads the chart's values.yaml with its `# --` comments (helm-docs convention) and turns it into the
 * README's values table. A key whose children carry their own `# --` comments is a section; every
 * other key is one table row (its whole value is the default).
 */
import YAML, { isMap, isScalar, type Pair, type YAMLMap } from 'yaml';

export interface ValueDoc {
  key: string;
  type: string;
  /** JSON of the default value. */
  default: string;
  description: string;
}

export interface ValuesDocs {
  rows: ValueDoc[];
  /** Keys (sections included) without a `# --` description. */
  undocumented: string[];
}

function describe(comment: string | undefined): string | undefined {
  if (!comment) return undefined;
  const lines = comment.split('\n');
  let start = -1;
  lines.forEach((l, i) => {
    if (/^\s*--\s/.test(l)) start = i;
  });
  if (start < 0) return undefined;
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.replace(/^\s*--\s+/, '') : l.trim()))
    .join(' ')
    .trim();
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : 'string';
}

export function readValuesDocs(valuesYaml: string): ValuesDocs {
  const doc = YAML.parseDocument(valuesYaml);
  const rows: ValueDoc[] = [];
  const undocumented: string[] = [];
  const commentOf = (map: YAMLMap, index: number, pair: Pair): string | undefined =>
    (pair.key as { commentBefore?: string }).commentBefore ?? (index === 0 ? map.commentBefore ?? undefined : undefined);

  const walk = (map: YAMLMap, prefix: string): void => {
    map.items.forEach((pair, index) => {
      const key = `${prefix}${isScalar(pair.key) ? String(pair.key.value) : String(pair.key)}`;
      const description = describe(commentOf(map, index, pair as Pair));
      if (!description) undocumented.push(key);
      const value = pair.value;
      const isSection =
        isMap(value) && value.items.length > 0 && value.items.some((child, i) => describe(commentOf(value, i, child as Pair)) !== undefined);
      if (isSection) {
        walk(value as YAMLMap, `${key}.`);
        return;
      }
      const js = (value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? (isScalar(value) ? value.value : value ?? null);
      rows.push({ key, type: typeOf(js), default: JSON.stringify(js), description: description ?? '' });
    });
  };
  if (!isMap(doc.contents)) throw new Error('values.yaml must be a mapping');
  walk(doc.contents, '');
  return { rows, undocumented };
}

export function formatRow(r: ValueDoc): string {
  return `| \`${r.key}\` | ${r.type} | \`${r.default}\` | ${r.description.replace(/\|/g, '\\|')} |`;
}

export const TABLE_HEADER = '| Key | Type | Default | Description |\n|-----|------|---------|-------------|';
