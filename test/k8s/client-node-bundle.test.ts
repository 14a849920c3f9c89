/**
 * The runner loads @kubernetes/client-node from its tree-shaken bundle (src/k8s/client-node.ts), never the
 * package's index (every generated API and model: ~27 MB of heap and 0.5 s per process).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

const repoRoot = path.resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sources(file);
    return file.endsWith('.ts') && !file.endsWith('.d.ts') ? [file] : [];
  });
}

test('product code imports only types from @kubernetes/client-node (values come through src/k8s/client-node.ts)', () => {
  const offenders: string[] = [];
  for (const file of ['src', 'worker', 'activities', 'workflows'].flatMap((d) => sources(path.join(repoRoot, d)))) {
    if (file.endsWith(path.join('k8s', 'client-node-api.ts'))) continue; // the bundle's entry point
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const st of sf.statements) {
      if (!ts.isImportDeclaration(st) && !ts.isExportDeclaration(st)) continue;
      if (!st.moduleSpecifier || (st.moduleSpecifier as ts.StringLiteral).text !== '@kubernetes/client-node') continue;
      const typeOnly = ts.isImportDeclaration(st)
        ? st.importClause?.isTypeOnly || (st.importClause?.namedBindings && ts.isNamedImports(st.importClause.namedBindings) && !st.importClause.name && st.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
        : st.isTypeOnly;
      if (!typeOnly) offenders.push(`${path.relative(repoRoot, file)}:${sf.getLineAndCharacterOfPosition(st.getStart(sf)).line + 1}`);
    }
  }
  expect(offenders).toEqual([]);
});

test('the built worker and CLI load the bundle, not the package, and the bundle has every name the runner uses', async () => {
  const script = `
    require('./dist/worker/run-worker.js');
    require('./dist/src/cli/logs.js');
    const api = require('./dist/src/k8s/client-node.js');
    const fromPackage = Object.keys(require.cache).filter((k) => k.includes('node_modules/@kubernetes/client-node/'));
    const missing = Object.entries(api).filter(([, v]) => typeof v !== 'function').map(([k]) => k);
    console.log(JSON.stringify({ fromPackage, missing, names: Object.keys(api).sort(), bundle: Object.keys(require.cache).some((k) => k.endsWith('dist/vendor/client-node.js')) }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: repoRoot });
  const loaded = JSON.parse(stdout) as { fromPackage: string[]; missing: string[]; names: string[]; bundle: boolean };
  expect(loaded).toEqual({
    fromPackage: [],
    missing: [],
    names: ['AuthenticationV1Api', 'AuthorizationV1Api', 'CoreV1Api', 'KubeConfig', 'Observable', 'ServerConfiguration', 'createConfiguration'],
    bundle: true,
  });
});
