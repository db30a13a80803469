// Runs every bench/*.bench.ts in turn, each in its own process (so one's memory peak or crash does
// not touch the next), passing the command-line arguments through. Figures are printed, never judged.
// Usage: npm run bench [-- --only NAME] [other args for the benchmarks, e.g. --threads 2 --quick]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
const passThrough = onlyAt >= 0 ? [...args.slice(0, onlyAt), ...args.slice(onlyAt + 2)] : args;

const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only))).sort();
if (files.length === 0) {
  console.error(only ? `no bench/*.bench.ts matches '${only}'` : 'no bench/*.bench.ts files');
  process.exit(1);
}
const failed: string[] = [];
for (const f of files) {
  console.log(`\n=== ${f} ${'='.repeat(Math.max(0, 70 - f.length))}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, f), ...passThrough], { stdio: 'inherit' });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    failed.push(f);
    console.log(`--- ${f} FAILED (${r.signal ?? `exit ${r.status}`}) after ${s} s`);
  } else {
    console.log(`--- ${f} done in ${s} s`);
  }
}
if (failed.length) {
  console.log(`\n${failed.length} of ${files.length} benchmarks failed: ${failed.join(', ')}`);
  process.exit(1);
}
