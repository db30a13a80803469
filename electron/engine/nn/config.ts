// Architecture configurations of the models (camelCase versions of the LDM yaml keys) and their
// validation. A config is plain JSON: it is stored as-is in a model package's model.json.
import { z } from 'zod';
import { addProblem, boolean, firstProblem, positiveInt, positiveIntList, positiveNumber, record, whenFieldsValid } from '../schema.ts';

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

export function unetHeads(cfg: UNetConfig, channels: number): { heads: number; headDim: number } {
  if (cfg.numHeadChannels !== undefined) {
    return { heads: channels / cfg.numHeadChannels, headDim: cfg.numHeadChannels };
  }
  const heads = cfg.numHeads!;
  return { heads, headDim: channels / heads };
}

// One schema per network. Field errors come first, in the order the fields are listed; the cross-field
// checks (channel splits, rates) run once the fields are valid.

const optionalPositiveInt = positiveInt.nullish();

const unetSchema = record({
  inChannels: positiveInt,
  outChannels: positiveInt,
  modelChannels: positiveInt,
  numResBlocks: positiveInt,
  transformerDepth: positiveInt,
  channelMult: positiveIntList(true),
  attentionResolutions: positiveIntList(false),
  normGroups: optionalPositiveInt,
  numHeads: optionalPositiveInt,
  numHeadChannels: optionalPositiveInt,
  contextDim: optionalPositiveInt,
  numClasses: optionalPositiveInt,
  linearProjection: boolean.optional(),
}).superRefine((o, ctx) => {
  const problem = (message: string, field?: string) => addProblem(ctx, message, field);
  const heads = o.numHeads ?? undefined;
  const headCh = o.numHeadChannels ?? undefined;
  if ((heads === undefined) === (headCh === undefined)) return problem('give exactly one of numHeads or numHeadChannels');
  const { modelChannels: mc, channelMult: mult, attentionResolutions: rates } = o;
  const groups = o.normGroups ?? 32;
  const validRates = new Set(mult.map((_, i) => 2 ** i));
  const badRate = rates.find((r) => !validRates.has(r));
  if (badRate !== undefined) return problem(`rate ${badRate} is not one of the UNet's rates ${[...validRates].join(', ')}`, 'attentionResolutions');
  const badGroups = [mc, ...mult.map((m) => m * mc)].find((c) => c % groups !== 0);
  if (badGroups !== undefined) return problem(`${badGroups} channels are not divisible by normGroups ${groups}`);
  mult.forEach((m, i) => {
    if (!rates.includes(2 ** i) && i !== mult.length - 1) return; // the middle block always attends
    const c = m * mc;
    const h = headCh ?? heads!;
    if (c % h !== 0) problem(`level ${i} has ${c} channels, not divisible by ${headCh !== undefined ? 'numHeadChannels' : 'numHeads'} ${h}`);
  });
}, whenFieldsValid);

const autoencoderSchema = record({
  kind: z.enum(['kl', 'vq'], { error: '"kl" or "vq"' }),
  ch: positiveInt,
  numResBlocks: positiveInt,
  resolution: positiveInt,
  inChannels: positiveInt,
  outCh: positiveInt,
  zChannels: positiveInt,
  embedDim: positiveInt,
  chMult: positiveIntList(true),
  attnResolutions: positiveIntList(false),
  normGroups: optionalPositiveInt,
  nEmbed: positiveInt.optional(),
  beta: z.number({ error: 'a non-negative number' }).min(0, { error: 'a non-negative number' }).optional(),
}).superRefine((o, ctx) => {
  const problem = (message: string, field?: string) => addProblem(ctx, message, field);
  const groups = o.normGroups ?? 32;
  const badGroups = [1, ...o.chMult].map((m) => m * o.ch).find((c) => c % groups !== 0);
  if (badGroups !== undefined) return problem(`${badGroups} channels are not divisible by normGroups ${groups}`);
  if (o.kind === 'vq' && o.nEmbed === undefined) return problem('a "vq" autoencoder needs its codebook size, a positive integer', 'nEmbed');
  const f = 2 ** (o.chMult.length - 1);
  if (o.resolution % f !== 0) problem(`${o.resolution} is not divisible by the downsampling factor ${f}`, 'resolution');
}, whenFieldsValid);

const textEncoderSchema = record({
  vocabSize: positiveInt,
  maxLength: positiveInt,
  width: positiveInt,
  layers: positiveInt,
  heads: positiveInt,
  mlpWidth: positiveInt,
  activation: z.enum(['gelu', 'quick_gelu'], { error: '"gelu" or "quick_gelu"' }),
  causal: boolean,
  eps: positiveNumber.optional(),
}).superRefine((o, ctx) => {
  if (o.width % o.heads !== 0) addProblem(ctx, `width ${o.width} is not divisible by heads ${o.heads}`);
}, whenFieldsValid);

const classEmbedderSchema = record({ nClasses: positiveInt, embedDim: positiveInt });

/** The schemas of model.json's architecture section (io/model-package.ts nests them). */
export const CONFIG_SCHEMAS = { unet: unetSchema, autoencoder: autoencoderSchema, textEncoder: textEncoderSchema, classEmbedder: classEmbedderSchema };

function validated<T>(schema: z.ZodType, cfg: unknown, where: string): T {
  const problem = firstProblem(schema, cfg, where);
  if (problem) throw new ConfigError(problem);
  return cfg as T; // the config as given: unknown keys are kept, nothing is copied
}

export function validateUNetConfig(cfg: unknown, where = 'unet'): UNetConfig {
  return validated(unetSchema, cfg, where);
}

export function validateAutoencoderConfig(cfg: unknown, where = 'autoencoder'): AutoencoderConfig {
  return validated(autoencoderSchema, cfg, where);
}

export function validateTextEncoderConfig(cfg: unknown, where = 'textEncoder'): TextEncoderConfig {
  return validated(textEncoderSchema, cfg, where);
}

export function validateClassEmbedderConfig(cfg: unknown, where = 'classEmbedder'): ClassEmbedderConfig {
  return validated(classEmbedderSchema, cfg, where);
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
