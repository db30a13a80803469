import { describe, expect, it } from 'vitest';
import { ConfigError, SD_V1_AUTOENCODER, SD_V1_TEXT_ENCODER, SD_V1_UNET, type UNetConfig } from '../../../electron/engine/nn/config.ts';
import { autoencoderParams, buildUNetGraph, countParams, textEncoderParams, unetParams } from '../../../electron/engine/nn/models.ts';
import { timestepEmbedding } from '../../../electron/engine/nn/unet.ts';
import { TINY_UNET, allFinite, ids, maxAbs, randomTensor, runGraph, weightsFor } from './helpers.ts';

const B = 2;

function feeds(cfg: UNetConfig, h = 8, w = 8) {
  return {
    sample: randomTensor([B, cfg.inChannels, h, w], 1),
    timestep_embedding: timestepEmbedding([1, 999], cfg.modelChannels),
    ...(cfg.contextDim ? { encoder_hidden_states: randomTensor([B, 5, cfg.contextDim], 2) } : {}),
    ...(cfg.numClasses ? { class_labels: ids([B], [0, cfg.numClasses - 1]) } : {}),
  };
}

/** Replaces the zero-initialised tensors (out conv, proj_out, ResBlock out convs) by small random values. */
function unzero(w: Map<string, Float32Array>, seed = 7): Map<string, Float32Array> {
  let i = seed;
  for (const [k, v] of w) {
    if (v.every((x) => x === 0) && !k.endsWith('.bias')) for (let j = 0; j < v.length; j++) v[j] = Math.sin(i++ * 12.9898) * 0.2;
  }
  return w;
}

describe('UNetModel', () => {
  it('outputs exactly zero with the reference zero-initialised out conv', async () => {
    const g = buildUNetGraph(TINY_UNET, { batch: B, height: 8, width: 8, contextLength: 5 });
    const out = (await runGraph(g, weightsFor(g), feeds(TINY_UNET))).out_sample!;
    expect(out.shape).toEqual([B, 4, 8, 8]);
    expect(maxAbs(out)).toBe(0);
  });

  it('gives finite, input-dependent, context-dependent outputs once the zero-init layers are trained away', async () => {
    const g = buildUNetGraph(TINY_UNET, { batch: B, height: 8, width: 8, contextLength: 5 });
    const w = unzero(weightsFor(g));
    const f = feeds(TINY_UNET);
    const a = (await runGraph(g, w, f)).out_sample!;
    expect(allFinite(a)).toBe(true);
    expect(maxAbs(a)).toBeGreaterThan(1e-3);
    const b = (await runGraph(g, w, { ...f, encoder_hidden_states: randomTensor([B, 5, 12], 99) })).out_sample!;
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) diff = Math.max(diff, Math.abs((a.data[i] as number) - (b.data[i] as number)));
    expect(diff).toBeGreaterThan(1e-4); // cross-attention reads the context
  });

  it('builds class-conditional (label_emb), 9-channel inpainting and head-count variants', async () => {
    const classCond: UNetConfig = { ...TINY_UNET, contextDim: null, numClasses: 3, numHeads: 2, numHeadChannels: undefined };
    const g1 = buildUNetGraph(classCond, { batch: B, height: 4, width: 4 });
    expect(g1.params.get('model.diffusion_model.label_emb.weight')!.shape).toEqual([3, 64]);
    const o1 = (await runGraph(g1, unzero(weightsFor(g1)), feeds(classCond, 4, 4))).out_sample!;
    expect(o1.shape).toEqual([B, 4, 4, 4]);
    expect(allFinite(o1)).toBe(true);

    const inpaint: UNetConfig = { ...TINY_UNET, inChannels: 9 };
    const g2 = buildUNetGraph(inpaint, { batch: 1, height: 8, width: 8, contextLength: 3 });
    expect(g2.params.get('model.diffusion_model.input_blocks.0.0.weight')!.shape).toEqual([16, 9, 3, 3]);
    const o2 = await runGraph(g2, weightsFor(g2), {
      sample: randomTensor([1, 9, 8, 8], 3),
      timestep_embedding: timestepEmbedding([500], 16),
      encoder_hidden_states: randomTensor([1, 3, 12], 4),
    });
    expect(o2.out_sample!.shape).toEqual([1, 4, 8, 8]);
  });

  it('uses the LDM checkpoint names and the reference inits', () => {
    const p = unetParams(TINY_UNET);
    const names = [...p.keys()];
    for (const n of [
      'model.diffusion_model.time_embed.0.weight',
      'model.diffusion_model.time_embed.2.bias',
      'model.diffusion_model.input_blocks.0.0.weight',
      'model.diffusion_model.input_blocks.1.0.emb_layers.1.weight',
      'model.diffusion_model.input_blocks.2.0.op.weight',
      'model.diffusion_model.input_blocks.3.0.skip_connection.weight',
      'model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight',
      'model.diffusion_model.input_blocks.3.1.transformer_blocks.0.ff.net.0.proj.weight',
      'model.diffusion_model.middle_block.1.proj_out.weight',
      'model.diffusion_model.output_blocks.1.1.norm.weight',
      'model.diffusion_model.output_blocks.1.2.conv.weight',
      'model.diffusion_model.output_blocks.3.0.skip_connection.weight',
      'model.diffusion_model.out.0.weight',
      'model.diffusion_model.out.2.weight',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn1.to_q.bias');
    expect(p.get('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight')!.shape).toEqual([32, 12]);
    expect(p.get('model.diffusion_model.out.2.weight')!.init).toEqual({ kind: 'zeros' });
    expect(p.get('model.diffusion_model.middle_block.1.proj_out.weight')!.init).toEqual({ kind: 'zeros' });
    expect(p.get('model.diffusion_model.input_blocks.1.0.out_layers.3.weight')!.init).toEqual({ kind: 'zeros' });
    expect(p.get('model.diffusion_model.input_blocks.0.0.weight')!.init).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(4 * 9) });
  });

  it('builds SD v1 and counts its parameters from the specs (859,520,964 for the UNet)', () => {
    const p = unetParams(SD_V1_UNET);
    expect(countParams(p)).toBe(859_520_964);
    expect(p.size).toBe(686); // tensors in an SD v1 checkpoint's model.diffusion_model
    expect(p.has('model.diffusion_model.output_blocks.11.0.skip_connection.weight')).toBe(true); // the v1 marker
    expect(countParams(autoencoderParams(SD_V1_AUTOENCODER))).toBe(83_653_863);
    expect(countParams(textEncoderParams(SD_V1_TEXT_ENCODER))).toBe(123_060_480);
  });

  it('rejects bad configs and inputs with messages naming the field', () => {
    expect(() => buildUNetGraph({ ...TINY_UNET, channelMult: [] }, { batch: 1, height: 8, width: 8, contextLength: 1 })).toThrow(
      /unet.channelMult must be a non-empty list/,
    );
    expect(() => buildUNetGraph({ ...TINY_UNET, numHeads: 2 }, { batch: 1, height: 8, width: 8, contextLength: 1 })).toThrow(
      /exactly one of numHeads or numHeadChannels/,
    );
    expect(() => buildUNetGraph({ ...TINY_UNET, attentionResolutions: [8] }, { batch: 1, height: 8, width: 8, contextLength: 1 })).toThrow(
      /rate 8 is not one of the UNet's rates 1, 2/,
    );
    expect(() => buildUNetGraph({ ...TINY_UNET, normGroups: 5 }, { batch: 1, height: 8, width: 8, contextLength: 1 })).toThrow(ConfigError);
    expect(() => buildUNetGraph(TINY_UNET, { batch: 1, height: 7, width: 8, contextLength: 1 })).toThrow(/7×8 must be divisible by 2/);
    expect(() => buildUNetGraph(TINY_UNET, { batch: 1, height: 8, width: 8 })).toThrow(/contextLength is required/);
    expect(() => buildUNetGraph(TINY_UNET, { batch: 0, height: 8, width: 8, contextLength: 1 })).toThrow(/batch must be a positive integer/);
  });
});

describe('timestepEmbedding', () => {
  it('matches the reference sinusoid [cos(t·f), sin(t·f)]', () => {
    const e = timestepEmbedding([0, 10], 8);
    expect(e.shape).toEqual([2, 8]);
    expect([...e.data.slice(0, 8)]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    const f = [1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75];
    f.forEach((fi, i) => {
      expect(e.data[8 + i]).toBeCloseTo(Math.cos(10 * fi), 6);
      expect(e.data[12 + i]).toBeCloseTo(Math.sin(10 * fi), 6);
    });
  });
});
