// Training jobs in the queue: pause frees the accelerator for a generation, resume continues, losses
// are kept, the trained model is registered; generations go ahead of queued training.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import { trainSpec, type TrainSpec } from '../../electron/api/jobs.ts';
import { LORA_TARGETS } from '../../electron/engine/finetune/lora.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { nextEvent, probeModels, probeStudio, tempDir, txt2img, waitForJob } from './helpers.ts';

/** A folder the studio allows (beside its data folder); the probe worker does not read it. */
let pictures = '/nowhere';
const train = (extra: Partial<TrainSpec> = {}): TrainSpec => ({
  kind: 'train',
  baseModelId: 'embedded:probe',
  datasetDir: pictures,
  recursive: false,
  method: 'lora',
  outputName: 'my-style',
  triggerWord: '',
  steps: 60,
  learningRate: 1e-4,
  batchSize: 1,
  rank: 4,
  alpha: 1,
  samplePrompts: [],
  sampleEvery: 0,
  saveEvery: 10,
  seed: 0,
  ...extra,
});

describe('training jobs', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  beforeEach(async () => {
    tmp = tempDir();
    pictures = join(tmp.dir, 'pictures');
    mkdirSync(pictures);
    studio = await probeStudio(join(tmp.dir, 'data'), await probeModels(tmp.dir), { PROBE_STEP_MS: '20' });
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('pauses at a step boundary, runs a generation meanwhile, resumes, and registers the trained model', async () => {
    const job = await studio.handlers['jobs.submit']({ spec: train() });
    await nextEvent(studio, 'jobs.progress', (p) => p.jobId === job.id && p.step >= 3);
    await studio.handlers['jobs.pause']({ id: job.id });
    const paused = await waitForJob(studio, job.id, new Set(['paused']));
    const stepAtPause = paused.step;

    const gen = await studio.handlers['jobs.submit']({ spec: txt2img('while training sleeps') });
    expect((await waitForJob(studio, gen.id)).status).toBe('completed');
    expect((await studio.handlers['jobs.get']({ id: job.id })).step).toBe(stepAtPause);

    await studio.handlers['jobs.resume']({ id: job.id });
    const done = await waitForJob(studio, job.id);
    expect(done.status).toBe('completed');
    expect(done.modelId).not.toBeNull();
    const model = await studio.handlers['models.get']({ id: done.modelId! });
    expect(model).toMatchObject({ name: 'my-style', kind: 'lora', source: 'trained', baseModelId: 'embedded:probe' });
    const losses = await studio.handlers['training.losses']({ jobId: job.id });
    expect(losses.map((l) => l.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(losses[59]!.loss).toBeCloseTo(1 / 60);
    expect(studio.workerStats().spawned).toEqual({ generate: 1, train: 1 });
  });

  it('runs queued generations ahead of a queued training job, and cancels a paused one', async () => {
    const blocker = await studio.handlers['jobs.submit']({ spec: txt2img('first', { steps: 20 }) });
    const training = await studio.handlers['jobs.submit']({ spec: train({ steps: 5 }) });
    const quick = await studio.handlers['jobs.submit']({ spec: txt2img('quick') });
    const order: string[] = [];
    studio.on('jobs.updated', (j) => {
      if (j.status === 'running') order.push(j.id);
    });
    await waitForJob(studio, training.id);
    expect(order.indexOf(quick.id)).toBeLessThan(order.indexOf(training.id));
    expect((await studio.handlers['jobs.get']({ id: blocker.id })).status).toBe('completed');

    const long = await studio.handlers['jobs.submit']({ spec: train({ steps: 1000, outputName: 'never' }) });
    await nextEvent(studio, 'jobs.progress', (p) => p.jobId === long.id);
    await studio.handlers['jobs.pause']({ id: long.id });
    await waitForJob(studio, long.id, new Set(['paused']));
    await studio.handlers['jobs.cancel']({ id: long.id });
    expect((await waitForJob(studio, long.id)).status).toBe('cancelled');
  });

  it('refuses to pause a generation and to train on a model that is not in the registry', async () => {
    const gen = await studio.handlers['jobs.submit']({ spec: txt2img('x') });
    await expect(studio.handlers['jobs.pause']({ id: gen.id })).rejects.toThrow(/Only training jobs can be paused/);
    await expect(studio.handlers['jobs.submit']({ spec: train({ baseModelId: 'missing' }) })).rejects.toThrow(/No model with id "missing"/);
    // a client names only folders the user allowed, as for training.scan
    await expect(studio.handlers['jobs.submit']({ spec: train({ datasetDir: '/etc' }) })).rejects.toThrow(/training folder/);
  });

  it('scans a dataset folder: captions from sidecars or file names, a trigger word, broken, tiny and duplicate files rejected with a reason', async () => {
    const dir = join(tmp.dir, 'dataset');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const img = (c: number) => sharp({ create: { width: 32, height: 32, channels: 3, background: { r: c, g: c, b: c } } }).png().toBuffer();
    writeFileSync(join(dir, 'red_heart.png'), await img(10));
    writeFileSync(join(dir, 'cat.png'), await img(20));
    writeFileSync(join(dir, 'cat.txt'), '\uFEFFa sleepy cat\n');
    writeFileSync(join(dir, 'copy.png'), await img(20));
    writeFileSync(join(dir, 'broken.png'), (await img(30)).subarray(0, 50));
    writeFileSync(join(dir, 'tiny.png'), await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).png().toBuffer());
    writeFileSync(join(dir, 'sub', 'deep.png'), await img(40));
    const scan = await studio.handlers['training.scan']({ datasetDir: dir, recursive: false, triggerWord: 'sks' });
    expect(scan.images.map((i) => [i.caption, i.captionSource])).toEqual([
      ['sks, a sleepy cat', 'sidecar'],
      ['sks, red heart', 'filename'],
    ]);
    expect(scan.rejected.map((r) => r.path.split('/').at(-1))).toEqual(['broken.png', 'copy.png', 'tiny.png']);
    expect(scan.rejected[1]!.reason).toMatch(/duplicate of cat.png/);
    expect(scan.rejected[2]!.reason).toMatch(/too small/);
    const deep = await studio.handlers['training.scan']({ datasetDir: dir, recursive: true, triggerWord: '' });
    expect(deep.images.map((i) => i.caption)).toContain('deep');
  });

  it('takes every LoRA target the fine-tune engine has in a train spec, the text encoder included', async () => {
    for (const t of LORA_TARGETS) expect(trainSpec.parse(train({ targets: [t] })).targets).toEqual([t]);
    expect(trainSpec.safeParse(train({ targets: ['mid' as never] })).success).toBe(false);
    const job = await studio.handlers['jobs.submit']({ spec: train({ targets: ['attn', 'text'], steps: 2 }) });
    expect(job.spec).toMatchObject({ targets: ['attn', 'text'] });
    expect((await waitForJob(studio, job.id)).status).toBe('completed');
  });

  it('writes a caption file for a picture of a scanned folder, and refuses pictures elsewhere', async () => {
    const dir = join(tmp.dir, 'foxes');
    mkdirSync(dir);
    const outside = join(tmp.dir, 'outside.png');
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: 'orange' } }).png().toBuffer();
    writeFileSync(join(dir, 'red_fox.png'), png);
    writeFileSync(outside, png);
    const set = (imagePath: string, caption = 'a fox', datasetDir = dir) => studio.handlers['training.setCaption']({ datasetDir, imagePath, caption, triggerWord: 'sks' });
    await expect(set(join(dir, 'red_fox.png'))).rejects.toThrow(/has not been scanned/);

    const scan = await studio.handlers['training.scan']({ datasetDir: dir, recursive: false, triggerWord: 'sks' });
    const img = scan.images[0]!.path;
    expect(await set(img, 'un renard roux, 狐')).toEqual({ path: img, sidecarPath: join(dir, 'red_fox.txt'), caption: 'sks, un renard roux, 狐', captionSource: 'sidecar' });
    expect(readFileSync(join(dir, 'red_fox.txt'), 'utf8')).toBe('un renard roux, 狐');
    expect((await studio.handlers['training.scan']({ datasetDir: dir, recursive: false, triggerWord: '' })).images[0]).toMatchObject({ caption: 'un renard roux, 狐', captionSource: 'sidecar' });

    await expect(set(join(dir, '..', 'outside.png'))).rejects.toThrow(/not a picture inside the training folder/);
    await expect(set(outside)).rejects.toThrow(/not a picture inside the training folder/);
    symlinkSync(outside, join(dir, 'link.png'));
    await expect(set(join(dir, 'link.png'))).rejects.toThrow(/not a picture inside the training folder/);
    await expect(set(join(dir, 'gone.png'))).rejects.toThrow(/No picture at/);
    await expect(set(outside, 'x', tmp.dir)).rejects.toThrow(/has not been scanned/);
    expect(existsSync(join(tmp.dir, 'outside.txt'))).toBe(false);
    // A caption file that cannot be replaced (here a folder in its place) is a clear error.
    writeFileSync(join(dir, 'cat.png'), await sharp({ create: { width: 32, height: 32, channels: 3, background: 'grey' } }).png().toBuffer());
    mkdirSync(join(dir, 'cat.txt', 'inner'), { recursive: true });
    await expect(set(join(dir, 'cat.png'))).rejects.toThrow(/Cannot save the caption of cat.png/);
    // Bad input is refused by the contract before it reaches the service.
    const bad = await dispatch(studio, 'training.setCaption', { datasetDir: dir, imagePath: img, caption: 'x'.repeat(70_000) });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });

  it('scans by the engine rules: pictures are compared at their own size, so a one-pixel difference is no duplicate', async () => {
    const dir = join(tmp.dir, 'near');
    mkdirSync(dir);
    const flat = Buffer.alloc(64 * 64 * 3, 100);
    const dot = Buffer.from(flat);
    dot[3 * (64 * 20 + 20)] = 101;
    writeFileSync(join(dir, 'a.png'), await sharp(flat, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    writeFileSync(join(dir, 'b.png'), await sharp(dot, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    const scan = await studio.handlers['training.scan']({ datasetDir: dir, recursive: false, triggerWord: '' });
    expect(scan).toMatchObject({ datasetDir: dir, rejected: [] });
    expect(scan.images.map((i) => [i.path.split('/').at(-1), i.width, i.height])).toEqual([['a.png', 64, 64], ['b.png', 64, 64]]);
    await expect(studio.handlers['training.scan']({ datasetDir: join(dir, 'a.png'), recursive: false, triggerWord: '' })).rejects.toThrow(/cannot read the data set folder/);
  });
});
