// The long run of the mutation fuzzer (test/security/fuzz.ts): N cases per picture format, 2N safetensors
// files and 2N history rows, printed as counts, timings and peak memory; failures are listed with their
// seed and case index (rerun with the same --seed to reproduce). Exit code 1 when any case failed.
// Run: npx tsx bench/fuzz.bench.ts [--cases N] [--seed S]   (default 5000 and the date's seed)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { dispatch } from '../electron/api/dispatch.ts';
import { createStudio } from '../electron/services/studio.ts';
import { fuzzJsonl, fuzzPictures, fuzzSafetensors, type FuzzReport } from '../test/security/fuzz.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const cases = flag('cases', quick ? 500 : 5000);
const seed = flag('seed', Number(new Date().toISOString().slice(0, 10).replace(/-/g, '')));

const dir = mkdtempSync(join(tmpdir(), 'ldm-fuzz-bench-'));
const reports: FuzzReport[] = [];
try {
  reports.push(...(await fuzzPictures(cases, seed)));
  reports.push(await fuzzSafetensors(2 * cases, seed));
  const studio = await createStudio({ dataDir: join(dir, 'data'), transport: 'web', embeddedModelsDir: join(dir, 'none') });
  try {
    for (const size of [16, 24]) {
      const png = await sharp({ create: { width: size, height: size, channels: 3, background: 'red' } }).png().toBuffer();
      await dispatch(studio, 'gallery.save', { base64: png.toString('base64'), prompt: `seed row ${size}`, maskBase64: png.toString('base64') });
    }
    reports.push(await fuzzJsonl(studio, 2 * cases, seed, 500));
  } finally {
    await studio.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`seed ${seed}`);
for (const r of reports) {
  console.log(`${r.target.padEnd(12)} ${String(r.cases).padStart(7)} cases  ${String(r.accepted).padStart(6)} read  ${String(r.refused).padStart(6)} refused  ${(r.ms / r.cases).toFixed(2)} ms/case  peak RSS ${Math.round(r.peakRssMb)} MB  failures ${r.failures.length}`);
  for (const f of r.failures.slice(0, 10)) console.log(`  ${f}`);
}
console.log(`total ${reports.reduce((a, r) => a + r.cases, 0)} cases, ${reports.reduce((a, r) => a + r.failures.length, 0)} failures`);
if (reports.some((r) => r.failures.length)) process.exit(1);
