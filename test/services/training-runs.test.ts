// The Train view's requests: training runs from the database (kept across a restart), the sample grid
// a run wrote, and web mode's folder browser, which lists only folders the path policy allows.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import type { TrainSpec } from '../../electron/api/jobs.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { nextEvent, probeModels, probeStudio, tempDir, txt2img, waitForJob } from './helpers.ts';

let pictures = '/nowhere';
const train = (extra: Partial<TrainSpec> = {}): TrainSpec => ({
  kind: 'train', baseModelId: 'embedded:probe', datasetDir: pictures, recursive: false, method: 'lora', outputName: 'run',
  triggerWord: '', steps: 400, samplePrompts: [], sampleEvery: 0, seed: 0, ...extra,
});

/** A request as a transport makes it (input validated by the contract); rejects with the wire error. */
async function call<K extends 'training.runs' | 'training.samples' | 'training.browse' | 'training.scan'>(name: K, input: unknown): Promise<Awaited<ReturnType<Studio['handlers'][K]>>> {
  const r = await dispatch(studio, name, input);
  if (!r.ok) throw r.error;
  return r.output as Awaited<ReturnType<Studio['handlers'][K]>>;
}

const png = (r: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();

let studio: Studio;

describe('training runs, samples and the folder browser', () => {
  let tmp: ReturnType<typeof tempDir>;
  let embedded: string;
  const open = async () => (studio = await probeStudio(join(tmp.dir, 'data'), embedded, { PROBE_STEP_MS: '20' }));
  beforeEach(async () => {
    tmp = tempDir();
    pictures = join(tmp.dir, 'pictures');
    mkdirSync(pictures);
    embedded = await probeModels(tmp.dir);
    await open();
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('lists training runs only, newest first, with status, step and last loss, and keeps them across a restart', async () => {
    const first = await studio.handlers['jobs.submit']({ spec: train({ outputName: 'first', steps: 3 }) });
    expect((await waitForJob(studio, first.id)).status).toBe('completed');
    const gen = await studio.handlers['jobs.submit']({ spec: txt2img('a fox') });
    await waitForJob(studio, gen.id);
    const second = await studio.handlers['jobs.submit']({ spec: train({ outputName: 'second' }) });
    await nextEvent(studio, 'jobs.progress', (p) => p.jobId === second.id && p.step >= 4);
    await studio.handlers['jobs.cancel']({ id: second.id });
    await waitForJob(studio, second.id);

    const runs = await call('training.runs', {});
    expect(runs.map((r) => [r.job.spec.kind === 'train' && r.job.spec.outputName, r.job.status])).toEqual([['second', 'cancelled'], ['first', 'completed']]);
    expect(runs[1]).toMatchObject({ job: { step: 3, total: 3 }, lastLoss: 1 / 3 });
    expect(runs[0]!.lastLoss).toBeCloseTo(1 / runs[0]!.job.step);

    await studio.close();
    await open();
    const again = await call('training.runs', { limit: 1 });
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ job: { id: second.id, status: 'cancelled', step: runs[0]!.job.step }, lastLoss: runs[0]!.lastLoss });
  });

  it('gives the sample pictures a run wrote as a grid: a row per sample step, a column per prompt', async () => {
    const job = await studio.handlers['jobs.submit']({ spec: train({ steps: 2, samplePrompts: ['a red fox', 'a cat'] }) });
    await waitForJob(studio, job.id);
    const dir = join(studio.paths.training, job.id, 'work', 'samples');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'step-000004-0.png'), await png(40));
    writeFileSync(join(dir, 'step-000002-0.png'), await png(20));
    writeFileSync(join(dir, 'step-000002-1.png'), await png(21));
    writeFileSync(join(dir, 'notes.txt'), 'not a sample');
    const grid = await call('training.samples', { jobId: job.id });
    expect(grid.prompts).toEqual(['a red fox', 'a cat']);
    expect(grid.steps.map((s) => [s.step, s.images.map((i) => i !== null)])).toEqual([[2, [true, true]], [4, [true, false]]]);
    const first = Buffer.from(grid.steps[0]!.images[1]!.replace('data:image/png;base64,', ''), 'base64');
    expect((await sharp(first).raw().toBuffer())[0]).toBe(21);

    const gen = await studio.handlers['jobs.submit']({ spec: txt2img('a fox') });
    await expect(call('training.samples', { jobId: gen.id })).rejects.toMatchObject({ code: 'invalid_input' });
    await waitForJob(studio, gen.id);
  });

  it('browses only allowed folders: their sub-folders and picture counts, never a folder outside them', async () => {
    const root = tmp.dir;
    mkdirSync(join(pictures, 'foxes'));
    mkdirSync(join(pictures, '.hidden'));
    writeFileSync(join(pictures, 'a.png'), await png(1));
    writeFileSync(join(pictures, 'b.JPG'), 'x');
    writeFileSync(join(pictures, 'c.txt'), 'x');
    const outside = tempDir('ldm-outside-');
    try {
      mkdirSync(join(outside.dir, 'secret'));
      symlinkSync(outside.dir, join(pictures, 'link-out'));
      symlinkSync(join(pictures, 'foxes'), join(pictures, 'link-in'));

      const top = await call('training.browse', {});
      expect(top.path).toBeNull();
      expect(top.folders.map((f) => f.path)).toEqual(expect.arrayContaining([studio.paths.root, root]));
      expect(top.folders.some((f) => f.path.startsWith(outside.dir))).toBe(false);

      const listing = await call('training.browse', { path: pictures });
      expect(listing.folders.map((f) => f.name)).toEqual(['foxes', 'link-in']);
      expect(listing).toMatchObject({ path: pictures, parent: root, images: 2, truncated: false });
      // At an allowed folder the way up goes back to the list, not to the folder above it.
      expect((await call('training.browse', { path: root })).parent).toBeNull();

      for (const p of [outside.dir, join(outside.dir, 'secret'), join(pictures, 'link-out'), join(root, '..'), '/']) {
        await expect(call('training.browse', { path: p })).rejects.toMatchObject({ code: 'forbidden_path' });
      }
      await expect(call('training.browse', { path: 'pictures' })).rejects.toMatchObject({ code: 'bad_path' });
      await expect(call('training.browse', { path: join(pictures, 'none') })).rejects.toMatchObject({ code: 'not_found' });
    } finally {
      outside.cleanup();
    }
  });

  it('puts a small thumbnail beside each scanned picture', async () => {
    await sharp({ create: { width: 300, height: 150, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toFile(join(pictures, 'wide.png'));
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 5, g: 9, b: 9 } } }).png().toFile(join(pictures, 'small.png'));
    const scan = await call('training.scan', { datasetDir: pictures });
    const sizes = await Promise.all(
      scan.images.map(async (i) => {
        const m = await sharp(Buffer.from(i.thumbnail!.split(',')[1]!, 'base64')).metadata();
        return [i.path.split('/').pop(), m.width, m.height];
      }),
    );
    // Scaled to fit 64 px, never enlarged.
    expect(sizes.sort()).toEqual([['small.png', 32, 32], ['wide.png', 64, 32]]);
  });
});
