// Architecture configurations of the models (camelCase versions of the LDM yaml keys) and their
// validation. A config is plain JSON: it is stored as-is in a model package's model.json.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A model was wired with inputs of the wrong shape (a bug in the caller, not in the config). */
export class ModelInputError extends Error {
  override name = 'ModelInputError';
}

export interface UNetConfig {
  inChannels: number; // 4 for latents; 9 for inpainting (latents + mask + masked-image latents)
  outChannels: number;
  modelChannels: number;
  channelMult: number[];
  numResBlocks: number;
  attentionResolutions: number[]; // downsampling rates (1, 2, 4, …) that get a SpatialTransformer
  numHeads?: number; // either a fixed head count …
  numHeadChannels?: number; // … or a fixed channel count per head (heads = channels / this)
  transformerDepth: number;
  contextDim?: number | null; // cross-attention context width; null = self-attention only
  numClasses?: number | null; // class-conditional: label_emb added to the time embedding
  normGroups?: number; // GroupNorm groups, 32 in the reference
  linearProjection?: boolean; // SpatialTransformer proj_in/proj_out as Linear on tokens (SD 2.x) instead of 1×1 convs
  legacyAttention?: boolean; // openaimodel's AttentionBlock (norm, qkv, proj_out) instead of a SpatialTransformer (use_spatial_transformer: false)
}

export type AutoencoderKind = 'kl' | 'vq';

export interface AutoencoderConfig {
  kind: AutoencoderKind;
  ch: number;
  chMult: number[]; // downsampling factor f = 2^(chMult.length − 1)
  numResBlocks: number;
  attnResolutions: number[]; // image resolutions (relative to `resolution`) with an attention block
  resolution: number;
  inChannels: number;
  outCh: number;
  zChannels: number;
  embedDim: number;
  nEmbed?: number; // VQ codebook size
  beta?: number; // VQ commitment weight (0.25)
  normGroups?: number;
}

export type TextActivation = 'gelu' | 'quick_gelu';

// A CLIP-style text transformer (HF CLIPTextModel names), small enough to train from scratch as the
// paper's τθ; with quick_gelu and a causal mask the same code describes SD v1's CLIP ViT-L/14 encoder.
export interface TextEncoderConfig {
  vocabSize: number;
  maxLength: number;
  width: number;
  layers: number;
  heads: number;
  mlpWidth: number;
  activation: TextActivation;
  causal: boolean;
  eps?: number; // LayerNorm epsilon, 1e-5
}

export interface ClassEmbedderConfig {
  nClasses: number;
  embedDim: number;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function requirePosInt(obj: Record<string, unknown>, key: string, where: string): number {
  const v = obj[key];
  if (!isPosInt(v)) throw new ConfigError(`${where}.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function requirePosIntList(obj: Record<string, unknown>, key: string, where: string, allowEmpty: boolean): number[] {
  const v = obj[key];
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0) || !v.every(isPosInt)) {
    throw new ConfigError(
      `${where}.${key} must be a ${allowEmpty ? '' : 'non-empty '}list of positive integers, got ${JSON.stringify(v)}`,
    );
  }
  return v as number[];
}

function requireObject(cfg: unknown, where: string): Record<string, unknown> {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
    throw new ConfigError(`${where} must be an object, got ${JSON.stringify(cfg)}`);
  }
  return cfg as Record<string, unknown>;
}

function optionalPosInt(obj: Record<string, unknown>, key: string, where: string): number | undefined {
  if (obj[key] === undefined || obj[key] === null) return undefined;
  return requirePosInt(obj, key, where);
}

export function unetHeads(cfg: UNetConfig, channels: number): { heads: number; headDim: number } {
  if (cfg.numHeadChannels !== undefined) {
    return { heads: channels / cfg.numHeadChannels, headDim: cfg.numHeadChannels };
  }
  const heads = cfg.numHeads!;
  return { heads, headDim: channels / heads };
}

export function validateUNetConfig(cfg: unknown, where = 'unet'): UNetConfig {
  const o = requireObject(cfg, where);
  for (const k of ['inChannels', 'outChannels', 'modelChannels', 'numResBlocks', 'transformerDepth']) requirePosInt(o, k, where);
  const mult = requirePosIntList(o, 'channelMult', where, false);
  const rates = requirePosIntList(o, 'attentionResolutions', where, true);
  const groups = optionalPosInt(o, 'normGroups', where) ?? 32;
  const heads = optionalPosInt(o, 'numHeads', where);
  const headCh = optionalPosInt(o, 'numHeadChannels', where);
  optionalPosInt(o, 'contextDim', where);
  optionalPosInt(o, 'numClasses', where);
  if (o.linearProjection !== undefined && typeof o.linearProjection !== 'boolean') {
    throw new ConfigError(`${where}.linearProjection must be true or false, got ${JSON.stringify(o.linearProjection)}`);
  }
  if ((heads === undefined) === (headCh === undefined)) {
    throw new ConfigError(`${where}: give exactly one of numHeads or numHeadChannels`);
  }
  const mc = o.modelChannels as number;
  const validRates = new Set(mult.map((_, i) => 2 ** i));
  for (const r of rates) {
    if (!validRates.has(r)) {
      throw new ConfigError(`${where}.attentionResolutions: rate ${r} is not one of the UNet's rates ${[...validRates].join(', ')}`);
    }
  }
  const channels = new Set([mc, ...mult.map((m) => m * mc)]);
  for (const c of channels) {
    if (c % groups !== 0) throw new ConfigError(`${where}: ${c} channels are not divisible by normGroups ${groups}`);
  }
  mult.forEach((m, i) => {
    if (!rates.includes(2 ** i) && i !== mult.length - 1) return; // the middle block always attends
    const c = m * mc;
    const h = headCh ?? heads!;
    if (c % h !== 0) {
      throw new ConfigError(
        `${where}: level ${i} has ${c} channels, not divisible by ${headCh !== undefined ? 'numHeadChannels' : 'numHeads'} ${h}`,
      );
    }
  });
  return o as unknown as UNetConfig;
}

export function validateAutoencoderConfig(cfg: unknown, where = 'autoencoder'): AutoencoderConfig {
  const o = requireObject(cfg, where);
  if (o.kind !== 'kl' && o.kind !== 'vq') {
    throw new ConfigError(`${where}.kind must be "kl" or "vq", got ${JSON.stringify(o.kind)}`);
  }
  for (const k of ['ch', 'numResBlocks', 'resolution', 'inChannels', 'outCh', 'zChannels', 'embedDim']) requirePosInt(o, k, where);
  const mult = requirePosIntList(o, 'chMult', where, false);
  requirePosIntList(o, 'attnResolutions', where, true);
  const groups = optionalPosInt(o, 'normGroups', where) ?? 32;
  for (const m of [1, ...mult]) {
    const c = m * (o.ch as number);
    if (c % groups !== 0) throw new ConfigError(`${where}: ${c} channels are not divisible by normGroups ${groups}`);
  }
  if (o.kind === 'vq') {
    requirePosInt(o, 'nEmbed', where);
    if (o.beta !== undefined && !(typeof o.beta === 'number' && o.beta >= 0)) {
      throw new ConfigError(`${where}.beta must be a non-negative number, got ${JSON.stringify(o.beta)}`);
    }
  }
  const f = 2 ** (mult.length - 1);
  if ((o.resolution as number) % f !== 0) {
    throw new ConfigError(`${where}.resolution ${o.resolution} is not divisible by the downsampling factor ${f}`);
  }
  return o as unknown as AutoencoderConfig;
}

export function validateTextEncoderConfig(cfg: unknown, where = 'textEncoder'): TextEncoderConfig {
  const o = requireObject(cfg, where);
  for (const k of ['vocabSize', 'maxLength', 'width', 'layers', 'heads', 'mlpWidth']) requirePosInt(o, k, where);
  if (o.activation !== 'gelu' && o.activation !== 'quick_gelu') {
    throw new ConfigError(`${where}.activation must be "gelu" or "quick_gelu", got ${JSON.stringify(o.activation)}`);
  }
  if (typeof o.causal !== 'boolean') throw new ConfigError(`${where}.causal must be true or false, got ${JSON.stringify(o.causal)}`);
  if ((o.width as number) % (o.heads as number) !== 0) {
    throw new ConfigError(`${where}.width ${o.width} is not divisible by heads ${o.heads}`);
  }
  if (o.eps !== undefined && !(typeof o.eps === 'number' && o.eps > 0)) {
    throw new ConfigError(`${where}.eps must be a positive number, got ${JSON.stringify(o.eps)}`);
  }
  return o as unknown as TextEncoderConfig;
}

export function validateClassEmbedderConfig(cfg: unknown, where = 'classEmbedder'): ClassEmbedderConfig {
  const o = requireObject(cfg, where);
  requirePosInt(o, 'nClasses', where);
  requirePosInt(o, 'embedDim', where);
  return o as unknown as ClassEmbedderConfig;
}

/** Downsampling factor f of an autoencoder: image H×W → latent H/f × W/f. */
export function autoencoderFactor(cfg: AutoencoderConfig): number {
  return 2 ** (cfg.chMult.length - 1);
}

// configs/stable-diffusion/v1-inference.yaml
export const SD_V1_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 320,
  channelMult: [1, 2, 4, 4],
  numResBlocks: 2,
  attentionResolutions: [4, 2, 1],
  numHeads: 8,
  transformerDepth: 1,
  contextDim: 768,
};

export const SD_V1_AUTOENCODER: AutoencoderConfig = {
  kind: 'kl',
  ch: 128,
  chMult: [1, 2, 4, 4],
  numResBlocks: 2,
  attnResolutions: [],
  resolution: 256,
  inChannels: 3,
  outCh: 3,
  zChannels: 4,
  embedDim: 4,
};

// CLIP ViT-L/14 text tower as used by SD v1 (openai/clip-vit-large-patch14 config).
export const SD_V1_TEXT_ENCODER: TextEncoderConfig = {
  vocabSize: 49408,
  maxLength: 77,
  width: 768,
  layers: 12,
  heads: 12,
  mlpWidth: 3072,
  activation: 'quick_gelu',
  causal: true,
};

export const SD_V1_SCALE_FACTOR = 0.18215;
