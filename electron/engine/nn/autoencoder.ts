// The first-stage autoencoder of ldm/modules/diffusionmodules/model.py (Encoder/Decoder) and
// ldm/models/autoencoder.py (AutoencoderKL, VQModel), with names under `first_stage_model.`.
import type { Graph, Value } from '../onnx/graph.ts';
import { type AutoencoderConfig, ConfigError, ModelInputError, validateAutoencoderConfig } from './config.ts';
import { conv2d, groupNorm, join, upsample } from './layers.ts';

export const VAE_PREFIX = 'first_stage_model';
const EPS = 1e-6;
const LOGVAR_MIN = -30;
const LOGVAR_MAX = 20;

interface Ctx {
  g: Graph;
  groups: number;
}

// ResnetBlock without time embedding: norm1 → SiLU → conv1 → norm2 → SiLU → conv2, + nin_shortcut.
function resnetBlock(c: Ctx, name: string, x: Value, inCh: number, outCh: number): Value {
  const { g } = c;
  let h = conv2d(g, join(name, 'conv1'), g.silu(groupNorm(g, join(name, 'norm1'), x, c.groups, EPS)), inCh, outCh, { kernel: 3, padding: 1 });
  h = conv2d(g, join(name, 'conv2'), g.silu(groupNorm(g, join(name, 'norm2'), h, c.groups, EPS)), outCh, outCh, { kernel: 3, padding: 1 });
  const skip = inCh === outCh ? x : conv2d(g, join(name, 'nin_shortcut'), x, inCh, outCh, { kernel: 1 });
  return g.add(skip, h);
}

// AttnBlock: single-head attention over pixels with q/k/v/proj_out as 1×1 convs.
function attnBlock(c: Ctx, name: string, x: Value, ch: number): Value {
  const { g } = c;
  const [b, , hgt, wid] = x.shape as [number, number, number, number];
  const n = hgt * wid;
  const h = groupNorm(g, join(name, 'norm'), x, c.groups, EPS);
  const q = conv2d(g, join(name, 'q'), h, ch, ch, { kernel: 1 });
  const k = conv2d(g, join(name, 'k'), h, ch, ch, { kernel: 1 });
  const v = conv2d(g, join(name, 'v'), h, ch, ch, { kernel: 1 });
  let out: Value; // [B, C, N]
  if (g.fusedAttention) {
    const tokens = (t: Value) => g.transpose(g.reshape(t, [b, ch, n]), [0, 2, 1]); // [B, N, C]
    out = g.transpose(g.multiHeadAttention(tokens(q), tokens(k), tokens(v), 1, ch ** -0.5), [0, 2, 1]);
  } else {
    const qt = g.transpose(g.reshape(g.mul(q, ch ** -0.5), [b, ch, n]), [0, 2, 1]); // [B, N, C]
    const w = g.softmax(g.matmul(qt, g.reshape(k, [b, ch, n])), -1); // [B, N(query), N(key)]
    out = g.matmul(g.reshape(v, [b, ch, n]), g.transpose(w, [0, 2, 1]));
  }
  const proj = conv2d(g, join(name, 'proj_out'), g.reshape(out, [b, ch, hgt, wid]), ch, ch, { kernel: 1 });
  return g.add(x, proj);
}

function checkImage(cfg: AutoencoderConfig, x: Value, channels: number, what: string, divisor: number): void {
  const s = x.shape;
  if (s.length !== 4 || s[1] !== channels) {
    throw new ModelInputError(`autoencoder: ${what} must be [B, ${channels}, H, W], got [${s.join(', ')}]`);
  }
  if (s[2]! % divisor !== 0 || s[3]! % divisor !== 0) {
    throw new ModelInputError(`autoencoder: ${what} size ${s[2]}×${s[3]} must be divisible by ${divisor} (chMult [${cfg.chMult.join(', ')}])`);
  }
}

/** Encoder → conv_out: [B, 2·z or z, H/f, W/f]. */
function encoder(c: Ctx, cfg: AutoencoderConfig, name: string, x: Value): Value {
  const { g } = c;
  const levels = cfg.chMult.length;
  let h = conv2d(g, join(name, 'conv_in'), x, cfg.inChannels, cfg.ch, { kernel: 3, padding: 1 });
  let res = cfg.resolution;
  let ch = cfg.ch;
  for (let i = 0; i < levels; i++) {
    const out = cfg.ch * cfg.chMult[i]!;
    for (let j = 0; j < cfg.numResBlocks; j++) {
      h = resnetBlock(c, join(name, `down.${i}.block.${j}`), h, ch, out);
      ch = out;
      if (cfg.attnResolutions.includes(res)) h = attnBlock(c, join(name, `down.${i}.attn.${j}`), h, ch);
    }
    if (i !== levels - 1) {
      // The reference pads (0,1,0,1) then convolves with stride 2 and no padding: the same as
      // asymmetric conv padding [top 0, left 0, bottom 1, right 1].
      h = conv2d(g, join(name, `down.${i}.downsample.conv`), h, ch, ch, { kernel: 3, stride: 2, padding: [0, 0, 1, 1] });
      res /= 2;
    }
  }
  h = resnetBlock(c, join(name, 'mid.block_1'), h, ch, ch);
  h = attnBlock(c, join(name, 'mid.attn_1'), h, ch);
  h = resnetBlock(c, join(name, 'mid.block_2'), h, ch, ch);
  h = g.silu(groupNorm(g, join(name, 'norm_out'), h, c.groups, EPS));
  const zOut = cfg.kind === 'kl' ? 2 * cfg.zChannels : cfg.zChannels;
  return conv2d(g, join(name, 'conv_out'), h, ch, zOut, { kernel: 3, padding: 1 });
}

function decoder(c: Ctx, cfg: AutoencoderConfig, name: string, z: Value): Value {
  const { g } = c;
  const levels = cfg.chMult.length;
  let ch = cfg.ch * cfg.chMult[levels - 1]!;
  let res = cfg.resolution / 2 ** (levels - 1);
  let h = conv2d(g, join(name, 'conv_in'), z, cfg.zChannels, ch, { kernel: 3, padding: 1 });
  h = resnetBlock(c, join(name, 'mid.block_1'), h, ch, ch);
  h = attnBlock(c, join(name, 'mid.attn_1'), h, ch);
  h = resnetBlock(c, join(name, 'mid.block_2'), h, ch, ch);
  for (let i = levels - 1; i >= 0; i--) {
    const out = cfg.ch * cfg.chMult[i]!;
    for (let j = 0; j <= cfg.numResBlocks; j++) {
      h = resnetBlock(c, join(name, `up.${i}.block.${j}`), h, ch, out);
      ch = out;
      if (cfg.attnResolutions.includes(res)) h = attnBlock(c, join(name, `up.${i}.attn.${j}`), h, ch);
    }
    if (i !== 0) {
      h = upsample(g, join(name, `up.${i}.upsample`), h, ch);
      res *= 2;
    }
  }
  h = g.silu(groupNorm(g, join(name, 'norm_out'), h, c.groups, EPS));
  return conv2d(g, join(name, 'conv_out'), h, ch, cfg.outCh, { kernel: 3, padding: 1 });
}

function ctxOf(g: Graph, cfg: AutoencoderConfig): Ctx {
  return { g, groups: cfg.normGroups ?? 32 };
}

/**
 * KL: the posterior moments [B, 2·embedDim, H/f, W/f] (mean, then logvar clamped to [−30, 20]).
 * VQ: the pre-quantisation latent [B, embedDim, H/f, W/f] (the VQ layer belongs to the decoder).
 */
export function vaeEncode(g: Graph, cfgIn: AutoencoderConfig, image: Value, prefix = VAE_PREFIX): Value {
  const cfg = validateAutoencoderConfig(cfgIn);
  checkImage(cfg, image, cfg.inChannels, 'image', 2 ** (cfg.chMult.length - 1));
  const c = ctxOf(g, cfg);
  const h = encoder(c, cfg, join(prefix, 'encoder'), image);
  if (cfg.kind === 'vq') return conv2d(g, join(prefix, 'quant_conv'), h, cfg.zChannels, cfg.embedDim, { kernel: 1 });
  const moments = conv2d(g, join(prefix, 'quant_conv'), h, 2 * cfg.zChannels, 2 * cfg.embedDim, { kernel: 1 });
  const [mean, logvar] = g.split(moments, 1, [cfg.embedDim, cfg.embedDim]) as [Value, Value];
  return g.concat([mean, clamp(g, logvar, LOGVAR_MIN, LOGVAR_MAX)], 1);
}

/** Where-based clamp: Where has a gradient rule that passes dY through where the value is kept. */
export function clamp(g: Graph, x: Value, lo: number, hi: number): Value {
  const low = g.where(g.less(x, lo), g.expand(g.scalar(lo, x.dtype), [...x.shape]), x);
  return g.where(g.greater(low, hi), g.expand(g.scalar(hi, x.dtype), [...x.shape]), low);
}

/** Splits KL moments into mean and logvar. */
export function splitMoments(g: Graph, moments: Value): { mean: Value; logvar: Value } {
  const c = moments.shape[1]! / 2;
  const [mean, logvar] = g.split(moments, 1, [c, c]) as [Value, Value];
  return { mean, logvar };
}

/** The latent → image decoder (post_quant_conv → Decoder). KL: z is a latent sample; VQ: z is quantised here. */
export function vaeDecode(g: Graph, cfgIn: AutoencoderConfig, z: Value, prefix = VAE_PREFIX): Value {
  const cfg = validateAutoencoderConfig(cfgIn);
  checkImage(cfg, z, cfg.embedDim, 'latent', 1);
  const c = ctxOf(g, cfg);
  const zq = cfg.kind === 'vq' ? vectorQuantize(g, cfg, z, prefix).quantized : z;
  return decodeQuantized(c, cfg, zq, prefix);
}

function decodeQuantized(c: Ctx, cfg: AutoencoderConfig, zq: Value, prefix: string): Value {
  const h = conv2d(c.g, join(prefix, 'post_quant_conv'), zq, cfg.embedDim, cfg.zChannels, { kernel: 1 });
  return decoder(c, cfg, join(prefix, 'decoder'), h);
}

export interface Quantized {
  quantized: Value; // z_q [B, embedDim, h, w], values taken from the codebook
  indices: Value; // int64 [B, h, w]
}

// VectorQuantizer (taming-transformers): nearest codebook entry by squared distance.
export function vectorQuantize(g: Graph, cfg: AutoencoderConfig, z: Value, prefix = VAE_PREFIX): Quantized {
  const [b, d, h, w] = z.shape as [number, number, number, number];
  const n = cfg.nEmbed!;
  const codebook = g.param(join(prefix, 'quantize.embedding.weight'), [n, d], { kind: 'uniform', bound: 1 / n });
  const flat = g.reshape(g.transpose(z, [0, 2, 3, 1]), [b * h * w, d]); // [BHW, d]
  // ‖z‖² − 2 z·e + ‖e‖²; the ‖z‖² term does not change the argmin and is left out.
  const dist = g.sub(g.reduceSum(g.mul(codebook, codebook), [1], false), g.gemm(flat, codebook, undefined, { transB: true, alpha: 2 }));
  const [idx] = g.emit('ArgMin', [dist], { axis: { kind: 'int', value: 1 }, keepdims: { kind: 'int', value: 0 } }, [
    { dtype: 'int64', shape: [b * h * w] },
  ]) as [Value];
  const zq = g.transpose(g.reshape(g.gather(codebook, idx, 0), [b, h, w, d]), [0, 3, 1, 2]);
  return { quantized: zq, indices: g.reshape(idx, [b, h, w]) };
}

export interface VqTrainingOutputs {
  reconstruction: Value;
  commitment: Value; // scalar: ‖sg[z_q] − z‖²·β + ‖z_q − sg[z]‖² (means)
}

/**
 * Full VQ forward for training: straight-through estimator z + sg(z_q − z), and the codebook and
 * commitment losses. `stopGradient` must produce a value that autodiff treats as constant.
 */
export function vqAutoencoderForward(
  g: Graph,
  cfgIn: AutoencoderConfig,
  image: Value,
  stopGradient: (v: Value) => Value,
  prefix = VAE_PREFIX,
): VqTrainingOutputs {
  const cfg = validateAutoencoderConfig(cfgIn);
  if (cfg.kind !== 'vq') throw new ConfigError('vqAutoencoderForward needs an autoencoder config with kind "vq"');
  const z = vaeEncode(g, cfg, image, prefix);
  const { quantized } = vectorQuantize(g, cfg, z, prefix);
  const beta = cfg.beta ?? 0.25;
  const mse = (a: Value, b: Value) => {
    const d = g.sub(a, b);
    return g.reduceMean(g.mul(d, d), [0, 1, 2, 3], false);
  };
  const commitment = g.add(g.mul(mse(stopGradient(quantized), z), beta), mse(quantized, stopGradient(z)));
  const straightThrough = g.add(z, stopGradient(g.sub(quantized, z)));
  return { reconstruction: decodeQuantized(ctxOf(g, cfg), cfg, straightThrough, prefix), commitment };
}

/** Full KL forward for training: z = mean + exp(logvar/2)·noise, decoded. */
export function klAutoencoderForward(
  g: Graph,
  cfgIn: AutoencoderConfig,
  image: Value,
  noise: Value,
  prefix = VAE_PREFIX,
): { reconstruction: Value; mean: Value; logvar: Value } {
  const cfg = validateAutoencoderConfig(cfgIn);
  if (cfg.kind !== 'kl') throw new ConfigError('klAutoencoderForward needs an autoencoder config with kind "kl"');
  const { mean, logvar } = splitMoments(g, vaeEncode(g, cfg, image, prefix));
  if (noise.shape.join() !== mean.shape.join()) {
    throw new ModelInputError(`autoencoder: noise must be [${mean.shape.join(', ')}], got [${noise.shape.join(', ')}]`);
  }
  const z = g.add(mean, g.mul(g.exp(g.mul(logvar, 0.5)), noise));
  return { reconstruction: vaeDecode(g, cfg, z, prefix), mean, logvar };
}
