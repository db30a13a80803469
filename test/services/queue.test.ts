import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { FINAL, nextEvent, probeModels, probeStudio, tempDir, txt2img, waitForJob } from './helpers.ts';

describe('job queue with a real worker process', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  let models: string;
  beforeEach(async () => {
    tmp = tempDir();
    models = await probeModels(tmp.dir);
    studio = await probeStudio(join(tmp.dir, 'data'), models);
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('runs a generation through the pipeline, streams progress and records the image with its parameters', async () => {
    const progress: { step: number; total: number; preview: string | null; etaMs: number | null }[] = [];
    studio.on('jobs.progress', (p) => progress.push(p));
    const job = await studio.handlers['jobs.submit']({ spec: txt2img('a red fox, snow', { batchCount: 2, seed: 7 }) });
    expect(job.status).toBe('queued');
    const done = await waitForJob(studio, job.id);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.generationIds).toHaveLength(2);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(progress.every((p) => p.total === 8)).toBe(true);
    expect(progress[0]!.preview).toMatch(/^data:image\/png;base64,/);
    // ETA from the step rate: unknown at the first step, then a finite estimate that reaches 0 at the end.
    expect(progress[0]!.etaMs).toBeNull();
    expect(progress.slice(1).every((p) => typeof p.etaMs === 'number' && p.etaMs >= 0)).toBe(true);
    expect(progress.at(-1)!.etaMs).toBe(0);

    const gens = await Promise.all(done.generationIds.map((id) => studio.handlers['history.get']({ id })));
    expect(gens.map((g) => g.params.seed)).toEqual([7, 8]);
    const png = readFileSync(join(tmp.dir, 'data', gens[0]!.imagePath));
    const meta = readGenerationParams(png)!;
    expect(meta.prompt).toBe('a red fox, snow');
    expect(meta.seed).toBe(7);
    expect(meta.steps).toBe(4);
    expect(gens[0]!.model.id).toBe('embedded:probe');
    const thumb = await studio.handlers['gallery.image']({ id: gens[0]!.id, variant: 'thumbnail' });
    expect(thumb.mime).toBe('image/webp');
  });

  it('keeps the model warm: a second job with the same model loads nothing and uses the same worker', async () => {
    const a = await studio.handlers['jobs.submit']({ spec: txt2img('one') });
    await waitForJob(studio, a.id);
    const b = await studio.handlers['jobs.submit']({ spec: txt2img('two', { seed: 2 }) });
    const done = await waitForJob(studio, b.id);
    expect(done.status).toBe('completed');
    const stats = studio.workerStats();
    expect(stats.spawned.generate).toBe(1);
    expect(stats.modelLoads.generate).toBe(1);
    const [first, second] = await Promise.all([a, b].map(async (j) => studio.handlers['history.get']({ id: (await studio.handlers['jobs.get']({ id: j.id })).generationIds[0]! })));
    expect(first!.timings.loadMs).toBeGreaterThan(0);
    expect(second!.timings.loadMs).toBe(0);
  });

  it('takes many concurrent submissions and runs them one at a time, in order', async () => {
    const running = new Set<string>();
    let most = 0;
    const started: string[] = [];
    studio.on('jobs.updated', (j) => {
      // A running job is announced again as each of its images is stored.
      if (j.status === 'running' && !started.includes(j.id)) started.push(j.id);
      if (j.status === 'running') running.add(j.id);
      else running.delete(j.id);
      most = Math.max(most, running.size);
    });
    const jobs = await Promise.all(Array.from({ length: 12 }, (_, i) => studio.handlers['jobs.submit']({ spec: txt2img(`job ${i}`, { steps: 2, seed: i }) })));
    const done = await Promise.all(jobs.map((j) => waitForJob(studio, j.id)));
    expect(done.every((j) => j.status === 'completed')).toBe(true);
    expect(most).toBe(1);
    // In the order they entered the queue (the submissions' own order races: each first reads its model's defaults).
    const queued = (await studio.handlers['jobs.list']({ limit: 100 })).map((j) => j.id).reverse();
    expect(started).toEqual(queued.filter((id) => jobs.some((j) => j.id === id)));
    expect((await studio.handlers['history.search']({ query: 'job', trashed: false, limit: 50, offset: 0 })).total).toBe(12);
  });

  it('refuses a job for a model that is not in the registry, with a clear error', async () => {
    await expect(studio.handlers['jobs.submit']({ spec: txt2img('x', { modelId: 'nope' }) })).rejects.toThrow(/No model with id "nope"/);
  });

  it('cancels a queued job at once and a running one through the worker', async () => {
    const slowStudio = studio;
    // 1000 steps in all, so that the cancel lands mid-run even when this machine is busy.
    const running = await slowStudio.handlers['jobs.submit']({ spec: txt2img('long', { steps: 50, batchCount: 20 }) });
    const queued = await slowStudio.handlers['jobs.submit']({ spec: txt2img('waiting') });
    await nextEvent(slowStudio, 'jobs.progress', (p) => p.jobId === running.id);
    expect((await slowStudio.handlers['jobs.cancel']({ id: queued.id })).status).toBe('cancelled');
    await slowStudio.handlers['jobs.cancel']({ id: running.id });
    const r = await waitForJob(slowStudio, running.id, FINAL);
    expect(r.status).toBe('cancelled');
    expect(r.step).toBeLessThan(r.total);
  });
});
