/**
 * Bundles the parts of @kubernetes/client-node the runner uses (src/k8s/client-node-api.ts) into
 * dist/vendor/client-node.js: one CommonJS file, tree-shaken, whitespace-minified (names kept, so stack
 * traces still read). Why: src/k8s/client-node.ts.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

async function run(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const out = path.join(root, 'dist', 'vendor', 'client-node.js');
  const started = Date.now();
  await build({
    entryPoints: [path.join(root, 'src', 'k8s', 'client-node-api.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    // The oldest Node the package supports (package.json engines).
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // Optional native speed-ups of ws and node-fetch, required inside try/catch by their packages; and
    // node-fetch itself: its URL library requires Node's deprecated `punycode`, which Node 22 warns about
    // on stderr unless the caller is inside node_modules (it stays there, a production dependency).
    external: ['bufferutil', 'utf-8-validate', 'encoding', 'node-fetch'],
    logLevel: 'warning',
  });
  console.log(`kubernetes client bundle: ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB, ${Date.now() - started} ms)`);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
