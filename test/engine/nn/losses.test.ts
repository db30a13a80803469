import { describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { buildAutoencoderLossGraph, buildDiffusionLossGraph, type LossGraph } from '../../../electron/engine/nn/losses.ts';
import { timestepEmbedding } from '../../../electron/engine/nn/unet.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET, allFinite, ids, randomTensor, runGraph, weightsFor, type Weights } from './helpers.ts';

const B = 2;

function diffusionFeeds(extra: Record<string, TensorData> = {}): Record<string, TensorData> {
  return {
    latents: randomTensor([B, 4, 8, 8], 1),
    noise: randomTensor([B, 4, 8, 8], 2),
    sqrt_alpha_bar: { dtype: 'float32', shape: [B], data: Float32Array.from([0.99, 0.3]) },
    sqrt_one_minus_alpha_bar: { dtype: 'float32', shape: [B], data: Float32Array.from([Math.sqrt(1 - 0.99 ** 2), Math.sqrt(1 - 0.09)]) },
    timestep_embedding: timestepEmbedding([20, 900], TINY_UNET.modelChannels),
    input_ids: ids([B, TINY_TEXT.maxLength], [1, 4, 5, 2, 0, 0, 1, 7, 2, 0, 0, 0]),
    ...extra,
  };
}

function meanSquares(t: TensorData, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (t.data[i] as number) ** 2;
  return s / (to - from);
}

/** Trains with plain SGD through the real autodiff graph; returns the losses. */
async function sgd(
  lg: LossGraph,
  weights: Weights,
  feeds: Record<string, TensorData>,
  lr: number,
  steps: number,
  onGrad?: (name: string, g: TensorData) => void,
  honourStopGradient = true,
): Promise<number[]> {
  const wrt = [...lg.graph.params.keys()];
  const grad = buildGradientGraph(lg.graph, lg.loss, wrt, { stopGradient: honourStopGradient ? lg.stopGradient : [] });
  const session = await createSession(toModelProto(grad, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const all: Record<string, TensorData> = { ...feeds };
      for (const name of wrt) all[name] = { dtype: 'float32', shape: grad.params.get(name)!.shape, data: weights.get(name)! };
      const out = await session.run(all);
      losses.push(out.loss!.data[0] as number);
      for (const name of wrt) {
        const g = out[`grad:${name}`]!;
        expect(allFinite(g)).toBe(true);
        onGrad?.(name, g);
        const w = weights.get(name)!;
        for (let i = 0; i < w.length; i++) w[i] = w[i]! - lr * (g.data[i] as number);
      }
    }
  } finally {
    await session.release();
  }
  return losses;
}

describe('LDM ε-prediction loss', () => {
  it('equals mean‖ε‖² with the zero-initialised UNet, and weights samples by loss_weights', async () => {
    const lg = buildDiffusionLossGraph(TINY_UNET, { batch: B, height: 8, width: 8, latentChannels: 4, textEncoder: TINY_TEXT, weighted: true });
    const feeds = diffusionFeeds({ loss_weights: { dtype: 'float32', shape: [B], data: Float32Array.from([1, 0.25]) } });
    const out = await runGraph(lg.graph, weightsFor(lg.graph), feeds);
    const n = 4 * 64;
    const m0 = meanSquares(feeds.noise!, 0, n);
    const m1 = meanSquares(feeds.noise!, n, 2 * n);
    expect(out.per_sample_mse!.data[0]).toBeCloseTo(m0, 5);
    expect(out.per_sample_mse!.data[1]).toBeCloseTo(m1, 5);
    expect(out.mse!.data[0]).toBeCloseTo((m0 + m1) / 2, 5);
    expect(out.loss!.data[0]).toBeCloseTo((m0 + 0.25 * m1) / 2, 5);
  });

  it('differentiates through UNet and the jointly trained text encoder, and SGD lowers the loss', async () => {
    const lg = buildDiffusionLossGraph(TINY_UNET, { batch: B, height: 8, width: 8, latentChannels: 4, textEncoder: TINY_TEXT });
    expect(lg.graph.params.has('cond_stage_model.transformer.text_model.final_layer_norm.weight')).toBe(true);
    const losses = await sgd(lg, weightsFor(lg.graph, 11), diffusionFeeds(), 0.05, 6);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.97);
  });

  it('takes concatenated conditioning channels (9-channel inpainting UNet)', async () => {
    const lg = buildDiffusionLossGraph({ ...TINY_UNET, inChannels: 9 }, { batch: B, height: 8, width: 8, latentChannels: 4, contextLength: 3 });
    expect(lg.graph.inputs.map((v) => v.name)).toEqual([
      'latents', 'noise', 'sqrt_alpha_bar', 'sqrt_one_minus_alpha_bar', 'timestep_embedding', 'encoder_hidden_states', 'concat',
    ]);
    const { input_ids: _, ...feeds } = diffusionFeeds({ encoder_hidden_states: randomTensor([B, 3, 12], 5), concat: randomTensor([B, 5, 8, 8], 6) });
    const out = await runGraph(lg.graph, weightsFor(lg.graph), feeds);
    expect(allFinite(out.loss!)).toBe(true);
  });

  it('rejects inconsistent conditioning', () => {
    expect(() => buildDiffusionLossGraph(TINY_UNET, { batch: B, height: 8, width: 8, latentChannels: 4 })).toThrow(/give textEncoder, classEmbedder or contextLength/);
    expect(() => buildDiffusionLossGraph(TINY_UNET, { batch: B, height: 8, width: 8, latentChannels: 3, textEncoder: TINY_TEXT })).toThrow(
      /outChannels 4 must equal latentChannels 3/,
    );
    expect(() =>
      buildDiffusionLossGraph({ ...TINY_UNET, contextDim: null }, { batch: B, height: 8, width: 8, latentChannels: 4, textEncoder: TINY_TEXT }),
    ).toThrow(/has no contextDim/);
  });
});

describe('autoencoder loss', () => {
  it('is L1 + gradient L1 + KL·weight/(B·C·H·W), with KL from the posterior moments', async () => {
    const lg = buildAutoencoderLossGraph(TINY_KL, { batch: B, height: 8, width: 8, klWeight: 0.01, gradientWeight: 0.5 });
    expect(Object.keys(lg.metrics).sort()).toEqual(['gradientL1', 'kl', 'l1']);
    const out = await runGraph(lg.graph, weightsFor(lg.graph), { image: randomTensor([B, 3, 8, 8], 1), noise: randomTensor([B, 4, 4, 4], 2) });
    const [loss, kl, l1, gl] = ['loss', 'kl', 'l1', 'gradientL1'].map((k) => out[k]!.data[0] as number) as [number, number, number, number];
    expect(kl).toBeGreaterThan(0);
    expect(loss).toBeCloseTo(l1 + 0.5 * gl + (0.01 * kl * B) / (B * 3 * 64), 5);
  });

  it('trains: SGD through the real gradient graph lowers the reconstruction loss', async () => {
    const lg = buildAutoencoderLossGraph(TINY_KL, { batch: 1, height: 8, width: 8, gradientWeight: 0.5 });
    const feeds = { image: randomTensor([1, 3, 8, 8], 3), noise: randomTensor([1, 4, 4, 4], 4) };
    const losses = await sgd(lg, weightsFor(lg.graph, 2), feeds, 0.05, 6);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.97);
  });

  it('VQ: codebook + β·commitment loss, with the straight-through values marked for stop-gradient', async () => {
    const lg = buildAutoencoderLossGraph({ ...TINY_KL, kind: 'vq', nEmbed: 8, beta: 0.25 }, { batch: 1, height: 8, width: 8 });
    expect(lg.stopGradient).toHaveLength(3);
    for (const name of lg.stopGradient) expect(lg.graph.producer(name)!.op).toBe('Identity');
    const out = await runGraph(lg.graph, weightsFor(lg.graph), { image: randomTensor([1, 3, 8, 8], 1) });
    const [loss, l1, commitment] = ['loss', 'l1', 'commitment'].map((k) => out[k]!.data[0] as number) as [number, number, number];
    expect(commitment).toBeGreaterThan(0);
    expect(loss).toBeCloseTo(l1 + commitment, 6);
  });

  it('VQ trains: the straight-through estimator carries the reconstruction gradient to the encoder', async () => {
    // β = 0 leaves the codebook term as the only other path, so the encoder gradient differs
    // measurably depending on whether the straight-through values are held constant.
    const lg = buildAutoencoderLossGraph({ ...TINY_KL, kind: 'vq', nEmbed: 8, beta: 0 }, { batch: 1, height: 8, width: 8 });
    const image = { image: randomTensor([1, 3, 8, 8], 6) };
    const encoderGradNorm = async (honour: boolean): Promise<number> => {
      let sq = 0;
      const onGrad = (name: string, g: TensorData) => {
        if (name.includes('.encoder.')) for (const v of g.data as Float32Array) sq += v * v;
      };
      await sgd(lg, weightsFor(lg.graph, 5), image, 0, 1, onGrad, honour);
      return Math.sqrt(sq);
    };
    const straightThrough = await encoderGradNorm(true);
    const naive = await encoderGradNorm(false);
    expect(straightThrough).toBeGreaterThan(0);
    expect(Math.abs(straightThrough - naive)).toBeGreaterThan(0.01 * straightThrough);
    const losses = await sgd(lg, weightsFor(lg.graph, 5), image, 0.05, 6);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
  });
});
