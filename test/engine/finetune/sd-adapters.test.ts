// LoRA, LoCon and textual inversion on Stable Diffusion layouts (tiny SD 1.x / 2.x files written by
// tiny-sd.ts): the names our trainer writes are kohya's for every module type; kohya files (fp16, 3×3
// LoCon, text encoder, alpha) merge into SD files at a strength, a LoRA for the other family is refused
// naming its first tensor that does not fit; A1111 embeddings are spliced into the prompt's tokens.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../../electron/engine/families/index.ts';
import { AdapterError, ownWeights, withAdapters } from '../../../electron/engine/finetune/adapters.ts';
import { loraHooks, type LoraModule } from '../../../electron/engine/finetune/lora.ts';
import { loadSafetensors, saveSafetensors } from '../../../electron/engine/io/safetensors.ts';
import type { TextEncoderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { setLayerHooks } from '../../../electron/engine/nn/layers.ts';
import { textEncoderForward } from '../../../electron/engine/nn/text-encoder.ts';
import { unetForward } from '../../../electron/engine/nn/unet.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';
import { SD1_TEXT, SD1_UNET, SD2_UNET, writeSd1File, writeSd2File } from '../families/tiny-sd.ts';

const SD2_TEXT: TextEncoderConfig = { ...SD1_TEXT, layers: 2, activation: 'gelu' };

/** The LoRA modules our trainer adds to a model (every target), with the shapes of their tensors. */
function trainerModules(unet: UNetConfig, text: TextEncoderConfig): { modules: LoraModule[]; shapes: Map<string, readonly number[]> } {
  const g = new Graph('names');
  const modules: LoraModule[] = [];
  setLayerHooks(g, loraHooks(unet, { rank: 2, alpha: 1, targets: ['attn', 'ff', 'conv', 'text'] }, (m) => modules.push(m)));
  const context = textEncoderForward(g, text, g.input('input_ids', 'int64', [1, text.maxLength]));
  unetForward(g, unet, {
    sample: g.input('sample', 'float32', [1, unet.inChannels, 8, 8]),
    timestepEmbedding: g.input('t', 'float32', [1, unet.modelChannels]),
    context,
  });
  return { modules, shapes: new Map([...g.params].map(([k, p]) => [k, p.shape])) };
}

// kohya's module names for the tiny SD UNet (channel_mult [1, 2], one ResBlock per level, attention at
// level 0), written out from diffusers' block layout: down_blocks.0 = CrossAttnDownBlock2D (resnets.0,
// attentions.0, downsamplers.0), down_blocks.1 = DownBlock2D (resnets.0, 32→64 so conv_shortcut),
// mid_block (resnets.0/1, attentions.0), up_blocks.0 = UpBlock2D (resnets.0/1, upsamplers.0),
// up_blocks.1 = CrossAttnUpBlock2D (resnets.0/1, attentions.0/1); every up ResBlock takes a skip
// concatenation and so has a conv_shortcut.
function expectedKohyaNames(textLayers: number): string[] {
  const res = (p: string, shortcut: boolean) => [`${p}_conv1`, `${p}_time_emb_proj`, `${p}_conv2`, ...(shortcut ? [`${p}_conv_shortcut`] : [])];
  const attn = (p: string) => [
    `${p}_proj_in`,
    ...['attn1', 'attn2'].flatMap((a) => ['to_q', 'to_k', 'to_v', 'to_out_0'].map((x) => `${p}_transformer_blocks_0_${a}_${x}`)),
    `${p}_transformer_blocks_0_ff_net_0_proj`,
    `${p}_transformer_blocks_0_ff_net_2`,
    `${p}_proj_out`,
  ];
  const u = 'lora_unet';
  const unet = [
    ...res(`${u}_down_blocks_0_resnets_0`, false),
    ...attn(`${u}_down_blocks_0_attentions_0`),
    `${u}_down_blocks_0_downsamplers_0_conv`,
    ...res(`${u}_down_blocks_1_resnets_0`, true),
    ...res(`${u}_mid_block_resnets_0`, false),
    ...attn(`${u}_mid_block_attentions_0`),
    ...res(`${u}_mid_block_resnets_1`, false),
    ...res(`${u}_up_blocks_0_resnets_0`, true),
    ...res(`${u}_up_blocks_0_resnets_1`, true),
    `${u}_up_blocks_0_upsamplers_0_conv`,
    ...res(`${u}_up_blocks_1_resnets_0`, true),
    ...attn(`${u}_up_blocks_1_attentions_0`),
    ...res(`${u}_up_blocks_1_resnets_1`, true),
    ...attn(`${u}_up_blocks_1_attentions_1`),
  ];
  const te = Array.from({ length: textLayers }, (_, l) =>
    ['self_attn_q_proj', 'self_attn_k_proj', 'self_attn_v_proj', 'self_attn_out_proj', 'mlp_fc1', 'mlp_fc2'].map((x) => `lora_te_text_model_encoder_layers_${l}_${x}`),
  ).flat();
  return [...unet, ...te].sort();
}

describe('kohya names of the LoRAs our trainer writes on SD layouts', () => {
  it('SD 1.x: every module type (attention, ff, proj_in/out as 1×1 convs, ResBlock convs, time_emb_proj, shortcut, down/upsampler, text encoder)', () => {
    const { modules, shapes } = trainerModules(SD1_UNET, SD1_TEXT);
    expect(modules.map((m) => m.kohya).sort()).toEqual(expectedKohyaNames(2));
    const shape = (k: string, t: string) => shapes.get(`${k}.${t}.weight`);
    // SD 1.x proj_in is a 1×1 conv: kohya's lora_down is then a 1×1 conv too
    expect(shape('lora_unet_down_blocks_0_attentions_0_proj_in', 'lora_down')).toEqual([2, 32, 1, 1]);
    // LoCon: 3×3 down, 1×1 up
    expect(shape('lora_unet_down_blocks_1_resnets_0_conv1', 'lora_down')).toEqual([2, 32, 3, 3]);
    expect(shape('lora_unet_down_blocks_1_resnets_0_conv1', 'lora_up')).toEqual([64, 2, 1, 1]);
    expect(shape('lora_unet_down_blocks_1_resnets_0_time_emb_proj', 'lora_down')).toEqual([2, 128]);
    expect(shape('lora_te_text_model_encoder_layers_1_mlp_fc1', 'lora_up')).toEqual([128, 2]);
  });

  it('SD 2.x: the same names, proj_in/out linear; the text encoder is named as kohya converts OpenCLIP (HF CLIP names, layers run)', () => {
    const { modules, shapes } = trainerModules(SD2_UNET, SD2_TEXT);
    expect(modules.map((m) => m.kohya).sort()).toEqual(expectedKohyaNames(2));
    expect(shapes.get('lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight')).toEqual([2, 64]);
  });
});

// ------------------------------------------------------------------ files on tiny SD models

let root: string;
const f = (n: string) => path.join(root, n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-sd-adapters-'));
  await writeSd1File(f('sd1.safetensors'));
  await writeSd2File(f('sd2.safetensors'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function seeded(n: number, seed: number, scale = 0.1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * scale);
}

/** A kohya LoRA on the tiny SD 1.x: a LoCon 3×3 conv, an attention linear, a 1×1 proj_in and a text-encoder linear. */
function kohyaFile(): Map<string, TensorData> {
  const t = new Map<string, TensorData>();
  const add = (mod: string, down: number[], up: number[], alpha: number | null, seed: number) => {
    t.set(`${mod}.lora_down.weight`, tensor('float32', down, seeded(down.reduce((a, b) => a * b, 1), seed)));
    t.set(`${mod}.lora_up.weight`, tensor('float32', up, seeded(up.reduce((a, b) => a * b, 1), seed + 1)));
    if (alpha !== null) t.set(`${mod}.alpha`, tensor('float32', [], new Float32Array([alpha])));
  };
  add('lora_unet_down_blocks_1_resnets_0_conv1', [4, 32, 3, 3], [64, 4, 1, 1], 2, 10);
  add('lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k', [4, 64], [32, 4], 1, 20);
  add('lora_unet_mid_block_attentions_0_proj_in', [4, 64, 1, 1], [64, 4, 1, 1], null, 30);
  add('lora_te_text_model_encoder_layers_1_self_attn_q_proj', [4, 64], [64, 4], 4, 40);
  return t;
}

/** W + s·(alpha/rank)·Σ_r up[o, r]·down[r, i, kh, kw], written out per index (the 3×3 rule of ldm-facts §4 with a 1×1 up). */
function expectMerged(base: Float32Array, down: TensorData, up: TensorData, scale: number, got: Float32Array): void {
  const [rank] = down.shape as [number];
  const taps = down.data.length / rank;
  const out = up.shape[0]!;
  let worst = 0;
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < taps; i++) {
      let v = base[o * taps + i]!;
      for (let r = 0; r < rank; r++) v += scale * (up.data[o * rank + r] as number) * (down.data[r * taps + i] as number);
      worst = Math.max(worst, Math.abs(got[o * taps + i]! - v));
    }
  }
  expect(worst).toBeLessThan(1e-6);
}

describe('kohya LoRA and LoCon files on SD models', () => {
  it('merge at a strength (fp16 file, alpha/rank, missing alpha = rank, text-encoder strength apart), sample, and leave the base alone', async () => {
    const t = kohyaFile();
    await saveSafetensors(f('style.safetensors'), t, { ss_network_module: 'networks.lora' }, { dtype: 'F16' });
    const { model: base } = await openModel(f('sd1.safetensors'), { hash: 'base' });
    const before = await ownWeights(base.spec);
    const adapted = await withAdapters(base, [{ file: f('style.safetensors'), strength: 0.8, textStrength: 0.5 }]);
    // only the changed layers are copied (into a small file); the rest is still read from the model's file
    expect(adapted.spec.weights.kind).toBe('files');
    const after = await ownWeights(adapted.spec);
    const lt = (await loadSafetensors(f('style.safetensors'))).tensors; // as stored (fp16 rounding included)
    const U = 'model.diffusion_model';
    const check = (mod: string, layer: string, scale: number) =>
      expectMerged(before.get(`${layer}.weight`)!, lt.get(`${mod}.lora_down.weight`)!, lt.get(`${mod}.lora_up.weight`)!, scale, after.get(`${layer}.weight`)!);
    check('lora_unet_down_blocks_1_resnets_0_conv1', `${U}.input_blocks.3.0.in_layers.2`, 0.8 * (2 / 4));
    check('lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k', `${U}.output_blocks.2.1.transformer_blocks.0.attn2.to_k`, 0.8 * (1 / 4));
    check('lora_unet_mid_block_attentions_0_proj_in', `${U}.middle_block.1.proj_in`, 0.8);
    check('lora_te_text_model_encoder_layers_1_self_attn_q_proj', 'cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.q_proj', 0.5 * (4 / 4));
    // untouched layers stay as they were; the base keeps its file weights
    expect(maxDiff(after.get(`${U}.input_blocks.1.0.in_layers.2.weight`)!, before.get(`${U}.input_blocks.1.0.in_layers.2.weight`)!)).toBe(0);
    expect(base.spec.weights.kind).toBe('files');
    // the adapted model samples, and differs from the base
    const ctxBase = await base.encodeText(['a cat']);
    const ctxLora = await adapted.encodeText(['a cat']);
    expect(ctxLora.shape).toEqual(ctxBase.shape);
    expect(maxDiff(ctxLora.data, ctxBase.data)).toBeGreaterThan(1e-4);
    await Promise.all([base.release(), adapted.release()]);
  }, 30_000);

  it('a LoRA for the other family is refused, naming the first tensor that does not fit; text layers SD 2.x does not run are skipped', async () => {
    await saveSafetensors(f('sd1-lora.safetensors'), kohyaFile());
    const { model: sd2 } = await openModel(f('sd2.safetensors'), { hash: 'sd2' });
    await expect(withAdapters(sd2, [{ file: f('sd1-lora.safetensors') }])).rejects.toThrow(
      /sd1-lora\.safetensors: LoRA tensor 'lora_unet_down_blocks_1_resnets_0_conv1\.lora_down\.weight' makes a \[64, 288\] update .*another model family/,
    );
    await expect(withAdapters(sd2, [{ file: f('sd1-lora.safetensors') }])).rejects.toBeInstanceOf(AdapterError);
    // unknown module: named
    const alien = new Map([['lora_unet_down_blocks_7_resnets_0_conv1.lora_down.weight', tensor('float32', [1, 1], new Float32Array(1))], ['lora_unet_down_blocks_7_resnets_0_conv1.lora_up.weight', tensor('float32', [1, 1], new Float32Array(1))]]);
    await saveSafetensors(f('alien.safetensors'), alien);
    await expect(withAdapters(sd2, [{ file: f('alien.safetensors') }])).rejects.toThrow(/'lora_unet_down_blocks_7_resnets_0_conv1\.lora_down\.weight' has no layer in this model/);
    // SD 2.x runs 2 of the 3 stored text layers: a module on layer 2 changes nothing and is skipped
    const te = new Map([
      ['lora_te_text_model_encoder_layers_2_mlp_fc1.lora_down.weight', tensor('float32', [2, 64], seeded(128, 3))],
      ['lora_te_text_model_encoder_layers_2_mlp_fc1.lora_up.weight', tensor('float32', [128, 2], seeded(256, 4))],
      ['lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', tensor('float32', [2, 64], seeded(128, 5))],
      ['lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight', tensor('float32', [128, 2], seeded(256, 6))],
    ]);
    await saveSafetensors(f('sd2-te.safetensors'), te);
    const adapted = await withAdapters(sd2, [{ file: f('sd2-te.safetensors') }]);
    const a = await ownWeights(adapted.spec);
    const b = await ownWeights(sd2.spec);
    const fc1 = 'cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight';
    expect(maxDiff(a.get(fc1)!, b.get(fc1)!)).toBeGreaterThan(0);
    await Promise.all([sd2.release(), adapted.release()]);
  }, 30_000);
});

describe('textual-inversion embeddings on SD models', () => {
  it('splices the vectors at the placeholder (emb_params and string_to_param layouts), as if they were rows of the token table', async () => {
    const vectors = seeded(2 * 64, 77, 0.5);
    await saveSafetensors(f('mystyle.safetensors'), new Map([['emb_params', tensor('float32', [2, 64], vectors)]]));
    await saveSafetensors(f('other.safetensors'), new Map([['string_to_param.*', tensor('float32', [1, 64], seeded(64, 78, 0.5))]]));
    const { model: base } = await openModel(f('sd1.safetensors'), { hash: 'base' });
    const withEmb = await withAdapters(base, [{ file: f('mystyle.safetensors') }, { file: f('other.safetensors') }]);
    expect(withEmb.spec.weights).toBe(base.spec.weights); // no copy of the weights for embeddings
    const got = await withEmb.encodeText(['a (mystyle:1.0) cat', 'a cat']);

    // Reference: the token table with the rows of 'dog' and 'house' replaced by the two vectors, prompt "a dog house cat".
    const tok = base.spec.textTokenizer!;
    const [dog, house] = [tok.textIds('dog')[0]!, tok.textIds('house')[0]!];
    const w = await ownWeights(base.spec);
    const table = w.get('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight')!;
    table.set(vectors.subarray(0, 64), dog * 64);
    table.set(vectors.subarray(64), house * 64);
    const ref = new LoadedModel({ ...base.spec, weights: { kind: 'memory', tensors: w } });
    const want = await ref.encodeText(['a dog house cat', 'a cat']);
    expect(got.shape).toEqual(want.shape);
    expect(maxDiff(got.data, want.data)).toBeLessThan(1e-5);
    // a prompt without the word is unchanged, and 'other' (string_to_param) is known too
    const plain = await base.encodeText(['a cat']);
    expect(maxDiff((await withEmb.encodeText(['a cat'])).data, plain.data)).toBeLessThan(1e-6);
    expect(withEmb.spec.embeddings?.get('other')?.vectors).toBe(1);
    await Promise.all([base.release(), withEmb.release(), ref.release()]);
  }, 30_000);

  it('refuses an embedding of another width with a clear line', async () => {
    await saveSafetensors(f('wide.safetensors'), new Map([['emb_params', tensor('float32', [1, 1024], new Float32Array(1024))]]));
    const { model } = await openModel(f('sd1.safetensors'), { hash: 'base' });
    await expect(withAdapters(model, [{ file: f('wide.safetensors') }])).rejects.toThrow(/wide\.safetensors: the embedding is 1024 wide but this model's text encoder is 64 wide/);
  });
});
