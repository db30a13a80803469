// Inference graphs may use onnxruntime's fused MultiHeadAttention instead of MatMul + Softmax: the same
// numbers, without the [B, heads, N, M] score matrices (issue 13). Training graphs keep the plain ops.
import { describe, expect, it } from 'vitest';
import { buildUNetGraph, buildVaeDecoderGraph } from '../../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../../electron/engine/nn/unet.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { dotProductAttention } from '../../../electron/engine/nn/layers.ts';
import { randomTensor, runGraph, TINY_KL, TINY_UNET, weightsFor } from './helpers.ts';

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const msNodes = (g: Graph) => g.nodes.filter((n) => n.domain === 'com.microsoft').map((n) => n.op);

describe('fused attention', () => {
  it('gives the plain attention\'s output, per head, with cross-attention lengths', async () => {
    const build = (fused: boolean) => {
      const g = new Graph('attn');
      g.fusedAttention = fused;
      const q = g.input('q', 'float32', [2, 5, 12]);
      const k = g.input('k', 'float32', [2, 7, 12]);
      const v = g.input('v', 'float32', [2, 7, 12]);
      g.output(dotProductAttention(g, q, k, v, 3), 'out');
      return g;
    };
    const feeds = { q: randomTensor([2, 5, 12], 1), k: randomTensor([2, 7, 12], 2), v: randomTensor([2, 7, 12], 3) };
    const plain = (await runGraph(build(false), new Map(), feeds)).out!.data as Float32Array;
    const g = build(true);
    expect(msNodes(g)).toEqual(['MultiHeadAttention']);
    const fused = (await runGraph(g, new Map(), feeds)).out!.data as Float32Array;
    expect(maxDiff(plain, fused)).toBeLessThan(1e-6);
  });

  it('keeps a masked (causal) attention on the plain ops', () => {
    const g = new Graph('masked');
    g.fusedAttention = true;
    const x = g.input('x', 'float32', [1, 4, 8]);
    dotProductAttention(g, x, x, x, 2, g.input('mask', 'float32', [4, 4]));
    expect(msNodes(g)).toEqual([]);
  });

  it('UNet and VAE decoder: same outputs fused and plain', async () => {
    const unetCfg = { ...TINY_UNET, attentionResolutions: [1, 2] };
    const opts = { batch: 2, height: 8, width: 8, contextLength: 3 };
    const plainU = buildUNetGraph(unetCfg, opts);
    const fusedU = buildUNetGraph(unetCfg, { ...opts, fusedAttention: true });
    expect(msNodes(fusedU).length).toBe(2 * 3 * 2 + 2); // self + cross in each of 7 transformers: 2 down, 1 mid, 4 up
    const w = weightsFor(plainU, 7);
    const feeds = {
      sample: randomTensor([2, 4, 8, 8], 4),
      timestep_embedding: timestepEmbedding([500, 20], 16),
      encoder_hidden_states: randomTensor([2, 3, 12], 5),
    };
    const a = (await runGraph(plainU, w, feeds)).out_sample!.data as Float32Array;
    const b = (await runGraph(fusedU, w, feeds)).out_sample!.data as Float32Array;
    expect(maxDiff(a, b)).toBeLessThan(1e-5);

    const kl = { ...TINY_KL, attnResolutions: [8] };
    const plainD = buildVaeDecoderGraph(kl, 1, 4, 4);
    const fusedD = buildVaeDecoderGraph(kl, 1, 4, 4, { fusedAttention: true });
    expect(msNodes(fusedD).length).toBeGreaterThanOrEqual(1);
    const wd = weightsFor(plainD, 8);
    const z = { latent_sample: randomTensor([1, 4, 4, 4], 6) };
    const da = (await runGraph(plainD, wd, z)).sample!.data as Float32Array;
    const db = (await runGraph(fusedD, wd, z)).sample!.data as Float32Array;
    expect(maxDiff(da, db)).toBeLessThan(1e-5);
  });
});
