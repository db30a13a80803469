import { describe, expect, it } from 'vitest';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { vectorQuantize } from '../../../electron/engine/nn/autoencoder.ts';
import type { AutoencoderConfig } from '../../../electron/engine/nn/config.ts';
import { autoencoderParams, buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../../electron/engine/nn/models.ts';
import { TINY_KL, allFinite, randomTensor, runGraph, weightsFor } from './helpers.ts';

describe('AutoencoderKL', () => {
  it('encodes to moments and decodes back to image size for f = 2, 4 and 8 (ch_mult)', async () => {
    for (const chMult of [[1, 2], [1, 1, 2], [1, 1, 2, 2]]) {
      const cfg: AutoencoderConfig = { ...TINY_KL, chMult, attnResolutions: [8] };
      const f = 2 ** (chMult.length - 1);
      const enc = buildVaeEncoderGraph(cfg, 2, 16, 16);
      const m = (await runGraph(enc, weightsFor(enc), { sample: randomTensor([2, 3, 16, 16], 1) })).latent_parameters!;
      expect(m.shape).toEqual([2, 8, 16 / f, 16 / f]);
      expect(allFinite(m)).toBe(true);
      const dec = buildVaeDecoderGraph(cfg, 1, 16 / f, 16 / f);
      const x = (await runGraph(dec, weightsFor(dec), { latent_sample: randomTensor([1, 4, 16 / f, 16 / f], 2) })).sample!;
      expect(x.shape).toEqual([1, 3, 16, 16]);
      expect(allFinite(x)).toBe(true);
    }
  });

  it('clamps the posterior log-variance to [−30, 20] and leaves the mean alone', async () => {
    const enc = buildVaeEncoderGraph(TINY_KL, 1, 8, 8);
    const w = weightsFor(enc);
    // quant_conv bias: +100 on every mean channel and every logvar channel.
    w.set('first_stage_model.quant_conv.bias', new Float32Array(8).fill(100));
    let m = (await runGraph(enc, w, { sample: randomTensor([1, 3, 8, 8], 3) })).latent_parameters!.data as Float32Array;
    const hw = 16;
    expect(Math.min(...m.subarray(0, 4 * hw))).toBeGreaterThan(90);
    expect([...new Set(m.subarray(4 * hw))]).toEqual([20]);
    w.set('first_stage_model.quant_conv.bias', new Float32Array(8).fill(-100));
    m = (await runGraph(enc, w, { sample: randomTensor([1, 3, 8, 8], 3) })).latent_parameters!.data as Float32Array;
    expect([...new Set(m.subarray(4 * hw))]).toEqual([-30]);
  });

  it('names parameters as first_stage_model checkpoints do', () => {
    const names = [...autoencoderParams({ ...TINY_KL, attnResolutions: [8] }).keys()];
    for (const n of [
      'first_stage_model.encoder.conv_in.weight',
      'first_stage_model.encoder.down.0.block.0.norm1.weight',
      'first_stage_model.encoder.down.0.downsample.conv.weight',
      'first_stage_model.encoder.down.1.block.0.nin_shortcut.weight',
      'first_stage_model.encoder.down.1.attn.0.q.weight',
      'first_stage_model.encoder.mid.attn_1.proj_out.weight',
      'first_stage_model.encoder.conv_out.weight',
      'first_stage_model.quant_conv.weight',
      'first_stage_model.post_quant_conv.weight',
      'first_stage_model.decoder.up.1.block.1.conv2.weight',
      'first_stage_model.decoder.up.1.upsample.conv.weight',
      'first_stage_model.decoder.norm_out.bias',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('first_stage_model.decoder.up.0.upsample.conv.weight');
  });

  it('rejects images whose size the encoder cannot halve', () => {
    expect(() => buildVaeEncoderGraph({ ...TINY_KL, chMult: [1, 1, 2] }, 1, 10, 12)).toThrow(/10×12 must be divisible by 4/);
    expect(() => buildVaeEncoderGraph({ ...TINY_KL, kind: 'gan' } as unknown as AutoencoderConfig, 1, 8, 8)).toThrow(
      /autoencoder.kind must be "kl" or "vq"/,
    );
  });
});

describe('VQ-regularised autoencoder', () => {
  const VQ: AutoencoderConfig = { ...TINY_KL, kind: 'vq', nEmbed: 16, embedDim: 3 };

  it('quantises every latent vector to its nearest codebook row', async () => {
    const g = new Graph('vq');
    const z = g.input('z', 'float32', [2, 3, 2, 2]);
    const q = vectorQuantize(g, VQ, z);
    g.output(q.quantized, 'zq');
    g.output(q.indices, 'idx');
    const w = weightsFor(g, 5);
    const book = w.get('first_stage_model.quantize.embedding.weight')!;
    for (let i = 0; i < book.length; i++) book[i] = Math.cos(i * 1.7); // spread the rows out
    const zt = randomTensor([2, 3, 2, 2], 9);
    const out = await runGraph(g, w, { z: zt });
    const zq = out.zq!.data as Float32Array;
    const idx = out.idx!.data as BigInt64Array;
    for (let b = 0; b < 2; b++) {
      for (let p = 0; p < 4; p++) {
        const v = [0, 1, 2].map((c) => zt.data[b * 12 + c * 4 + p]!);
        let best = 0;
        let bestD = Infinity;
        for (let k = 0; k < 16; k++) {
          const d = v.reduce((s, x, c) => s + (x - book[k * 3 + c]!) ** 2, 0);
          if (d < bestD) [best, bestD] = [k, d];
        }
        expect(Number(idx[b * 4 + p])).toBe(best);
        for (let c = 0; c < 3; c++) expect(zq[b * 12 + c * 4 + p]).toBe(book[best * 3 + c]);
      }
    }
  });

  it('encodes to the pre-quantisation latent and decodes through the codebook', async () => {
    const enc = buildVaeEncoderGraph(VQ, 1, 8, 8);
    expect((await runGraph(enc, weightsFor(enc), { sample: randomTensor([1, 3, 8, 8], 1) })).latent_parameters!.shape).toEqual([1, 3, 4, 4]);
    const dec = buildVaeDecoderGraph(VQ, 1, 4, 4);
    expect(dec.params.get('first_stage_model.quantize.embedding.weight')!.shape).toEqual([16, 3]);
    const x = (await runGraph(dec, weightsFor(dec), { latent_sample: randomTensor([1, 3, 4, 4], 2) })).sample!;
    expect(x.shape).toEqual([1, 3, 8, 8]);
    expect(allFinite(x)).toBe(true);
  });
});
