// "Tiny SD": Stable Diffusion files with the exact SD 1.x / SD 2.x single-file and diffusers name
// layouts and dtypes, but small widths, written by our code from a fixed seed. The diffusers names
// are produced here from the diffusers conversion tables (not from engine/families), so a mapping
// mistake in the families shows up as a missing tensor or a different output.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { modelParams } from '../../../electron/engine/nn/models.ts';
import { floatToHalf } from '../../../electron/engine/tensor.ts';

export const TEXT = 'cond_stage_model.transformer.text_model';

export const SD1_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 32,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [1],
  numHeads: 8,
  transformerDepth: 1,
  contextDim: 64,
};

export const SD2_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 64,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [1],
  numHeadChannels: 64,
  transformerDepth: 1,
  contextDim: 64,
  linearProjection: true,
};

export const TINY_VAE: AutoencoderConfig = {
  kind: 'kl',
  ch: 32,
  chMult: [1, 2],
  numResBlocks: 1,
  attnResolutions: [],
  resolution: 256,
  inChannels: 3,
  outCh: 3,
  zChannels: 4,
  embedDim: 4,
};

/** CLIP-like: the real 49,408-token vocabulary (so real CLIP ids fit), 64 wide, 64-channel heads. */
export const SD1_TEXT: TextEncoderConfig = {
  vocabSize: 49408,
  maxLength: 77,
  width: 64,
  layers: 2,
  heads: 1,
  mlpWidth: 128,
  activation: 'quick_gelu',
  causal: true,
};

/** The OpenCLIP tower as stored (3 layers, GELU); SD 2.x runs the first 2 (penultimate). */
export const SD2_TEXT_STORED: TextEncoderConfig = { ...SD1_TEXT, layers: 3, activation: 'gelu' };

export type Dtype = 'F32' | 'F16' | 'BF16';

export interface Entry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array | BigInt64Array;
  readonly dtype?: Dtype | 'I64';
}

/** A safetensors file written by hand (so BF16 and odd layouts are possible). */
export async function writeSafetensorsFile(file: string, entries: readonly Entry[], dtype: Dtype, metadata?: Record<string, string>): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const dt = e.dtype ?? (e.values instanceof BigInt64Array ? 'I64' : dtype);
    const bytes = encode(e.values, dt);
    header[e.name] = { dtype: dt, shape: e.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, Buffer.concat([head, Buffer.from(json), ...blobs]));
}

function encode(v: Float32Array | BigInt64Array, dtype: Dtype | 'I64'): Uint8Array {
  if (v instanceof BigInt64Array) return new Uint8Array(v.buffer.slice(0));
  if (dtype === 'F32') return new Uint8Array(Float32Array.from(v).buffer);
  const out = new Uint16Array(v.length);
  const u32 = new Uint32Array(Float32Array.from(v).buffer);
  for (let i = 0; i < v.length; i++) out[i] = dtype === 'F16' ? floatToHalf(v[i]!) : (u32[i]! + 0x7fff + ((u32[i]! >> 16) & 1)) >>> 16;
  return new Uint8Array(out.buffer);
}

/**
 * Random weights of the configs from a fixed seed (an LCG: fast enough for the 3M-entry token table):
 * matrices and convs U(±1/√fan_in), norm scales 1 ± 0.1, biases ± 0.05. No zero-initialised layers, so
 * every part of each network changes the output.
 */
const weightCache = new Map<string, Map<string, Float32Array>>();
export function sdWeights(unet: UNetConfig, text: TextEncoderConfig, seed: number): Map<string, Float32Array> {
  const key = JSON.stringify([unet, text, seed]);
  const known = weightCache.get(key);
  if (known) return known;
  const out = new Map<string, Float32Array>();
  let s = (seed * 2654435761) >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5; // U(-0.5, 0.5)
  for (const [name, p] of modelParams({ unet, autoencoder: TINY_VAE, textEncoder: text })) {
    const v = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.shape.length >= 2) {
      const bound = 2 / Math.sqrt(p.shape.slice(1).reduce((a, b) => a * b, 1));
      // big tables (the 49,408-row token embedding) repeat a prime-length random block: cheap, still varied
      const n = Math.min(v.length, 65521);
      for (let i = 0; i < n; i++) v[i] = next() * bound;
      for (let i = n; i < v.length; i++) v[i] = v[i - n]!;
    } else if (name.endsWith('.weight')) for (let i = 0; i < v.length; i++) v[i] = 1 + 0.2 * next();
    else for (let i = 0; i < v.length; i++) v[i] = 0.1 * next();
    out.set(name, v);
  }
  weightCache.set(key, out);
  return out;
}

const shapeCache = new Map<string, Map<string, readonly number[]>>();
function shapeOfParam(name: string, unet: UNetConfig, text: TextEncoderConfig): readonly number[] {
  const key = JSON.stringify([unet, text]);
  let m = shapeCache.get(key);
  if (!m) {
    m = new Map([...modelParams({ unet, autoencoder: TINY_VAE, textEncoder: text })].map(([k, p]) => [k, p.shape]));
    shapeCache.set(key, m);
  }
  return m.get(name)!;
}

export interface SdFileOptions {
  readonly dtype?: Dtype;
  readonly seed?: number;
  /** UNet input channels: 9 for the inpainting variant. */
  readonly inChannels?: number;
  readonly metadata?: Record<string, string>;
  /** Store the UNet as LitEma buffers (model_ema.*) and put other values under model.diffusion_model.*. */
  readonly ema?: boolean;
  /** Leave out the text tower. */
  readonly noText?: boolean;
  readonly extra?: readonly Entry[];
  /** Changes to the UNet config. */
  readonly unet?: Partial<UNetConfig>;
}

function emaName(name: string): string {
  return `model_ema.${name.slice('model.'.length).replace(/\./g, '')}`;
}

/** An SD 1.x single file; returns the weights under their graph names (for comparisons). */
export async function writeSd1File(file: string, o: SdFileOptions = {}): Promise<Map<string, Float32Array>> {
  const unet = { ...SD1_UNET, inChannels: o.inChannels ?? 4, ...o.unet };
  const w = sdWeights(unet, SD1_TEXT, o.seed ?? 1);
  const entries: Entry[] = [];
  for (const [name, v] of w) {
    if (o.noText && name.startsWith('cond_stage_model.')) continue;
    const shape = shapeOfParam(name, unet, SD1_TEXT);
    if (o.ema && name.startsWith('model.diffusion_model.')) {
      entries.push({ name: emaName(name), shape, values: v });
      entries.push({ name, shape, values: v.map((x) => -x) }); // the non-EMA weights differ
    } else entries.push({ name, shape, values: v });
  }
  // Buffers that real files carry and the loader must ignore.
  entries.push({ name: 'alphas_cumprod', shape: [1000], values: new Float32Array(1000).fill(0.5), dtype: 'F32' });
  if (o.ema) entries.push({ name: 'model_ema.decay', shape: [], values: new Float32Array([0.9999]), dtype: 'F32' });
  entries.push(...(o.extra ?? []));
  await writeSafetensorsFile(file, entries, o.dtype ?? 'F32', o.metadata);
  return w;
}

/** An SD 2.x single file: OpenCLIP text tower (fused in_proj) under cond_stage_model.model.*, linear proj_in/out. */
export async function writeSd2File(file: string, o: SdFileOptions = {}): Promise<Map<string, Float32Array>> {
  const unet = { ...SD2_UNET, inChannels: o.inChannels ?? 4, ...o.unet };
  const w = sdWeights(unet, SD2_TEXT_STORED, o.seed ?? 2);
  const entries: Entry[] = [];
  const T = `${TEXT}.`;
  const L = 'cond_stage_model.model';
  const d = SD2_TEXT_STORED.width;
  for (const [name, v] of w) {
    if (!name.startsWith(T)) {
      entries.push({ name, shape: shapeOfParam(name, unet, SD2_TEXT_STORED), values: v });
      continue;
    }
    const n = name.slice(T.length);
    const fixed: Record<string, [string, number[]]> = {
      'embeddings.token_embedding.weight': ['token_embedding.weight', [SD1_TEXT.vocabSize, d]],
      'embeddings.position_embedding.weight': ['positional_embedding', [77, d]],
      'final_layer_norm.weight': ['ln_final.weight', [d]],
      'final_layer_norm.bias': ['ln_final.bias', [d]],
    };
    if (fixed[n]) {
      entries.push({ name: `${L}.${fixed[n][0]}`, shape: fixed[n][1], values: v });
      continue;
    }
    const m = /^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n)!;
    const [, layer, part, kind] = m;
    const block = `${L}.transformer.resblocks.${layer}`;
    if (part === 'self_attn.q_proj') {
      // in_proj = [q; k; v] rows
      const k = w.get(name.replace('q_proj', 'k_proj'))!;
      const vv = w.get(name.replace('q_proj', 'v_proj'))!;
      const fused = new Float32Array(v.length * 3);
      fused.set(v, 0);
      fused.set(k, v.length);
      fused.set(vv, 2 * v.length);
      entries.push({ name: `${block}.attn.in_proj_${kind}`, shape: kind === 'weight' ? [3 * d, d] : [3 * d], values: fused });
      continue;
    }
    if (part === 'self_attn.k_proj' || part === 'self_attn.v_proj') continue;
    const parts: Record<string, string> = { layer_norm1: 'ln_1', layer_norm2: 'ln_2', 'self_attn.out_proj': 'attn.out_proj', 'mlp.fc1': 'mlp.c_fc', 'mlp.fc2': 'mlp.c_proj' };
    entries.push({ name: `${block}.${parts[part!]}.${kind}`, shape: shapeOfParam(name, unet, SD2_TEXT_STORED), values: v });
  }
  if (!o.noText) {
    entries.push({ name: `${L}.text_projection`, shape: [d, d], values: new Float32Array(d * d) });
    entries.push({ name: `${L}.logit_scale`, shape: [], values: new Float32Array([4.6]) });
  }
  await writeSafetensorsFile(file, o.noText ? entries.filter((e) => !e.name.startsWith('cond_stage_model.')) : entries, o.dtype ?? 'F32', o.metadata);
  return w;
}

// ------------------------------------------------------------------ diffusers layout

/** diffusers' conversion tables (scripts/convert_diffusers_to_original_stable_diffusion.py), for our tiny depth. */
function unetPairs(cfg: UNetConfig): [string, string][] {
  const per = cfg.numResBlocks + 1;
  const levels = cfg.channelMult.length;
  const pairs: [string, string][] = [
    ['time_embed.0.', 'time_embedding.linear_1.'],
    ['time_embed.2.', 'time_embedding.linear_2.'],
    ['input_blocks.0.0.', 'conv_in.'],
    ['out.0.', 'conv_norm_out.'],
    ['out.2.', 'conv_out.'],
    ['middle_block.1.', 'mid_block.attentions.0.'],
  ];
  for (let j = 0; j < 2; j++) pairs.push([`middle_block.${2 * j}.`, `mid_block.resnets.${j}.`]);
  for (let i = 0; i < levels; i++) {
    for (let j = 0; j < cfg.numResBlocks; j++) {
      pairs.push([`input_blocks.${per * i + j + 1}.0.`, `down_blocks.${i}.resnets.${j}.`]);
      pairs.push([`input_blocks.${per * i + j + 1}.1.`, `down_blocks.${i}.attentions.${j}.`]);
    }
    for (let j = 0; j < per; j++) {
      pairs.push([`output_blocks.${per * i + j}.0.`, `up_blocks.${i}.resnets.${j}.`]);
      pairs.push([`output_blocks.${per * i + j}.1.`, `up_blocks.${i}.attentions.${j}.`]);
    }
    if (i < levels - 1) {
      pairs.push([`input_blocks.${per * (i + 1)}.0.op.`, `down_blocks.${i}.downsamplers.0.conv.`]);
      // the deepest up level has no attention, so its upsampler is sub-block 1
      const sub = cfg.attentionResolutions.includes(2 ** (levels - 1 - i)) ? 2 : 1;
      pairs.push([`output_blocks.${per * i + cfg.numResBlocks}.${sub}.conv.`, `up_blocks.${i}.upsamplers.0.conv.`]);
    }
  }
  return pairs;
}

const RESNET: [string, string][] = [
  ['in_layers.0.', 'norm1.'], ['in_layers.2.', 'conv1.'], ['out_layers.0.', 'norm2.'], ['out_layers.3.', 'conv2.'],
  ['emb_layers.1.', 'time_emb_proj.'], ['skip_connection.', 'conv_shortcut.'],
];

function diffusersUNetName(name: string, cfg: UNetConfig): string {
  const n = name.slice('model.diffusion_model.'.length);
  // longest prefix first, so output_blocks.2.1.conv. wins over output_blocks.2.1.
  const hit = unetPairs(cfg).filter(([sd]) => n.startsWith(sd)).sort((a, b) => b[0].length - a[0].length)[0];
  if (!hit) throw new Error(`fixture: no diffusers name for ${name}`);
  let rest = n.slice(hit[0].length);
  if (hit[1].includes('resnets')) for (const [a, b] of RESNET) if (rest.startsWith(a)) rest = b + rest.slice(a.length);
  return hit[1] + rest;
}

function diffusersVaeName(name: string, levels: number): { name: string; reshape2d: boolean } {
  let n = name.slice('first_stage_model.'.length);
  n = n.replace(/^encoder\.down\.(\d+)\.block\.(\d+)\./, 'encoder.down_blocks.$1.resnets.$2.');
  n = n.replace(/^encoder\.down\.(\d+)\.downsample\./, 'encoder.down_blocks.$1.downsamplers.0.');
  n = n.replace(/^decoder\.up\.(\d+)\.block\.(\d+)\./, (_, i, j) => `decoder.up_blocks.${levels - 1 - Number(i)}.resnets.${j}.`);
  n = n.replace(/^decoder\.up\.(\d+)\.upsample\./, (_, i) => `decoder.up_blocks.${levels - 1 - Number(i)}.upsamplers.0.`);
  n = n.replace(/\.mid\.block_1\./, '.mid_block.resnets.0.').replace(/\.mid\.block_2\./, '.mid_block.resnets.1.');
  n = n.replace(/\.norm_out\./, '.conv_norm_out.').replace(/\.nin_shortcut\./, '.conv_shortcut.');
  let reshape2d = false;
  const a = /\.mid\.attn_1\.(norm|q|k|v|proj_out)\./.exec(n);
  if (a) {
    const to: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };
    n = n.replace(a[0], `.mid_block.attentions.0.${to[a[1]!]}.`);
    reshape2d = a[1] !== 'norm';
  }
  return { name: n, reshape2d };
}

export interface DiffusersOptions {
  readonly dtype?: Dtype;
  readonly fp16Variant?: boolean;
  readonly prediction?: 'epsilon' | 'v_prediction';
  readonly inChannels?: number;
  readonly className?: string;
  readonly seed?: number;
  readonly unet?: Partial<UNetConfig>;
}

/** A tiny SD 1.x diffusers folder; returns the weights under graph names (same seed as writeSd1File gives the same values). */
export async function writeDiffusersFolder(dir: string, o: DiffusersOptions = {}): Promise<Map<string, Float32Array>> {
  const unet = { ...SD1_UNET, inChannels: o.inChannels ?? 4, ...o.unet };
  const w = sdWeights(unet, SD1_TEXT, o.seed ?? 1);
  const dtype = o.dtype ?? 'F32';
  const suffix = o.fp16Variant ? '.fp16.safetensors' : '.safetensors';
  const groups: Record<string, Entry[]> = { unet: [], vae: [], text_encoder: [] };
  for (const [name, v] of w) {
    const shape = shapeOfParam(name, unet, SD1_TEXT);
    if (name.startsWith('model.diffusion_model.')) groups.unet!.push({ name: diffusersUNetName(name, unet), shape, values: v });
    else if (name.startsWith('first_stage_model.')) {
      const d = diffusersVaeName(name, TINY_VAE.chMult.length);
      groups.vae!.push({ name: d.name, shape: d.reshape2d ? shape.slice(0, 2) : shape, values: v });
    } else groups.text_encoder!.push({ name: `text_model.${name.slice(TEXT.length + 1)}`, shape, values: v });
  }
  groups.text_encoder!.push({ name: 'text_model.embeddings.position_ids', shape: [1, 77], values: BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i)) });
  await writeSafetensorsFile(path.join(dir, 'unet', `diffusion_pytorch_model${suffix}`), groups.unet!, dtype);
  await writeSafetensorsFile(path.join(dir, 'vae', `diffusion_pytorch_model${suffix}`), groups.vae!, dtype);
  await writeSafetensorsFile(path.join(dir, 'text_encoder', `model${suffix}`), groups.text_encoder!, dtype);
  const json = (file: string, v: unknown) => fsp.writeFile(path.join(dir, file), JSON.stringify(v, null, 2));
  await json('model_index.json', {
    _class_name: o.className ?? 'StableDiffusionPipeline',
    _diffusers_version: '0.21.0',
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    scheduler: ['diffusers', 'PNDMScheduler'],
  });
  await json('unet/config.json', {
    _class_name: 'UNet2DConditionModel',
    in_channels: unet.inChannels,
    out_channels: 4,
    block_out_channels: [32, 64],
    layers_per_block: 1,
    attention_head_dim: 8,
    cross_attention_dim: 64,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    sample_size: 8,
  });
  await json('vae/config.json', { _class_name: 'AutoencoderKL', block_out_channels: [32, 64], latent_channels: 4, layers_per_block: 1, scaling_factor: 0.18215 });
  await json('text_encoder/config.json', {
    architectures: ['CLIPTextModel'], hidden_act: 'quick_gelu', hidden_size: 64, intermediate_size: 128, max_position_embeddings: 77,
    num_attention_heads: 1, num_hidden_layers: 2, vocab_size: 49408,
  });
  await fsp.mkdir(path.join(dir, 'scheduler'), { recursive: true });
  await json('scheduler/scheduler_config.json', {
    _class_name: 'PNDMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000,
    prediction_type: o.prediction ?? 'epsilon', steps_offset: 1, timestep_spacing: 'leading', set_alpha_to_one: false, skip_prk_steps: true,
  });
  await writeTinyTokenizer(path.join(dir, 'tokenizer'));
  return w;
}

/** A small byte-level BPE vocabulary in the transformers layout (ids inside CLIP's 49,408). */
export async function writeTinyTokenizer(dir: string): Promise<void> {
  const chars: string[] = [];
  for (let b = 33; b <= 126; b++) chars.push(String.fromCharCode(b));
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const c of chars) vocab[c] = id++;
  for (const c of chars) vocab[`${c}</w>`] = id++;
  const merges = ['c a', 'ca t</w>', 'r e', 're d</w>'];
  for (const m of merges) vocab[m.replace(' ', '')] = id++;
  vocab['<|startoftext|>'] = 49406;
  vocab['<|endoftext|>'] = 49407;
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
  await fsp.writeFile(path.join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
  await fsp.writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: '<|endoftext|>' }));
}
