// Every pipeline through a tiny random model in real onnxruntime sessions.
import { afterAll, describe, expect, it } from 'vitest';
import { img2img } from '../../../electron/engine/pipelines/img2img.ts';
import { rgbImage } from '../../../electron/engine/pipelines/image.ts';
import { inpaint, outpaint } from '../../../electron/engine/pipelines/inpaint.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import type { ProgressEvent } from '../../../electron/engine/pipelines/types.ts';
import { SAMPLERS, createSampler } from '../../../electron/engine/diffusion/samplers.ts';
import { cfgBatched } from '../../../electron/engine/diffusion/guidance.ts';
import { makeSchedule } from '../../../electron/engine/diffusion/schedule.ts';
import type { DiffusionModel } from '../../../electron/engine/pipelines/model.ts';
import { projectPreview } from '../../../electron/engine/pipelines/preview.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { tinySpec, tinyWeights } from './tiny-model.ts';

const model = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(1) }), { provider: 'cpu', threads: 1 });
const inpaintModel = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(2, 9) }, { inChannels: 9 }), {
  provider: 'cpu',
  threads: 1,
});
afterAll(async () => {
  await model.release();
  await inpaintModel.release();
});

const base = { prompt: 'a red heart', negativePrompt: 'blurry', steps: 4, guidance: 5, width: 32, height: 32 } as const;

function picture(w: number, h: number): ReturnType<typeof rgbImage> {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set([(x * 8) % 256, (y * 8) % 256, ((x + y) * 5) % 256], 3 * (y * w + x));
  return rgbImage(w, h, d);
}

function maskPicture(w: number, h: number, inside: (x: number, y: number) => boolean) {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inside(x, y)) d.fill(255, 3 * (y * w + x), 3 * (y * w + x) + 3);
  return rgbImage(w, h, d);
}

function differs(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('txt2img', () => {
  it('is deterministic per seed, and image i of a batch regenerates alone with seed + i', async () => {
    const batch = await txt2img(model, { ...base, seed: 10, batchCount: 3, sampler: 'euler_a' });
    expect(batch.map((b) => b.record.seed)).toEqual([10, 11, 12]);
    expect(differs(batch[0]!.image.data, batch[1]!.image.data)).toBeGreaterThan(0);
    const again = await txt2img(model, { ...base, seed: 10, sampler: 'euler_a' });
    expect(Buffer.from(again[0]!.image.data).equals(Buffer.from(batch[0]!.image.data))).toBe(true);
    const third = await txt2img(model, { ...base, seed: 12, sampler: 'euler_a' });
    expect(Buffer.from(third[0]!.image.data).equals(Buffer.from(batch[2]!.image.data))).toBe(true);
  });

  it('every sampler runs txt2img deterministically: same seed, same bytes', async () => {
    const pictures = new Map<string, Buffer>();
    for (const { name } of SAMPLERS) {
      const eta = name === 'ddim' ? 0.5 : 0;
      const [a] = await txt2img(model, { ...base, seed: 8, steps: 3, sampler: name, eta });
      const [b] = await txt2img(model, { ...base, seed: 8, steps: 3, sampler: name, eta });
      expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data)), name).toBe(true);
      pictures.set(name, Buffer.from(a!.image.data));
    }
    // They are different samplers, not one under many names.
    expect(new Set([...pictures.values()].map((p) => p.toString('base64'))).size).toBeGreaterThan(SAMPLERS.length - 2);
  });

  it('the prompt, negative prompt and guidance change the picture', async () => {
    const a = (await txt2img(model, { ...base, seed: 3 }))[0]!.image.data;
    const b = (await txt2img(model, { ...base, seed: 3, prompt: 'a blue square' }))[0]!.image.data;
    const c = (await txt2img(model, { ...base, seed: 3, negativePrompt: '' }))[0]!.image.data;
    const d = (await txt2img(model, { ...base, seed: 3, guidance: 1 }))[0]!.image.data;
    expect(differs(a, b)).toBeGreaterThan(0);
    expect(differs(a, c)).toBeGreaterThan(0);
    expect(differs(a, d)).toBeGreaterThan(0);
  });

  it('reports progress once per step with a latent-resolution preview, and records its parameters', async () => {
    const events: ProgressEvent[] = [];
    const [out] = await txt2img(model, { ...base, seed: 5, batchCount: 2, sampler: 'dpmpp_2m', onProgress: (e) => events.push(e) });
    expect(events.map((e) => `${e.image}:${e.step}/${e.steps}:${e.done}/${e.total}`)).toEqual([
      '0:1/4:1/8', '0:2/4:2/8', '0:3/4:3/8', '0:4/4:4/8', '1:1/4:5/8', '1:2/4:6/8', '1:3/4:7/8', '1:4/4:8/8',
    ]);
    expect(events.every((e) => e.preview !== null && e.preview.width === 8 && e.preview.height === 8)).toBe(true);
    expect(out!.record).toMatchObject({ kind: 'txt2img', prompt: 'a red heart', negativePrompt: 'blurry', sampler: 'dpmpp_2m', steps: 4, guidance: 5, seed: 5, width: 32, height: 32, model: { name: 'tiny' } });
    expect([out!.image.width, out!.image.height]).toEqual([32, 32]);
  });

  it('previews show the step’s clean-latent estimate x̂0 = (x − √(1−ᾱ)·ε)/√ᾱ, not the noisy latents', async () => {
    const seen: { x: Float32Array; eps: Float32Array }[] = [];
    const spy: DiffusionModel = Object.create(model, {
      predictNoise: {
        value: async (x: TensorData<'float32'>, t: number, ctx: TensorData<'float32'>) => {
          const out = await model.predictNoise(x, t, ctx);
          seen.push({ x: Float32Array.from(x.data), eps: Float32Array.from(out.data) });
          return out;
        },
      },
    });
    const events: ProgressEvent[] = [];
    await txt2img(spy, { ...base, seed: 12, sampler: 'ddim', onProgress: (e) => events.push(e) });
    const n = 4 * 8 * 8;
    const { x, eps } = seen[0]!;
    const guided = cfgBatched(eps, base.guidance);
    const t = createSampler('ddim', { steps: base.steps }).timesteps[0]!;
    const ab = makeSchedule().alphasCumprod[t]!;
    const x0 = new Float32Array(n).map((_, k) => (x[k]! - Math.sqrt(1 - ab) * guided[k]!) / Math.sqrt(ab));
    const expected = projectPreview(x0, model.preview!, [4, 8, 8]);
    const noisy = projectPreview(x.subarray(0, n), model.preview!, [4, 8, 8]);
    const got = events[0]!.preview!.data;
    expect(Math.max(...got.map((v, i) => Math.abs(v - expected.data[i]!)))).toBeLessThanOrEqual(1);
    expect(differs(got, noisy.data)).toBeGreaterThan(got.length / 2);
  });

  it('stops within one step when aborted, after handing over the images already finished', async () => {
    const ac = new AbortController();
    const steps: number[] = [];
    const finished: number[] = [];
    const run = txt2img(model, {
      ...base,
      seed: 1,
      steps: 5,
      batchCount: 3,
      signal: ac.signal,
      onImage: (img) => {
        finished.push(img.record.seed);
      },
      onProgress: (e) => {
        steps.push(e.done);
        if (e.done === 7) ac.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(finished).toEqual([1]);
  });

  it('a 9-channel inpainting model also does txt2img and img2img (mask of ones, blank picture)', async () => {
    const [a] = await txt2img(inpaintModel, { ...base, seed: 2 });
    const [b] = await txt2img(inpaintModel, { ...base, seed: 2 });
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    const [c] = await img2img(inpaintModel, { ...base, seed: 2, image: a!.image, strength: 0.5 });
    expect(differs(c!.image.data, a!.image.data)).toBeGreaterThan(0);
  });

  it('two sizes at once on one model: a replaced session stays alive until its runs finish', async () => {
    const [big, small] = await Promise.all([
      txt2img(model, { ...base, seed: 4, steps: 6 }),
      txt2img(model, { ...base, seed: 4, steps: 6, width: 16, height: 16 }),
    ]);
    const [bigAlone] = await txt2img(model, { ...base, seed: 4, steps: 6 });
    const [smallAlone] = await txt2img(model, { ...base, seed: 4, steps: 6, width: 16, height: 16 });
    expect(Buffer.from(big![0]!.image.data).equals(Buffer.from(bigAlone!.image.data))).toBe(true);
    expect(Buffer.from(small![0]!.image.data).equals(Buffer.from(smallAlone!.image.data))).toBe(true);
  });

  it('rejects bad options with clear messages', async () => {
    await expect(txt2img(model, { ...base, seed: 1, width: 30 })).rejects.toThrow(/multiple of 4/);
    await expect(txt2img(model, { ...base, seed: -1 })).rejects.toThrow(/seed must be a whole number/);
    await expect(txt2img(model, { ...base, seed: 1, steps: 0 })).rejects.toThrow(/steps/);
    await expect(txt2img(model, { ...base, seed: 1, sampler: 'warp' })).rejects.toThrow(/unknown sampler "warp"/);
  });
});

describe('img2img', () => {
  const init = picture(32, 32);

  it('strength 0 keeps the picture, more strength changes it, and it is deterministic', async () => {
    const [same] = await img2img(model, { ...base, seed: 2, image: init, strength: 0 });
    expect(Buffer.from(same!.image.data).equals(Buffer.from(init.data))).toBe(true);
    const events: ProgressEvent[] = [];
    const [a] = await img2img(model, { ...base, seed: 2, image: init, strength: 0.5, onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3]); // A1111: int(0.5·4) + 1 steps
    const [b] = await img2img(model, { ...base, seed: 2, image: init, strength: 0.5 });
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    expect(a!.record).toMatchObject({ kind: 'img2img', strength: 0.5 });
    await expect(img2img(model, { ...base, seed: 2, image: init, strength: 1.5 })).rejects.toThrow(/strength/);
  });
});

describe('inpaint and outpaint', () => {
  const init = picture(32, 32);
  const mask = maskPicture(32, 32, (x, y) => x >= 8 && x < 20 && y >= 12 && y < 28);
  const inside = (p: number) => {
    const x = p % 32;
    const y = Math.floor(p / 32);
    return x >= 8 && x < 20 && y >= 12 && y < 28;
  };

  for (const [label, m] of [['an ordinary model (latent blending)', model], ['a 9-channel inpainting model', inpaintModel]] as const) {
    it(`${label}: every pixel outside the mask is unchanged, the inside is repainted`, async () => {
      const [out] = await inpaint(m, { ...base, seed: 4, image: init, mask, feather: 3, sampler: 'ddim' });
      let changedInside = 0;
      for (let p = 0; p < 32 * 32; p++) {
        for (let c = 0; c < 3; c++) {
          if (!inside(p)) expect(out!.image.data[3 * p + c]).toBe(init.data[3 * p + c]);
          else if (out!.image.data[3 * p + c] !== init.data[3 * p + c]) changedInside++;
        }
      }
      expect(changedInside).toBeGreaterThan(100);
      const [again] = await inpaint(m, { ...base, seed: 4, image: init, mask, feather: 3, sampler: 'ddim' });
      expect(Buffer.from(again!.image.data).equals(Buffer.from(out!.image.data))).toBe(true);
      expect(out!.record).toMatchObject({ kind: 'inpaint', strength: 1, feather: 3 });
    });
  }

  it('rejects a mask of another size', async () => {
    await expect(inpaint(model, { ...base, seed: 1, image: init, mask: maskPicture(16, 16, () => true) })).rejects.toThrow(/16x16.*32x32/);
  });

  it('outpainting keeps the original picture exactly inside the enlarged canvas', async () => {
    const small = picture(16, 32);
    const [out] = await outpaint(model, { ...base, seed: 6, image: small, left: 8, right: 8 });
    expect([out!.image.width, out!.image.height]).toEqual([32, 32]);
    for (let y = 0; y < 32; y++) {
      const row = out!.image.data.subarray(3 * (y * 32 + 8), 3 * (y * 32 + 24));
      expect(Buffer.from(row).equals(Buffer.from(small.data.subarray(3 * y * 16, 3 * (y + 1) * 16)))).toBe(true);
    }
  });
});
