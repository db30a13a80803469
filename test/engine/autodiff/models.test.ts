// The nn module's training-loss graphs (tiny configs) differentiate with these rules and run in
// onnxruntime; a few parameter entries of each are checked against finite differences.
import { describe, expect, it } from 'vitest';
import { buildAutoencoderLossGraph, buildDiffusionLossGraph, type LossGraph } from '../../../electron/engine/nn/losses.ts';
import { initWeights } from '../../../electron/engine/nn/init.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET } from '../nn/helpers.ts';
import { normal, randomTensor, rng } from './gradcheck.ts';

async function check(lg: LossGraph, feedsFor: Record<string, TensorData>, exact: (name: string) => boolean = () => true): Promise<void> {
  const { graph, loss } = lg;
  const names = [...graph.params.values()].filter((p) => p.trainable).map((p) => p.name);
  const grad = buildGradientGraph(graph, loss, names, { stopGradient: lg.stopGradient });
  const weights = initWeights(graph.params, 3);
  const u = rng(9);
  const feeds: Record<string, TensorData> = { ...feedsFor };
  for (const v of graph.inputs) feeds[v.name] ??= randomTensor('float32', v.shape, normal(u));
  for (const [name, data] of weights) feeds[name] = { dtype: 'float32', shape: graph.params.get(name)!.shape, data };
  const gs = await createSession(toModelProto(grad, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
  const out = await gs.run(feeds);
  await gs.release();
  expect(Number.isFinite(out.loss!.data[0] as number)).toBe(true);
  // Directional finite difference along the gradient of a few tensors: (L(θ+εd) − L(θ−εd))/2ε ≈ ‖d‖².
  const fs = await createSession(toModelProto(graph, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
  const lossAt = async (name: string, step: number) => {
    const base = feeds[name]!.data as Float32Array;
    const d = out[`grad:${name}`]!.data as Float32Array;
    const moved = base.map((v, i) => v + step * d[i]!);
    return Number((await fs.run({ ...feeds, [name]: { ...feeds[name]!, data: moved } }, ['loss'])).loss!.data[0]);
  };
  const smooth = names.filter(exact);
  const picked = smooth.filter((_, i) => i % Math.ceil(smooth.length / 6) === 0);
  for (const name of picked) {
    const d = out[`grad:${name}`]!.data as Float32Array;
    const norm2 = d.reduce((s, v) => s + v * v, 0);
    if (norm2 === 0) continue;
    // A step that changes the float32 loss well above its rounding, yet small enough that few L1
    // residuals cross zero (those kinks are what limits the agreement here).
    const eps = Math.min(1e-4 * Math.abs(Number(out.loss!.data[0])) / norm2, 0.01 / Math.sqrt(norm2));
    const fd = ((await lossAt(name, eps)) - (await lossAt(name, -eps))) / (2 * eps);
    expect(Math.abs(fd - norm2) / norm2, name).toBeLessThan(2e-2);
  }
  await fs.release();
}

describe('nn training losses differentiate', () => {
  it('diffusion ε-loss of a tiny UNet with a jointly trained text encoder', async () => {
    const lg = buildDiffusionLossGraph(TINY_UNET, { batch: 2, height: 8, width: 8, latentChannels: 4, textEncoder: TINY_TEXT });
    const ids = new BigInt64Array(2 * TINY_TEXT.maxLength).map((_, i) => BigInt((i * 7) % TINY_TEXT.vocabSize));
    await check(lg, { input_ids: { dtype: 'int64', shape: [2, TINY_TEXT.maxLength], data: ids } });
  });

  it('KL autoencoder loss', async () => {
    await check(buildAutoencoderLossGraph(TINY_KL, { batch: 1, height: 16, width: 16, gradientWeight: 0.5 }), {});
  });

  it('VQ autoencoder loss with its straight-through stop-gradients (decoder checked)', async () => {
    const lg = buildAutoencoderLossGraph({ ...TINY_KL, kind: 'vq', nEmbed: 16, beta: 0.25 }, { batch: 1, height: 16, width: 16 });
    expect(lg.stopGradient.length).toBeGreaterThan(0);
    // Encoder and codebook gradients are straight-through estimates, not derivatives of the loss:
    // only the decoder's are checked against finite differences.
    await check(lg, {}, (name) => name.includes('decoder') || name.includes('post_quant'));
  });
});
