import { describe, expect, it } from 'vitest';
import type { TextEncoderConfig } from '../../../electron/engine/nn/config.ts';
import { buildClassEmbedderGraph, buildTextEncoderGraph } from '../../../electron/engine/nn/models.ts';
import { TINY_TEXT, allFinite, ids, runGraph, weightsFor } from './helpers.ts';

const L = TINY_TEXT.maxLength;
const D = TINY_TEXT.width;

async function encode(cfg: TextEncoderConfig, tokens: number[][]): Promise<Float32Array> {
  const g = buildTextEncoderGraph(cfg, tokens.length);
  const out = (await runGraph(g, weightsFor(g, 3), { input_ids: ids([tokens.length, L], tokens.flat()) })).last_hidden_state!;
  expect(out.shape).toEqual([tokens.length, L, D]);
  expect(allFinite(out)).toBe(true);
  return out.data as Float32Array;
}

function changedPositions(a: Float32Array, b: Float32Array): number[] {
  const changed: number[] = [];
  for (let p = 0; p < L; p++) {
    let d = 0;
    for (let c = 0; c < D; c++) d = Math.max(d, Math.abs(a[p * D + c]! - b[p * D + c]!));
    if (d > 1e-6) changed.push(p);
  }
  return changed;
}

describe('text encoder (τθ)', () => {
  it('gives [B, L, width] layer-normalised states; every position sees every token without a causal mask', async () => {
    const out = await encode(TINY_TEXT, [[1, 5, 7, 2, 0, 0], [1, 9, 2, 0, 0, 0]]);
    let mean = 0;
    for (let c = 0; c < D; c++) mean += out[c]!;
    expect(Math.abs(mean / D)).toBeLessThan(1e-5); // final LN with γ = 1, β = 0
    const a = await encode(TINY_TEXT, [[1, 5, 7, 2, 0, 0]]);
    const b = await encode(TINY_TEXT, [[1, 5, 7, 2, 0, 9]]);
    expect(changedPositions(a, b)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('with a causal mask (CLIP), a later token changes no earlier position', async () => {
    const causal = { ...TINY_TEXT, causal: true, activation: 'quick_gelu' as const };
    const a = await encode(causal, [[1, 5, 7, 2, 0, 0]]);
    const b = await encode(causal, [[1, 5, 7, 3, 0, 0]]);
    expect(changedPositions(a, b)).toEqual([3, 4, 5]);
  });

  it('uses HF CLIPTextModel names under cond_stage_model.transformer', () => {
    const names = [...buildTextEncoderGraph(TINY_TEXT, 1).params.keys()];
    expect(names[0]).toBe('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight');
    expect(names).toContain('cond_stage_model.transformer.text_model.embeddings.position_embedding.weight');
    expect(names).toContain('cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.out_proj.bias');
    expect(names).toContain('cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc2.weight');
    expect(names.at(-1)).toBe('cond_stage_model.transformer.text_model.final_layer_norm.bias');
  });

  it('rejects bad configs and token shapes', () => {
    expect(() => buildTextEncoderGraph({ ...TINY_TEXT, width: 13 }, 1)).toThrow(/width 13 is not divisible by heads 2/);
    expect(() => buildTextEncoderGraph({ ...TINY_TEXT, activation: 'relu' } as unknown as TextEncoderConfig, 1)).toThrow(
      /activation must be "gelu" or "quick_gelu"/,
    );
  });
});

describe('class embedder', () => {
  it('maps each label to its embedding row as a one-token context', async () => {
    const g = buildClassEmbedderGraph({ nClasses: 5, embedDim: 4 }, 3);
    const w = weightsFor(g);
    const table = w.get('cond_stage_model.embedding.weight')!;
    const out = (await runGraph(g, w, { class_labels: ids([3], [4, 0, 2]) })).context!;
    expect(out.shape).toEqual([3, 1, 4]);
    expect([...out.data]).toEqual([...table.subarray(16, 20), ...table.subarray(0, 4), ...table.subarray(8, 12)]);
  });
});
