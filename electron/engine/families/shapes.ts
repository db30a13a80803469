// Architecture configs read from the tensor names and shapes of a CompVis-named checkpoint (LDM, SD 1.x,
// SD 2.x). Only what the shapes determine is inferred; what they cannot tell (the head split, GroupNorm
// groups) comes from the family, and a checkpoint that contradicts the family is refused.
import type { Shape } from '../tensor.ts';
import {
  type AutoencoderConfig,
  ConfigError,
  type TextEncoderConfig,
  type TextActivation,
  type UNetConfig,
  validateAutoencoderConfig,
  validateTextEncoderConfig,
  validateUNetConfig,
} from '../nn/config.ts';

/** Shape of a tensor by its CompVis name (the family maps EMA or other layouts onto these names). */
export type Lookup = (name: string) => Shape | undefined;

export function lookupOf(shapes: ReadonlyMap<string, Shape>): Lookup {
  return (n) => shapes.get(n);
}

/** Builds the error a caller throws for a shape that is missing or does not fit (its class and prefix). */
export type Fail = (message: string) => Error;

const checkpointFail: Fail = (message) => new ConfigError(`checkpoint: ${message}`);

export function need(get: Lookup, name: string, what: string, fail: Fail = checkpointFail): Shape {
  const s = get(name);
  if (!s) throw fail(`${name} is missing, so the ${what} cannot be inferred`);
  return s;
}

/** A CompVis UNet's level structure: its ResBlocks per level, and the first block of each level. */
export interface UNetLevels {
  readonly conv0: Shape;
  readonly outChannels: number;
  readonly modelChannels: number;
  readonly numResBlocks: number;
  readonly channelMult: number[];
  /** input_blocks index of each level's first ResBlock (its attention, if any, is at `${block}.1`). */
  readonly firstBlocks: number[];
}

export function inferUNetLevels(get: Lookup, p: (n: string) => string, fail: Fail = checkpointFail): UNetLevels {
  const conv0 = need(get, p('input_blocks.0.0.weight'), 'UNet', fail);
  const mc = conv0[0]!;
  const outChannels = need(get, p('out.2.weight'), 'UNet', fail)[0]!;
  let nrb = 0;
  while (get(p(`input_blocks.${nrb + 1}.0.in_layers.0.weight`)) && !get(p(`input_blocks.${nrb + 1}.0.op.weight`))) nrb++;
  if (nrb < 1) throw fail('the UNet has no ResBlock in input_blocks.1');
  let levels = 1;
  while (get(p(`input_blocks.${levels * (nrb + 1)}.0.op.weight`))) levels++;
  const channelMult: number[] = [];
  const firstBlocks: number[] = [];
  for (let i = 0; i < levels; i++) {
    const block = 1 + i * (nrb + 1);
    firstBlocks.push(block);
    channelMult.push(need(get, p(`input_blocks.${block}.0.out_layers.3.weight`), 'UNet channel multipliers', fail)[0]! / mc);
  }
  return { conv0, outChannels, modelChannels: mc, numResBlocks: nrb, channelMult, firstBlocks };
}

/** What the caller read of a UNet's attention (heads, depth, context, projection or legacy blocks). */
export type UNetAttention = Omit<UNetConfig, 'inChannels' | 'outChannels' | 'modelChannels' | 'channelMult' | 'numResBlocks' | 'numClasses'>;

/** The UNet's config from its levels and attention, with numClasses from label_emb, validated (`invalid` words the error). */
export function validatedUNetConfig(get: Lookup, p: (n: string) => string, levels: UNetLevels, attention: UNetAttention, invalid: Fail): UNetConfig {
  const { conv0, outChannels, modelChannels, channelMult, numResBlocks } = levels;
  const cfg: UNetConfig = { inChannels: conv0[1]!, outChannels, modelChannels, channelMult, numResBlocks, ...attention };
  const label = get(p('label_emb.weight'));
  if (label) cfg.numClasses = label[0]!;
  try {
    return validateUNetConfig(cfg, 'inferred unet');
  } catch (err) {
    throw invalid((err as Error).message);
  }
}

/** All a CompVis autoencoder's shapes tell but its latent width (each layout reads that from its own tensor). */
export type AutoencoderShape = Omit<AutoencoderConfig, 'kind' | 'embedDim' | 'nEmbed' | 'beta'> & { readonly codebook: Shape | undefined };

export function inferAutoencoderShape(get: Lookup, p: (n: string) => string, fail: Fail = checkpointFail): AutoencoderShape {
  const convIn = need(get, p('encoder.conv_in.weight'), 'autoencoder', fail);
  const ch = convIn[0]!;
  let levels = 0;
  while (get(p(`encoder.down.${levels}.block.0.conv1.weight`))) levels++;
  let nrb = 0;
  while (get(p(`encoder.down.0.block.${nrb}.conv1.weight`))) nrb++;
  if (levels === 0) throw fail(`${p('encoder.down.0.block.0.conv1.weight')} is missing, so the autoencoder cannot be inferred`);
  const resolution = 256; // the releases' ddconfig; only the attention levels depend on it
  const chMult: number[] = [];
  const attnResolutions: number[] = [];
  for (let i = 0; i < levels; i++) {
    chMult.push(need(get, p(`encoder.down.${i}.block.${nrb - 1}.conv2.weight`), 'autoencoder channel multipliers', fail)[0]! / ch);
    if (get(p(`encoder.down.${i}.attn.0.q.weight`))) attnResolutions.push(resolution / 2 ** i);
  }
  const codebook = get(p('quantize.embedding.weight'));
  const zOut = need(get, p('encoder.conv_out.weight'), 'autoencoder', fail)[0]!;
  return {
    ch,
    chMult,
    numResBlocks: nrb,
    attnResolutions,
    resolution,
    inChannels: convIn[1]!,
    outCh: need(get, p('decoder.conv_out.weight'), 'autoencoder', fail)[0]!,
    zChannels: codebook ? zOut : zOut / 2,
    codebook,
  };
}

/** How the family splits attention channels into heads (the shapes cannot tell). */
export type HeadRule = { numHeads: number } | { numHeadChannels: number };

/**
 * `conditioned`: the family knows the UNet cross-attends to a context (SD: text); otherwise a square
 * attn2.to_k of a class-free UNet is read as self-attention (LDM's context-free UNets).
 */
export function inferUNetConfig(get: Lookup, prefix: string, heads: HeadRule, conditioned = false): UNetConfig {
  const p = (n: string) => `${prefix}.${n}`;
  const levels = inferUNetLevels(get, p);
  const attentionResolutions: number[] = [];
  let linear: boolean | undefined;
  levels.firstBlocks.forEach((block, i) => {
    const projIn = get(p(`input_blocks.${block}.1.proj_in.weight`));
    if (projIn) {
      linear = projIn.length === 2;
      attentionResolutions.unshift(2 ** i); // descending, as the LDM configs list them
    }
  });
  const mid = p('middle_block.1');
  const midProj = need(get, `${mid}.proj_in.weight`, 'UNet middle transformer');
  linear ??= midProj.length === 2;
  let depth = 0;
  while (get(`${mid}.transformer_blocks.${depth}.norm1.weight`)) depth++;
  const inner = midProj[0]!;
  const toK = need(get, `${mid}.transformer_blocks.0.attn2.to_k.weight`, 'UNet context width');
  const rule = 'numHeads' in heads ? `${heads.numHeads} heads` : `${heads.numHeadChannels} channels per head`;
  const attention: UNetAttention = {
    attentionResolutions,
    ...heads,
    transformerDepth: Math.max(depth, 1),
    // attn2 of a UNet without context attends to its own features (to_k square); with a context it
    // reads contextDim-wide tokens.
    contextDim: !conditioned && toK[1] === inner && !get(p('label_emb.weight')) ? null : toK[1]!,
    ...(linear ? { linearProjection: true } : {}),
  };
  return validatedUNetConfig(get, p, levels, attention, (m) => new ConfigError(`the UNet's shapes do not fit this family's ${rule}: ${m}`));
}

export function inferAutoencoderConfig(get: Lookup, prefix: string): AutoencoderConfig {
  const p = (n: string) => `${prefix}.${n}`;
  const { codebook, ...shape } = inferAutoencoderShape(get, p);
  const quant = need(get, p('quant_conv.weight'), 'autoencoder')[0]!;
  const cfg: AutoencoderConfig = {
    kind: codebook ? 'vq' : 'kl',
    ...shape,
    embedDim: codebook ? quant : quant / 2,
    ...(codebook ? { nEmbed: codebook[0]! } : {}),
  };
  return validateAutoencoderConfig(cfg, 'inferred autoencoder');
}

export interface TextTowerFacts {
  /** CLIP towers split their width into 64-channel heads. */
  readonly headChannels: number;
  readonly activation: TextActivation;
  /** Layers run before the final LayerNorm (SD 2.x: all but the last, "penultimate"). */
  readonly dropLastLayers: number;
}

/** A CLIP text transformer under HF CLIPTextModel names (`prefix` = …text_model). */
export function inferTextEncoderConfig(get: Lookup, prefix: string, facts: TextTowerFacts): TextEncoderConfig {
  const tok = need(get, `${prefix}.embeddings.token_embedding.weight`, 'text encoder');
  const pos = need(get, `${prefix}.embeddings.position_embedding.weight`, 'text encoder');
  const fc1 = need(get, `${prefix}.encoder.layers.0.mlp.fc1.weight`, 'text encoder');
  const width = tok[1]!;
  let layers = 0;
  while (get(`${prefix}.encoder.layers.${layers}.layer_norm1.weight`)) layers++;
  if (width % facts.headChannels !== 0) {
    throw new ConfigError(`the text encoder is ${width} wide, not a multiple of CLIP's ${facts.headChannels}-channel heads`);
  }
  if (layers <= facts.dropLastLayers) throw new ConfigError(`the text encoder has only ${layers} layers`);
  const cfg: TextEncoderConfig = {
    vocabSize: tok[0]!,
    maxLength: pos[0]!,
    width,
    layers: layers - facts.dropLastLayers,
    heads: width / facts.headChannels,
    mlpWidth: fc1[0]!,
    activation: facts.activation,
    causal: true,
  };
  return validateTextEncoderConfig(cfg, 'inferred textEncoder');
}
