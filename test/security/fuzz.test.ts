// The mutation fuzzer in CI: a few thousand seeded cases over PNG, JPEG, WebP, safetensors and history
// JSONL, a few seconds in all. A longer run: npx tsx bench/fuzz.bench.ts --cases 20000.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { tempDir } from '../services/helpers.ts';
import { fuzzJsonl, fuzzPictures, fuzzSafetensors, type FuzzReport } from './fuzz.ts';
import { png } from './images.ts';

const SEED = 20261130;
const reports: FuzzReport[] = [];

function check(r: FuzzReport): void {
  reports.push(r);
  expect(r.failures, r.failures.slice(0, 5).join('\n')).toEqual([]);
  expect(r.accepted + r.refused).toBe(r.cases);
  // Bounded memory: the whole run stays far below what a decompression bomb would take.
  expect(r.peakRssMb).toBeLessThan(1500);
}

describe('mutation fuzzer', () => {
  afterAll(() => {
    for (const r of reports) console.log(`fuzz ${r.target}: ${r.cases} cases (${r.accepted} read, ${r.refused} refused with a clear error) in ${r.ms} ms, peak RSS ${Math.round(r.peakRssMb)} MB`);
    console.log(`fuzz total: ${reports.reduce((a, r) => a + r.cases, 0)} cases`);
  });

  it('pictures: every mutated PNG, JPEG and WebP is read or refused with an ImageError', async () => {
    for (const r of await fuzzPictures(400, SEED)) check(r);
  }, 60_000);

  it('safetensors: every mutated file is parsed or refused with a SafetensorsError', async () => {
    check(await fuzzSafetensors(1000, SEED));
  });

  describe('history JSONL', () => {
    let tmp: ReturnType<typeof tempDir>;
    let studio: Studio;
    beforeAll(async () => {
      tmp = tempDir('ldm-fuzz-');
      studio = await createStudio({ dataDir: join(tmp.dir, 'data'), transport: 'web', embeddedModelsDir: join(tmp.dir, 'none') });
      for (const [i, size] of [16, 24].entries()) {
        await dispatch(studio, 'gallery.save', { image: { base64: (await png(size, size)).toString('base64') }, prompt: `seed row ${i}`, mask: { base64: (await png(size, size)).toString('base64') } });
      }
    });
    afterAll(async () => {
      await studio.close();
      tmp.cleanup();
    });

    it('imports or refuses every mutated row; nothing already in the history is lost or changed', async () => {
      check(await fuzzJsonl(studio, 800, SEED));
      expect(((await dispatch(studio, 'history.search', { query: 'seed row' })) as { output: { total: number } }).output.total).toBe(2);
    }, 60_000);
  });
});
