// Bundles the Electron side with esbuild: the shell's main process (ESM) and preload (CommonJS, as a
// sandboxed preload must be) into dist/electron/shell/, and the worker entry, when there is one, into
// dist/electron/workers/. Native modules stay external: they load from node_modules (unpacked from the asar).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/electron');
const external = ['electron', 'onnxruntime-node', 'better-sqlite3', 'sharp'];
// Bundled ESM still meets CommonJS dependencies that call require(): give them one.
const requireShim = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/**
 * Modules find files next to them with `new URL('../../package.json', import.meta.url)`. Bundled, every
 * module would share the bundle's URL; this keeps import.meta.url meaning "where this source file sits
 * in the app", computed from the bundle's own location, so such paths stay right inside the asar too.
 */
function sourceImportMetaUrl(outfile) {
  return {
    name: 'source-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const contents = readFileSync(args.path, 'utf8');
        if (!contents.includes('import.meta.url')) return undefined;
        const rel = path.relative(path.dirname(outfile), args.path).split(path.sep).join('/');
        const prelude = `const __sourceUrl = new URL(${JSON.stringify(rel)}, import.meta.url).href;\n`;
        return { contents: prelude + contents.replaceAll('import.meta.url', '__sourceUrl'), loader: 'ts' };
      });
    },
  };
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  logLevel: 'warning',
  external,
  absWorkingDir: root,
};

const jobs = [
  build({
    ...common,
    entryPoints: ['electron/shell/main.ts'],
    outfile: path.join(out, 'shell/main.js'),
    format: 'esm',
    plugins: [sourceImportMetaUrl(path.join(out, 'shell/main.js'))],
    banner: { js: requireShim },
  }),
  build({
    ...common,
    entryPoints: ['electron/shell/preload.ts'],
    outfile: path.join(out, 'shell/preload.cjs'),
    format: 'cjs',
  }),
];
if (existsSync(path.join(root, 'electron/workers/main.ts'))) {
  jobs.push(
    build({
      ...common,
      entryPoints: ['electron/workers/main.ts'],
      outfile: path.join(out, 'workers/main.js'),
      format: 'esm',
      plugins: [sourceImportMetaUrl(path.join(out, 'workers/main.js'))],
      banner: { js: requireShim },
    }),
  );
}
try {
  await Promise.all(jobs);
} catch {
  // esbuild has already printed each error with its file and line.
  console.error('The Electron build failed.');
  process.exit(1);
}
console.log(`Built the Electron side into ${path.relative(root, out)}/`);
