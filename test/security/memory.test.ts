// Memory before a job, and what a killed worker is called; the start-up sweep after a crash.
import { mkdirSync, utimesSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkMemory, estimateMemory, modelShape } from '../../electron/services/admission.ts';
import { createStudio } from '../../electron/services/studio.ts';
import { newId } from '../../electron/services/ids.ts';
import { describeExit } from '../../electron/workers/adapter.ts';
import { probeModels, probeStudio, tempDir, txt2img, waitForJob } from '../services/helpers.ts';

const GiB = 2 ** 30;
const SD = { factor: 8, attentionRates: [1, 2, 4], heads: 8 };

describe('memory estimate', () => {
  it('grows with the picture and refuses with the figure what cannot fit', () => {
    // SD 1.x: 1.07 G float values, 4.26 GB as float32 (the estimate is calibrated in test/services/admission.test.ts)
    const at512 = estimateMemory({ weightBytes: 4.26e9, width: 512, height: 512, shape: SD });
    expect(at512.total / GiB).toBeGreaterThan(5);
    expect(at512.total / GiB).toBeLessThan(5.6);
    // without fused attention, 4096 tokens: 4096² × 4 B × 8 heads × 2 × 2 = 2 GiB of scores
    expect(estimateMemory({ weightBytes: 4.26e9, width: 512, height: 512, shape: SD, fusedAttention: false }).attention).toBe(2 * GiB);
    expect(() => checkMemory(at512, 'A 512x512 txt2img job', { warm: false, total: 24 * GiB, free: 16 * GiB })).not.toThrow();
    const at4096 = estimateMemory({ weightBytes: 4.26e9, width: 4096, height: 4096, shape: SD });
    expect(at4096.attention / at512.attention).toBe(64);
    expect(() => checkMemory(at4096, 'A 4096x4096 txt2img job', { warm: false, total: 24 * GiB, free: 16 * GiB })).toThrow(
      /A 4096x4096 txt2img job would need about 3[\d.]+ GiB of memory \(weights 4\.4 GiB, attention 5\.0 GiB, decoding 24\.0 GiB\); this computer has 24\.0 GiB/,
    );
    // Fits the machine but not what is free now; a warm worker's weights count as free.
    expect(() => checkMemory(at512, 'A job', { warm: false, total: 24 * GiB, free: 4 * GiB })).toThrow(/only 4\.0 GiB is free now/);
    expect(() => checkMemory(at512, 'A job', { warm: true, total: 24 * GiB, free: 4 * GiB })).not.toThrow();
  });

  it('reads the shape of a model package from its model.json', async () => {
    const tmp = tempDir();
    try {
      const dir = join(await probeModels(tmp.dir), 'probe');
      expect(await modelShape({ path: dir, format: 'package' })).toEqual({ factor: 8, attentionRates: [2], heads: 4 });
      expect(await modelShape({ path: join(tmp.dir, 'sd.safetensors'), format: 'safetensors' })).toEqual(SD);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('a killed worker', () => {
  const killed = { code: null, signal: 'SIGKILL', stderrTail: '' };
  it('is said to have run out of memory only on evidence', () => {
    expect(describeExit(killed)).toBe('The worker process was killed (signal SIGKILL).');
    expect(describeExit(killed, { estimateBytes: 1 * GiB, totalBytes: 24 * GiB, kernel: 'unknown' })).toBe('The worker process was killed (signal SIGKILL).');
    expect(describeExit(killed, { estimateBytes: 20 * GiB, totalBytes: 24 * GiB, kernel: 'unknown' })).toMatch(/most likely for running out of memory: the job needed about 20\.0 GiB of this computer's 24\.0 GiB/);
    expect(describeExit(killed, { estimateBytes: 20 * GiB, totalBytes: 24 * GiB, kernel: 'no-oom' })).toBe('The worker process was killed (signal SIGKILL).');
    expect(describeExit(killed, { kernel: 'oom' })).toMatch(/killed by the system for running out of memory \(the kernel log says so\)/);
    expect(describeExit({ code: null, signal: 'SIGABRT', stderrTail: 'std::bad_alloc\n' })).toMatch(/ran out of memory/);
  });
});

describe('start-up sweep', () => {
  it('moves orphan gallery files to trash/orphans and removes stale temp files, counting them in one log line', async () => {
    const tmp = tempDir();
    try {
      const dataDir = join(tmp.dir, 'data');
      const month = join(dataDir, 'gallery', '2026-11');
      mkdirSync(join(dataDir, 'gallery', 'thumbnails', '2026-11'), { recursive: true });
      mkdirSync(month, { recursive: true });
      mkdirSync(join(dataDir, 'exports'), { recursive: true });
      const orphan = newId();
      const old = (f: string) => (writeFileSync(f, 'x'), utimesSync(f, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000)));
      old(join(month, `${orphan}.png`));
      old(join(dataDir, 'gallery', 'thumbnails', '2026-11', `${orphan}.webp`));
      old(join(month, `.${orphan}.png.123.abc.tmp`));
      old(join(dataDir, 'exports', '.history.jsonl.1.x.tmp'));
      writeFileSync(join(month, `${newId()}.png`), 'being written by a CLI right now');
      const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      const studio = await createStudio({ dataDir, transport: 'web', embeddedModelsDir: join(tmp.dir, 'none') });
      await studio.close();
      expect(log.mock.calls.map((c) => c.join(' '))).toContain('start-up sweep: 2 orphan gallery file(s) moved to trash/orphans, 2 temp file(s) removed');
      log.mockRestore();
      expect(existsSync(join(dataDir, 'trash', 'orphans', 'gallery', '2026-11', `${orphan}.png`))).toBe(true);
      expect(readdirSync(month)).toHaveLength(1);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('a failed job', () => {
  it('gives its worker\'s memory back: the worker is recycled and the next job gets a fresh one', async () => {
    const tmp = tempDir();
    const studio = await probeStudio(join(tmp.dir, 'data'), await probeModels(tmp.dir));
    try {
      // A sampler the engine does not know: the job fails inside the worker.
      const bad = await studio.handlers['jobs.submit']({ spec: txt2img('odd sampler', { sampler: 'no-such-sampler' }) });
      expect((await waitForJob(studio, bad.id)).status).toBe('failed');
      expect(studio.workerStats().pids.generate).toBeNull();
      const good = await studio.handlers['jobs.submit']({ spec: txt2img('fine') });
      expect((await waitForJob(studio, good.id)).status).toBe('completed');
      expect(studio.workerStats().spawned.generate).toBe(2);
    } finally {
      await studio.close();
      tmp.cleanup();
    }
  }, 60_000);
});
