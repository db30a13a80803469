// The production worker (electron/workers/main.ts, forked through tsx) sampling a real model package.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { txt2img, useTestStudio, waitForJob } from '../services/helpers.ts';

describe('the studio worker', () => {
  const t = useTestStudio();

  it('samples the embedded package twice with one model load, deterministically per seed', async () => {
    const previews: string[] = [];
    t.studio.on('jobs.progress', (p) => p.preview && previews.push(p.preview));
    const spec = txt2img('a red fox', { steps: 3, guidance: 2, seed: 11, width: 32, height: 32 });
    const a = await waitForJob(t.studio, (await t.studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
    expect(a.error).toBeNull();
    const b = await waitForJob(t.studio, (await t.studio.handlers['jobs.submit']({ spec })).id, undefined, 120_000);
    expect(b.status).toBe('completed');
    expect(t.studio.workerStats()).toMatchObject({ spawned: { generate: 1 }, modelLoads: { generate: 1 } });
    expect(previews.length).toBe(8); // the package's DDIM on CompVis timesteps: S = 3 gives 1, 334, 667, 999 (4 steps) per job

    const [ga, gb] = await Promise.all([a, b].map((j) => t.studio.handlers['gallery.image']({ id: j.generationIds[0]!, variant: 'image' })));
    expect(ga!.width).toBe(32);
    const pa = Buffer.from(ga!.base64, 'base64');
    expect(readGenerationParams(pa)).toMatchObject({ prompt: 'a red fox', seed: 11, steps: 3, cfg: 2, width: 32, height: 32, model: 'probe' });
    // Provenance: the execution provider that made it, in the file and the history.
    expect(readGenerationParams(pa)!.extras.Provider).toBe('cpu');
    expect((await t.studio.handlers['history.get']({ id: a.generationIds[0]! })).params.extra.Provider).toBe('cpu');
    expect((await t.studio.handlers['system.info']({})).activeProvider).toBe('cpu');
    // Same seed, same pixels.
    const raw = (buf: Buffer) => sharp(buf).raw().toBuffer();
    expect(await raw(Buffer.from(gb!.base64, 'base64'))).toEqual(await raw(pa));
  }, 180_000);

  it('refuses a size the model cannot take at submit, with the sizes it can (services/model-traits.ts checkModelSize)', async () => {
    await expect(t.studio.handlers['jobs.submit']({ spec: txt2img('x', { width: 24, height: 24 }) })).rejects.toThrow(/draws sizes in steps of 16 px, so 24×24 cannot be drawn: use 16×16 or 32×32/);
  });

  it('fine-tunes a LoRA on a folder, registers it, and generates with it at a strength', async () => {
    const data = join(t.tmp.dir, 'pictures');
    mkdirSync(data);
    for (const [i, c] of [[0, 'red'], [1, 'blue'], [2, 'green']] as const) {
      writeFileSync(join(data, `${c}_fox.png`), await sharp({ create: { width: 16, height: 16, channels: 3, background: c } }).png().toBuffer());
      if (i === 0) writeFileSync(join(data, `${c}_fox.txt`), 'a red fox');
    }
    writeFileSync(join(data, 'broken.png'), 'not a picture');
    const losses: number[] = [];
    const messages: string[] = [];
    t.studio.on('jobs.progress', (p) => (losses.push(...p.loss.map((l) => l.loss)), p.message && messages.push(p.message)));
    const job = await t.studio.handlers['jobs.submit']({
      spec: { kind: 'train', baseModelId: 'embedded:probe', datasetDir: data, recursive: false, method: 'lora', outputName: 'fox style', triggerWord: 'fox', steps: 3, batchSize: 1, rank: 2, resolution: 16, samplePrompts: [], sampleEvery: 0, seed: 0 },
    });
    const done = await waitForJob(t.studio, job.id, undefined, 240_000);
    expect(done.error).toBeNull();
    expect(losses).toHaveLength(3);
    expect(messages.at(-1)).toMatch(/trained on 3 pictures; 1 left out \(broken.png: /);
    expect((await t.studio.handlers['training.losses']({ jobId: job.id })).map((l) => l.step)).toEqual([1, 2, 3]);
    const lora = await t.studio.handlers['models.get']({ id: done.modelId! });
    expect(lora).toMatchObject({ name: 'fox style', kind: 'lora', source: 'trained', baseModelId: 'embedded:probe' });

    const gen = await t.studio.handlers['jobs.submit']({ spec: txt2img('a red fox', { loras: [{ modelId: lora.id, strength: 0.8 }] }) });
    const g = await waitForJob(t.studio, gen.id, undefined, 120_000);
    expect(g.error).toBeNull();
    const rec = await t.studio.handlers['history.get']({ id: g.generationIds[0]! });
    expect(rec.loras).toEqual([{ name: 'fox style', hash: lora.hash, strength: 0.8 }]);
    // Back to the base model: still cached beside the adapted one (base + adapted = 2 loads).
    const plain = await waitForJob(t.studio, (await t.studio.handlers['jobs.submit']({ spec: txt2img('a red fox') })).id, undefined, 120_000);
    expect(plain.status).toBe('completed');
    expect(t.studio.workerStats().modelLoads.generate).toBe(2);
  }, 180_000);

  it('resumes a training run whose worker was killed from its last checkpoint', async () => {
    const data = join(t.tmp.dir, 'pictures');
    mkdirSync(data);
    for (const c of ['red', 'blue']) writeFileSync(join(data, `${c}.png`), await sharp({ create: { width: 16, height: 16, channels: 3, background: c } }).png().toBuffer());
    const steps: number[] = [];
    t.studio.on('jobs.progress', (p) => steps.push(...p.loss.map((l) => l.step)));
    const job = await t.studio.handlers['jobs.submit']({
      spec: { kind: 'train', baseModelId: 'embedded:probe', datasetDir: data, recursive: false, method: 'lora', outputName: 'resumed', triggerWord: '', steps: 8, batchSize: 1, rank: 2, resolution: 16, saveEvery: 1, samplePrompts: [], sampleEvery: 0, seed: 0 },
    });
    await new Promise<void>((resolve) => {
      const off = t.studio.on('jobs.progress', (p) => p.jobId === job.id && p.step >= 3 && (off(), resolve()));
    });
    process.kill(t.studio.workerStats().pids.train!, 'SIGKILL');
    const failed = await waitForJob(t.studio, job.id, undefined, 60_000);
    expect(failed.error).toMatch(/SIGKILL/);
    const killedAt = Math.max(...steps);

    steps.length = 0;
    expect(['queued', 'running']).toContain((await t.studio.handlers['jobs.resume']({ id: job.id })).status);
    const done = await waitForJob(t.studio, job.id, undefined, 240_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    // It went on from a checkpoint taken before the kill, not from step 1.
    expect(steps[0]).toBeGreaterThan(1);
    expect(steps[0]).toBeLessThanOrEqual(killedAt + 1);
    expect(steps.at(-1)).toBe(8);
    expect((await t.studio.handlers['training.losses']({ jobId: job.id })).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  }, 180_000);
});
