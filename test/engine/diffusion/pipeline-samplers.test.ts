// The samplers inside the one denoising loop (pipelines/denoise.ts), through a tiny random model in real
// onnxruntime sessions: several model calls per step, the job's schedule type, v-prediction, progress.
import { afterAll, describe, expect, it } from 'vitest';
import { createSampler } from '../../../electron/engine/diffusion/samplers.ts';
import { img2img } from '../../../electron/engine/pipelines/img2img.ts';
import { rgbImage } from '../../../electron/engine/pipelines/image.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import type { DiffusionModel } from '../../../electron/engine/pipelines/model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import type { ProgressEvent } from '../../../electron/engine/pipelines/types.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { tinySpec, tinyWeights } from '../pipelines/tiny-model.ts';

const model = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(1) }), { provider: 'cpu', threads: 1 });
afterAll(() => model.release());

const base = { prompt: 'a red heart', negativePrompt: 'blurry', guidance: 5, width: 32, height: 32, seed: 3 } as const;

/** The model, recording the timestep of every UNet call. */
function spying(m: DiffusionModel, calls: number[], config?: Record<string, unknown>): DiffusionModel {
  return Object.create(m, {
    predictNoise: {
      value: async (x: TensorData<'float32'>, t: number, ctx: TensorData<'float32'>) => {
        calls.push(t);
        return m.predictNoise(x, t, ctx);
      },
    },
    ...(config ? { schedulerConfig: { value: config } } : {}),
  }) as DiffusionModel;
}

describe('samplers in the pipelines', () => {
  it('runs a two-call sampler (Heun) with progress once per step', async () => {
    const calls: number[] = [];
    const events: ProgressEvent[] = [];
    const [out] = await txt2img(spying(model, calls), { ...base, steps: 4, sampler: 'heun', onProgress: (e) => events.push(e) });
    expect(calls).toHaveLength(7); // 2 per step, 1 on the last (to σ = 0)
    expect(events.map((e) => `${e.step}/${e.steps}`)).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(out!.record).toMatchObject({ sampler: 'heun', scheduleType: 'automatic' });
  });

  it('passes the job’s schedule type to the sampler: the UNet sees its timesteps', async () => {
    const karras: number[] = [];
    const uniform: number[] = [];
    const [a] = await txt2img(spying(model, karras), { ...base, steps: 5, sampler: 'euler', scheduleType: 'karras' });
    const [b] = await txt2img(spying(model, uniform), { ...base, steps: 5, sampler: 'euler', scheduleType: 'uniform' });
    expect(karras).toEqual(createSampler('euler', { steps: 5, scheduleType: 'karras' }).timesteps);
    expect(uniform).toEqual([999, 749.25, 499.5, 249.75, 0]);
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(false);
    expect(a!.record.scheduleType).toBe('karras');
  });

  it('counts the sampler’s own steps: DDIM at 7 steps runs CompVis’s 8 timesteps', async () => {
    const calls: number[] = [];
    const events: ProgressEvent[] = [];
    await txt2img(spying(model, calls), { ...base, steps: 7, sampler: 'ddim', onProgress: (e) => events.push(e) });
    expect(calls).toEqual([995, 853, 711, 569, 427, 285, 143, 1]);
    expect(events.at(-1)).toMatchObject({ step: 8, steps: 8 });
  });

  it('runs img2img with an SDE sampler and a v-prediction model', async () => {
    const pic = rgbImage(32, 32, Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 7) % 256));
    const calls: number[] = [];
    const v = spying(model, calls, { betaSchedule: 'scaled_linear', prediction: 'v_prediction' });
    const [out] = await img2img(v, { ...base, steps: 6, sampler: 'dpmpp_sde', image: pic, strength: 0.5 });
    expect(calls.length).toBeGreaterThan(3);
    expect(out!.image.data.some((x) => x !== 0)).toBe(true);
  });
});
