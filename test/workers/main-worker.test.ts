// The production worker (electron/workers/main.ts, forked through tsx) sampling a real model package.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { probeModels, tempDir, txt2img, waitForJob } from '../services/helpers.ts';

describe('the studio worker', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  beforeEach(async () => {
    tmp = tempDir();
    studio = await createStudio({ dataDir: join(tmp.dir, 'data'), transport: 'web', embeddedModelsDir: await probeModels(tmp.dir) });
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('samples the embedded package twice with one model load, deterministically per seed', async () => {
    const previews: string[] = [];
    studio.on('jobs.progress', (p) => p.preview && previews.push(p.preview));
    const spec = txt2img('a red fox', { steps: 3, guidance: 2, seed: 11, width: 32, height: 32 });
    const a = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
    expect(a.error).toBeNull();
    const b = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
    expect(b.status).toBe('completed');
    expect(studio.workerStats()).toMatchObject({ spawned: { generate: 1 }, modelLoads: { generate: 1 } });
    expect(previews.length).toBe(6);

    const [ga, gb] = await Promise.all([a, b].map((j) => studio.handlers['gallery.image']({ id: j.generationIds[0]!, variant: 'image' })));
    expect(ga!.width).toBe(32);
    const pa = Buffer.from(ga!.base64, 'base64');
    expect(readGenerationParams(pa)).toMatchObject({ prompt: 'a red fox', seed: 11, steps: 3, cfg: 2, width: 32, height: 32, model: 'probe' });
    // Same seed, same pixels.
    const { default: sharp } = await import('sharp');
    const raw = (buf: Buffer) => sharp(buf).raw().toBuffer();
    expect(await raw(Buffer.from(gb!.base64, 'base64'))).toEqual(await raw(pa));
  });

  it('fails a job the model cannot sample (a size it cannot take) with the pipeline reason', async () => {
    const job = await studio.handlers['jobs.submit']({ spec: txt2img('x', { width: 24, height: 24 }) });
    const done = await waitForJob(studio, job.id, undefined, 120_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/latent size 3×3 must be divisible/);
  });
});
