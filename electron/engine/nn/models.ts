// Standalone inference graphs, one per network, with stable input/output names (close to the
// diffusers/Optimum ONNX exports so pipelines can treat both alike).
import { Graph, type Param } from '../onnx/graph.ts';
import { numel } from '../tensor.ts';
import { vaeDecode, vaeEncode } from './autoencoder.ts';
import {
  type AutoencoderConfig,
  type ClassEmbedderConfig,
  ConfigError,
  type TextEncoderConfig,
  type UNetConfig,
  autoencoderFactor,
  validateUNetConfig,
} from './config.ts';
import { initWeights } from './init.ts';
import type { WeightQuant } from './quantize.ts';
import { classEmbedderForward, textEncoderForward } from './text-encoder.ts';
import { unetForward } from './unet.ts';

function requireBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError(`batch must be a positive integer, got ${batch}`);
}

/** input_ids int64 [B, L] → last_hidden_state [B, L, width]. */
export const EXTRA_TOKENS_INPUT = 'extra_token_embeddings';

/** `extraTokens` > 0 adds the input `extra_token_embeddings` [n, width]: rows after the token table (textual inversion). */
export function buildTextEncoderGraph(cfg: TextEncoderConfig, batch: number, extraTokens = 0, o: InferenceGraphOptions = {}): Graph {
  requireBatch(batch);
  const g = new Graph('text_encoder');
  g.weightQuant = o.weightQuant ?? null;
  const ids = g.input('input_ids', 'int64', [batch, cfg.maxLength]);
  const extra = extraTokens > 0 ? g.input(EXTRA_TOKENS_INPUT, 'float32', [extraTokens, cfg.width]) : undefined;
  g.output(textEncoderForward(g, cfg, ids, undefined, extra), 'last_hidden_state');
  return g;
}

/** class_labels int64 [B] → context [B, 1, embedDim]. */
export function buildClassEmbedderGraph(cfg: ClassEmbedderConfig, batch: number): Graph {
  requireBatch(batch);
  const g = new Graph('class_embedder');
  g.output(classEmbedderForward(g, cfg, g.input('class_labels', 'int64', [batch])), 'context');
  return g;
}

export interface UNetGraphOptions {
  batch: number; // the pipeline runs cond + uncond in one batch for guidance: 2·images
  height: number; // latent size
  width: number;
  contextLength?: number; // tokens of the context (required when the config has contextDim)
  /** onnxruntime's fused attention (inference only; see Graph.fusedAttention). */
  fusedAttention?: boolean;
  /** Linear layers' weights quantised for MatMulNBits (inference only; see nn/quantize.ts). */
  weightQuant?: WeightQuant | null;
}

/** Options of the inference graphs that do not change what they compute. */
export interface InferenceGraphOptions {
  /** onnxruntime's fused attention (see Graph.fusedAttention). */
  fusedAttention?: boolean;
  /** Linear layers' weights quantised for MatMulNBits (see nn/quantize.ts). */
  weightQuant?: WeightQuant | null;
}

/**
 * sample [B, inChannels, h, w], timestep_embedding [B, modelChannels] (see timestepEmbedding),
 * encoder_hidden_states [B, L, contextDim] (when contextDim), class_labels int64 [B] (when numClasses)
 * → out_sample [B, outChannels, h, w].
 */
export function buildUNetGraph(cfgIn: UNetConfig, o: UNetGraphOptions): Graph {
  const cfg = validateUNetConfig(cfgIn);
  requireBatch(o.batch);
  const g = new Graph('unet');
  g.fusedAttention = o.fusedAttention ?? false;
  g.weightQuant = o.weightQuant ?? null;
  const sample = g.input('sample', 'float32', [o.batch, cfg.inChannels, o.height, o.width]);
  const temb = g.input('timestep_embedding', 'float32', [o.batch, cfg.modelChannels]);
  let context;
  if (cfg.contextDim) {
    if (!o.contextLength) throw new ConfigError('buildUNetGraph: contextLength is required for a UNet with contextDim');
    context = g.input('encoder_hidden_states', 'float32', [o.batch, o.contextLength, cfg.contextDim]);
  }
  const classLabels = cfg.numClasses ? g.input('class_labels', 'int64', [o.batch]) : undefined;
  g.output(unetForward(g, cfg, { sample, timestepEmbedding: temb, context, classLabels }), 'out_sample');
  return g;
}

/** sample [B, 3, H, W] in [−1, 1] → latent_parameters (KL moments, or the VQ pre-quantisation latent). */
export function buildVaeEncoderGraph(cfg: AutoencoderConfig, batch: number, height: number, width: number, o: InferenceGraphOptions = {}): Graph {
  requireBatch(batch);
  const g = new Graph('vae_encoder');
  g.fusedAttention = o.fusedAttention ?? false;
  const x = g.input('sample', 'float32', [batch, cfg.inChannels, height, width]);
  g.output(vaeEncode(g, cfg, x), 'latent_parameters');
  return g;
}

/** latent_sample [B, embedDim, h, w] (unscaled) → sample [B, outCh, h·f, w·f]. */
export function buildVaeDecoderGraph(cfg: AutoencoderConfig, batch: number, height: number, width: number, o: InferenceGraphOptions = {}): Graph {
  requireBatch(batch);
  const g = new Graph('vae_decoder');
  g.fusedAttention = o.fusedAttention ?? false;
  const z = g.input('latent_sample', 'float32', [batch, cfg.embedDim, height, width]);
  g.output(vaeDecode(g, cfg, z), 'sample');
  return g;
}

export function countParams(params: Iterable<Param> | Map<string, Param>): number {
  let n = 0;
  for (const p of params instanceof Map ? params.values() : params) n += numel(p.shape);
  return n;
}

/** Parameter specs of a UNet (from a graph at the smallest valid size; nothing is allocated). */
export function unetParams(cfg: UNetConfig): Map<string, Param> {
  const v = validateUNetConfig(cfg);
  const s = 2 ** (v.channelMult.length - 1);
  return buildUNetGraph(v, { batch: 1, height: s, width: s, contextLength: 1 }).params;
}

export function autoencoderParams(cfg: AutoencoderConfig): Map<string, Param> {
  const f = autoencoderFactor(cfg);
  const g = new Graph('autoencoder');
  vaeEncode(g, cfg, g.input('sample', 'float32', [1, cfg.inChannels, f, f]));
  vaeDecode(g, cfg, g.input('latent_sample', 'float32', [1, cfg.embedDim, 1, 1]));
  return g.params;
}

export function textEncoderParams(cfg: TextEncoderConfig): Map<string, Param> {
  return buildTextEncoderGraph(cfg, 1).params;
}

export function classEmbedderParams(cfg: ClassEmbedderConfig): Map<string, Param> {
  return buildClassEmbedderGraph(cfg, 1).params;
}

/** The networks of one latent diffusion model; any subset. */
export interface ModelConfigs {
  unet?: UNetConfig;
  autoencoder?: AutoencoderConfig;
  textEncoder?: TextEncoderConfig;
  classEmbedder?: ClassEmbedderConfig;
}

/** All parameter specs of the given networks: autoencoder, conditioning encoders, then UNet. */
export function modelParams(cfg: ModelConfigs): Map<string, Param> {
  const out = new Map<string, Param>();
  const parts = [
    cfg.autoencoder && autoencoderParams(cfg.autoencoder),
    cfg.textEncoder && textEncoderParams(cfg.textEncoder),
    cfg.classEmbedder && classEmbedderParams(cfg.classEmbedder),
    cfg.unet && unetParams(cfg.unet),
  ];
  for (const part of parts) if (part) for (const [k, v] of part) out.set(k, v);
  return out;
}

/** Fresh weights for a config, reproducible from the seed; each network draws from its own stream. */
export function randomWeights(cfg: ModelConfigs, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const parts: [number, ModelConfigs][] = [
    [0, { autoencoder: cfg.autoencoder }],
    [1, { textEncoder: cfg.textEncoder }],
    [2, { classEmbedder: cfg.classEmbedder }],
    [3, { unet: cfg.unet }],
  ];
  for (const [i, part] of parts) {
    for (const [k, v] of initWeights(modelParams(part), (seed * 4 + i) >>> 0)) out.set(k, v);
  }
  return out;
}
