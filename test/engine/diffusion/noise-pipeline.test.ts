// The pipelines start from A1111's noise for a seed: the UNet's first input is initialNoise's tensor.
import { afterAll, describe, expect, it } from 'vitest';
import { initialNoise, type SeedOptions } from '../../../electron/engine/diffusion/noise.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import type { DiffusionModel } from '../../../electron/engine/pipelines/model.ts';
import { generationParams } from '../../../electron/engine/pipelines/output.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { tinySpec, tinyWeights } from '../pipelines/tiny-model.ts';

const model = new LoadedModel(tinySpec({ kind: 'memory', tensors: tinyWeights(1) }), { provider: 'cpu', threads: 1 });
afterAll(() => model.release());

const base = { prompt: 'a red heart', steps: 2, guidance: 1, width: 32, height: 32, sampler: 'ddim' } as const;

/** txt2img on the tiny model, with every UNet input (DDIM with guidance 1: the first is the initial noise itself). */
async function run(o: SeedOptions & { seed: number; batchCount?: number; sampler?: string; steps?: number }) {
  const inputs: Float32Array[] = [];
  const spy: DiffusionModel = Object.create(model, {
    predictNoise: {
      value: async (x: TensorData<'float32'>, t: number, ctx: TensorData<'float32'>) => {
        inputs.push(Float32Array.from(x.data));
        return model.predictNoise(x, t, ctx);
      },
    },
  });
  const out = await txt2img(spy, { ...base, ...o });
  return { out, inputs };
}

describe('pipelines draw A1111 noise', () => {
  const shape = [4, 8, 8] as const; // the tiny model: 4 latent channels, downscale 4

  it('the first UNet input is initialNoise for the seed, for each source and image of a batch', async () => {
    for (const rngSource of ['gpu', 'cpu'] as const) {
      const { out, inputs } = await run({ seed: 41, rngSource, batchCount: 2 });
      expect(out.map((g) => g.record.seed)).toEqual([41, 42]);
      expect(inputs[0]).toEqual(initialNoise({ seed: 41, shape, downscale: 4, rngSource }));
      expect(inputs[base.steps]).toEqual(initialNoise({ seed: 42, shape, downscale: 4, rngSource }));
      expect(out[0]!.record.rngSource).toBe(rngSource === 'cpu' ? 'cpu' : undefined);
    }
  });

  it('a variation keeps the seed, steps the variation seed, and writes both into the parameters', async () => {
    const o = { seed: 7, batchCount: 2, variationSeed: 100, variationStrength: 0.4, resizeSeedFrom: { width: 24, height: 40 }, rngSource: 'cpu' as const };
    const { out, inputs } = await run(o);
    expect(inputs[0]).toEqual(initialNoise({ ...o, variationSeed: 100, shape, downscale: 4 }));
    expect(out.map((g) => [g.record.seed, g.record.variationSeed])).toEqual([[7, 100], [7, 101]]);
    const params = generationParams(out[1]!.record);
    expect(params).toMatchObject({ seed: 7, variationSeed: 101, variationStrength: 0.4, seedResizeFrom: { width: 24, height: 40 }, rng: 'CPU' });
  });

  it('SDE samplers take their noise from the Brownian tree: ENSD leaves them alone, as in A1111, but not Euler a', async () => {
    const same = async (sampler: string) => {
      const [a] = (await run({ seed: 9, sampler, steps: 3 })).out;
      const [b] = (await run({ seed: 9, ensd: 31337, sampler, steps: 3 })).out;
      return Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data));
    };
    expect(await same('dpmpp_2m_sde')).toBe(true);
    expect(await same('euler_a')).toBe(false);
  });
});
