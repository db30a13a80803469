// The paper's released LDMs in the studio, end to end through its real worker: imported from a .ckpt or
// a .safetensors (or shipped in the embedded models folder as a release file), recognised as their kind
// (models.list traits: task, ImageNet class names), and each running its job: a class as the prompt,
// "Upscale ×4" on a generated picture, the Canvas's inpaint on inpainting_big, with history and PNG text.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../electron/api/models.ts';
import { readGenerationParams } from '../../electron/engine/io/generation-params.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { writeTinyRelease } from '../engine/families/ldm-fixtures.ts';
import { nextEvent, probeModels, waitForJob } from './helpers.ts';

let root: string;
let studio: Studio;
const f = (n: string) => path.join(root, n);
const models: Record<string, ModelInfo> = {};

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-releases-'));
  await writeTinyRelease('cin', f('cin256-v2.ckpt'), null);
  await writeTinyRelease('sr', null, f('bsr_sr.safetensors'));
  await writeTinyRelease('inpaint', null, f('inpainting_big.safetensors'));
  await writeTinyRelease('uncond', null, f('celeba.safetensors'));
  const embedded = await probeModels(root);
  // an SR model of our own, saved in the paper's layout in the embedded models folder (KL-f4 first stage)
  await fsp.mkdir(path.join(embedded, 'emoji-sr'));
  await writeTinyRelease('sr-kl', null, path.join(embedded, 'emoji-sr', 'emoji-sr.safetensors'));
  studio = await createStudio({ dataDir: f('data'), transport: 'web', embeddedModelsDir: embedded, allowedDirs: [root] });
  for (const name of ['cin256-v2.ckpt', 'bsr_sr.safetensors', 'inpainting_big.safetensors', 'celeba.safetensors']) {
    models[name.split('.')[0]!.replace('-v2', '')] = await studio.handlers['models.import']({ path: f(name) });
  }
}, 60_000);
afterAll(async () => {
  await studio?.close();
  await fsp.rm(root, { recursive: true, force: true });
});

async function png(id: string): Promise<Buffer> {
  return Buffer.from((await studio.handlers['gallery.image']({ id, variant: 'image' }))!.base64, 'base64');
}

describe('the paper\'s releases in the studio', () => {
  it('imports each release (a .ckpt converted), recognised as its kind with its task and class names', async () => {
    expect(models.cin256!.description).toMatch(/^class-conditional LDM \(1001 classes, class 1000 = none, for guidance\), vq-f4 first stage\. Converted from cin256-v2\.ckpt/);
    const list = await studio.handlers['models.list']({});
    const traits = (id: string) => list.find((m) => m.id === id)!.traits!;
    expect(traits(models.cin256!.id)).toMatchObject({ family: 'ldm-release', task: 'class2img', classCount: 1001, defaults: { sampler: 'ddim', guidance: 3 } });
    expect(traits(models.cin256!.id).classNames).toHaveLength(1000);
    expect(traits(models.cin256!.id).sizeStep).toBe(8); // VQ-f4 × a UNet that halves once
    expect(traits(models.cin256!.id).classNames![388]).toBe('giant panda');
    expect(traits(models.bsr_sr!.id)).toMatchObject({ task: 'upscale', classNames: null, defaults: { steps: 100 } });
    expect(traits(models.inpainting_big!.id).task).toBe('inpaint');
    expect(traits(models.celeba!.id)).toMatchObject({ task: 'unconditional', defaults: { guidance: 1 } });
    const emojiSr = list.find((m) => m.id === 'embedded:emoji-sr')!;
    expect(emojiSr).toMatchObject({ kind: 'ldm', format: 'safetensors', source: 'embedded' });
    expect(emojiSr.path.endsWith(path.join('emoji-sr', 'emoji-sr.safetensors'))).toBe(true);
    expect(emojiSr.traits).toMatchObject({ task: 'upscale' });
  });

  it('generates a class by name, upscales the result ×4 (history, parent, PNG text, reuse) and refuses jobs that do not fit', async () => {
    const spec = { kind: 'txt2img' as const, modelId: models.cin256!.id, prompt: 'giant panda', negativePrompt: '', seed: 3, batchCount: 1, eta: 0, loras: [], steps: 2, width: 32, height: 32 };
    const job = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id, undefined, 60_000);
    expect(job.error).toBeNull();
    const made = job.generationIds[0]!;
    const params = readGenerationParams(await png(made))!;
    expect(params).toMatchObject({ prompt: 'giant panda', steps: 2, cfg: 3, seed: 3, width: 32, height: 32, model: 'cin256-v2' });

    const progress: number[] = [];
    const off = studio.on('jobs.progress', (p) => progress.push(p.step));
    const up = await studio.handlers['jobs.submit']({ spec: { kind: 'upscale', modelId: models.bsr_sr!.id, init: { generationId: made }, steps: 3, seed: 9, batchCount: 1, eta: 0 } });
    expect(up.spec).toMatchObject({ kind: 'upscale', sampler: 'ddim', steps: 3, seed: 9 });
    const done = await waitForJob(studio, up.id, undefined, 60_000);
    off();
    expect(done.error).toBeNull();
    expect(progress).toContain(4);
    const g = await studio.handlers['history.get']({ id: done.generationIds[0]! });
    expect(g).toMatchObject({ kind: 'upscale', parentId: made, params: { width: 128, height: 128, seed: 9, steps: 3 } });
    const bytes = await png(g.id);
    expect((await sharp(bytes).metadata()).width).toBe(128);
    const text = readGenerationParams(bytes)!;
    expect(text.extras).toMatchObject({ 'Postprocess upscaler': 'bsr_sr', 'Postprocess upscale by': '4' });
    expect(await studio.handlers['history.reuse']({ id: g.id })).toMatchObject({ kind: 'upscale', modelId: models.bsr_sr!.id, init: { generationId: made }, steps: 3, seed: 9 });

    await expect(studio.handlers['jobs.submit']({ spec: { kind: 'upscale', modelId: models.cin256!.id, init: { generationId: made }, seed: null, batchCount: 1, eta: 0 } })).rejects.toThrow(/"cin256-v2" is not a super-resolution model/);
    await expect(studio.handlers['jobs.submit']({ spec: { ...spec, modelId: models.bsr_sr!.id } })).rejects.toThrow(/super-resolution model: it upscales pictures/);
  }, 60_000);

  it('inpaints with inpainting_big (the Canvas\'s job), samples the unconditional model, upscales with a KL-f4 SR model, and cancels', async () => {
    // 36×28: not a multiple of what the UNet takes (8), so the worker pads it and crops the result
    const [W, H] = [36, 28];
    const init = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toBuffer();
    const maskPx = Buffer.alloc(W * H * 3);
    for (let p = 0; p < W * H; p++) if (p % W < 16) maskPx.fill(255, p * 3, p * 3 + 3);
    const mask = await sharp(maskPx, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
    const inpaint = { kind: 'inpaint' as const, modelId: models.inpainting_big!.id, prompt: '', negativePrompt: '', seed: 1, batchCount: 1, eta: 0, loras: [], steps: 2, width: 32, height: 32, init: { base64: init.toString('base64') }, mask: { base64: mask.toString('base64') }, strength: 1, feather: 0 };
    const uncond = { kind: 'txt2img' as const, modelId: models.celeba!.id, prompt: '', negativePrompt: '', seed: 2, batchCount: 1, eta: 0, loras: [], steps: 2, width: 32, height: 32 };
    const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
    const jobs = [
      await studio.handlers['jobs.submit']({ spec: inpaint }),
      await studio.handlers['jobs.submit']({ spec: uncond }),
      await studio.handlers['jobs.submit']({ spec: { kind: 'upscale', modelId: 'embedded:emoji-sr', init: { base64: small.toString('base64') }, steps: 2, seed: 1, batchCount: 1, eta: 0 } }),
    ];
    const [a, b, c] = await Promise.all(jobs.map((j) => waitForJob(studio, j.id, undefined, 60_000)));
    expect([a!.error, b!.error, c!.error]).toEqual([null, null, null]);
    const { data, info } = await sharp(await png(a!.generationIds[0]!)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([W, H]);
    for (let p = 0; p < W * H; p++) if (p % W >= 16) expect([data[p * 3], data[p * 3 + 1], data[p * 3 + 2]]).toEqual([200, 40, 90]); // kept
    expect(data.subarray(0, 16 * 3).some((v, i) => v !== [200, 40, 90][i % 3])).toBe(true); // the masked area redrawn
    expect((await studio.handlers['history.get']({ id: b!.generationIds[0]! })).params).toMatchObject({ width: 32, height: 32 });
    expect((await studio.handlers['history.get']({ id: c!.generationIds[0]! })).params).toMatchObject({ width: 32, height: 32 });

    const started = nextEvent(studio, 'jobs.progress', (p) => p.step >= 1, 20_000);
    const long = await studio.handlers['jobs.submit']({ spec: { kind: 'upscale', modelId: 'embedded:emoji-sr', init: { base64: small.toString('base64') }, steps: 500, seed: 1, batchCount: 1, eta: 0 } });
    await started.catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await studio.handlers['jobs.get']({ id: long.id }))}`);
    });
    await studio.handlers['jobs.cancel']({ id: long.id });
    expect((await waitForJob(studio, long.id, undefined, 30_000)).status).toBe('cancelled');
  }, 90_000);
});
