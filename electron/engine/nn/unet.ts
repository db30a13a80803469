// UNetModel of ldm/modules/diffusionmodules/openaimodel.py (as used by LDM and SD v1), with the
// checkpoint's parameter names under `model.diffusion_model.`.
//
// The sinusoidal timestep embedding is computed in JS (timestepEmbedding) and fed as the input
// `timestep_embedding` [B, modelChannels]: it has no parameters, so the training graphs need no
// Sin/Cos gradient rules and the pipelines compute it once per step in float64.
import type { Graph, Value } from '../onnx/graph.ts';
import { float32, type TensorData } from '../tensor.ts';
import { ModelInputError, type UNetConfig, unetHeads, validateUNetConfig } from './config.ts';
import { conv2d, crossAttention, embedding, gegluFeedForward, groupNorm, join, layerNorm, linear, upsample } from './layers.ts';
import { legacyAttentionBlock } from './ldm-attention.ts';

export const UNET_PREFIX = 'model.diffusion_model';
const UNET_EPS = 1e-5;
const TRANSFORMER_EPS = 1e-6; // GroupNorm of SpatialTransformer
const LN_EPS = 1e-5; // LayerNorms inside BasicTransformerBlock

/** ldm timestep_embedding: [cos(t·f), sin(t·f)], f_i = exp(−ln(maxPeriod)·i/half), computed in float64. */
export function timestepEmbedding(timesteps: ArrayLike<number>, dim: number, maxPeriod = 10000): TensorData<'float32'> {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(timesteps.length * dim);
  for (let b = 0; b < timesteps.length; b++) {
    const t = timesteps[b]!;
    for (let i = 0; i < half; i++) {
      const arg = t * Math.exp((-Math.log(maxPeriod) * i) / half);
      out[b * dim + i] = Math.cos(arg);
      out[b * dim + half + i] = Math.sin(arg);
    }
    // odd dims keep a trailing zero, as in the reference
  }
  return float32([timesteps.length, dim], out);
}

export interface UNetInputs {
  sample: Value; // [B, inChannels, h, w]
  timestepEmbedding: Value; // [B, modelChannels]
  context?: Value; // [B, L, contextDim]
  classLabels?: Value; // int64 [B]
}

interface Ctx {
  g: Graph;
  cfg: UNetConfig;
  groups: number;
}

// Each ResBlock and transformer block is built in its own Graph scope: its values are named
// `<block>/…`, which is what the autodiff's recomputation (gradient checkpointing) takes as a block.
function resBlock(c: Ctx, name: string, x: Value, emb: Value, inCh: number, outCh: number): Value {
  return c.g.scoped(name, () => resBlockIn(c, name, x, emb, inCh, outCh));
}

function resBlockIn(c: Ctx, name: string, x: Value, emb: Value, inCh: number, outCh: number): Value {
  const { g } = c;
  const embCh = c.cfg.modelChannels * 4;
  let h = conv2d(g, join(name, 'in_layers.2'), g.silu(groupNorm(g, join(name, 'in_layers.0'), x, c.groups, UNET_EPS)), inCh, outCh, {
    kernel: 3,
    padding: 1,
  });
  const e = linear(g, join(name, 'emb_layers.1'), g.silu(emb), embCh, outCh);
  h = g.add(h, g.reshape(e, [e.shape[0]!, outCh, 1, 1]));
  h = g.silu(groupNorm(g, join(name, 'out_layers.0'), h, c.groups, UNET_EPS));
  h = conv2d(g, join(name, 'out_layers.3'), h, outCh, outCh, { kernel: 3, padding: 1, zeroInit: true });
  const skip = inCh === outCh ? x : conv2d(g, join(name, 'skip_connection'), x, inCh, outCh, { kernel: 1 });
  return g.add(skip, h);
}

// BasicTransformerBlock: x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x).
function transformerBlock(c: Ctx, name: string, x: Value, context: Value | undefined, dim: number): Value {
  return c.g.scoped(name, () => transformerBlockIn(c, name, x, context, dim));
}

function transformerBlockIn(c: Ctx, name: string, x: Value, context: Value | undefined, dim: number): Value {
  const { g, cfg } = c;
  const { heads, headDim } = unetHeads(cfg, dim);
  const att = { queryDim: dim, contextDim: cfg.contextDim ?? dim, heads, headDim };
  x = g.add(x, crossAttention(g, join(name, 'attn1'), layerNorm(g, join(name, 'norm1'), x, LN_EPS), undefined, att));
  // Without a context dim the reference's attn2 attends to x itself.
  x = g.add(x, crossAttention(g, join(name, 'attn2'), layerNorm(g, join(name, 'norm2'), x, LN_EPS), context, att));
  return g.add(x, gegluFeedForward(g, join(name, 'ff'), layerNorm(g, join(name, 'norm3'), x, LN_EPS), dim));
}

// SpatialTransformer: GN → proj_in (1×1) → tokens → blocks → proj_out (1×1, zero-init) → + x.
function spatialTransformer(c: Ctx, name: string, x: Value, context: Value | undefined, ch: number): Value {
  const { g, cfg } = c;
  const [b, , hgt, wid] = x.shape as [number, number, number, number];
  const { heads, headDim } = unetHeads(cfg, ch);
  const inner = heads * headDim;
  let h = groupNorm(g, join(name, 'norm'), x, c.groups, TRANSFORMER_EPS);
  const toTokens = (v: Value, n: number) => g.transpose(g.reshape(v, [b, n, hgt * wid]), [0, 2, 1]); // [B, HW, n]
  const toMap = (v: Value, n: number) => g.reshape(g.transpose(v, [0, 2, 1]), [b, n, hgt, wid]);
  // SD 2.x (use_linear_in_transformer): proj_in/proj_out are Linear layers on the tokens.
  let tokens = cfg.linearProjection
    ? linear(g, join(name, 'proj_in'), toTokens(h, ch), ch, inner)
    : toTokens(conv2d(g, join(name, 'proj_in'), h, ch, inner, { kernel: 1 }), inner);
  for (let d = 0; d < cfg.transformerDepth; d++) {
    tokens = transformerBlock(c, join(name, `transformer_blocks.${d}`), tokens, context, inner);
  }
  h = cfg.linearProjection
    ? toMap(linear(g, join(name, 'proj_out'), tokens, inner, ch, { zeroInit: true }), ch)
    : conv2d(g, join(name, 'proj_out'), toMap(tokens, inner), inner, ch, { kernel: 1, zeroInit: true });
  return g.add(h, x);
}

/** The attention of a level: a SpatialTransformer, or the paper's plain AttentionBlock (legacyAttention). */
function attention(c: Ctx, name: string, x: Value, context: Value | undefined, ch: number): Value {
  if (!c.cfg.legacyAttention) return spatialTransformer(c, name, x, context, ch);
  return legacyAttentionBlock(c.g, name, x, ch, unetHeads(c.cfg, ch).heads, c.groups);
}

/** Emits the UNet into `g` and returns ε̂ [B, outChannels, h, w]. */
export function unetForward(g: Graph, cfgIn: UNetConfig, inp: UNetInputs, prefix = UNET_PREFIX): Value {
  const cfg = validateUNetConfig(cfgIn);
  const c: Ctx = { g, cfg, groups: cfg.normGroups ?? 32 };
  const mc = cfg.modelChannels;
  const levels = cfg.channelMult.length;
  const [b, inCh, h, w] = inp.sample.shape as [number, number, number, number];
  const f = 2 ** (levels - 1);
  if (inp.sample.shape.length !== 4 || inCh !== cfg.inChannels) {
    throw new ModelInputError(`UNet: sample must be [B, ${cfg.inChannels}, h, w], got [${inp.sample.shape.join(', ')}]`);
  }
  if (h % f !== 0 || w % f !== 0) {
    throw new ModelInputError(`UNet: latent size ${h}×${w} must be divisible by ${f} (the UNet downsamples ${levels - 1} times)`);
  }
  if (inp.timestepEmbedding.shape.join() !== [b, mc].join()) {
    throw new ModelInputError(`UNet: timestep embedding must be [${b}, ${mc}], got [${inp.timestepEmbedding.shape.join(', ')}]`);
  }
  if (cfg.contextDim) {
    const ctx = inp.context;
    if (!ctx || ctx.shape.length !== 3 || ctx.shape[0] !== b || ctx.shape[2] !== cfg.contextDim) {
      throw new ModelInputError(`UNet: context must be [${b}, L, ${cfg.contextDim}], got ${ctx ? `[${ctx.shape.join(', ')}]` : 'none'}`);
    }
  } else if (inp.context) {
    throw new ModelInputError('UNet: a context was given but the config has no contextDim');
  }
  if (!!cfg.numClasses !== !!inp.classLabels) {
    throw new ModelInputError(cfg.numClasses ? 'UNet: the config is class-conditional and needs class labels' : 'UNet: class labels given to an unconditional UNet');
  }
  const p = (n: string) => join(prefix, n);
  const ctx = cfg.contextDim ? inp.context : undefined;

  let emb = linear(g, p('time_embed.0'), inp.timestepEmbedding, mc, 4 * mc);
  emb = linear(g, p('time_embed.2'), g.silu(emb), 4 * mc, 4 * mc);
  if (cfg.numClasses && inp.classLabels) {
    emb = g.add(emb, embedding(g, p('label_emb'), inp.classLabels, cfg.numClasses, 4 * mc, { kind: 'normal', std: 1 }));
  }

  let x = conv2d(g, p('input_blocks.0.0'), inp.sample, inCh, mc, { kernel: 3, padding: 1 });
  const skips: { v: Value; ch: number }[] = [{ v: x, ch: mc }];
  let ch = mc;
  let ds = 1;
  let idx = 1;
  for (let level = 0; level < levels; level++) {
    for (let r = 0; r < cfg.numResBlocks; r++) {
      const out = cfg.channelMult[level]! * mc;
      x = resBlock(c, p(`input_blocks.${idx}.0`), x, emb, ch, out);
      ch = out;
      if (cfg.attentionResolutions.includes(ds)) x = attention(c, p(`input_blocks.${idx}.1`), x, ctx, ch);
      skips.push({ v: x, ch });
      idx++;
    }
    if (level !== levels - 1) {
      x = conv2d(g, p(`input_blocks.${idx}.0.op`), x, ch, ch, { kernel: 3, stride: 2, padding: 1 });
      skips.push({ v: x, ch });
      ds *= 2;
      idx++;
    }
  }

  x = resBlock(c, p('middle_block.0'), x, emb, ch, ch);
  x = attention(c, p('middle_block.1'), x, ctx, ch);
  x = resBlock(c, p('middle_block.2'), x, emb, ch, ch);

  idx = 0;
  for (let level = levels - 1; level >= 0; level--) {
    for (let r = 0; r <= cfg.numResBlocks; r++) {
      const skip = skips.pop()!;
      const out = cfg.channelMult[level]! * mc;
      x = resBlock(c, p(`output_blocks.${idx}.0`), g.concat([x, skip.v], 1), emb, ch + skip.ch, out);
      ch = out;
      let sub = 1;
      if (cfg.attentionResolutions.includes(ds)) x = attention(c, p(`output_blocks.${idx}.${sub++}`), x, ctx, ch);
      if (level > 0 && r === cfg.numResBlocks) {
        x = upsample(g, p(`output_blocks.${idx}.${sub}`), x, ch);
        ds /= 2;
      }
      idx++;
    }
  }

  x = g.silu(groupNorm(g, p('out.0'), x, c.groups, UNET_EPS));
  return conv2d(g, p('out.2'), x, ch, cfg.outChannels, { kernel: 3, padding: 1, zeroInit: true });
}
