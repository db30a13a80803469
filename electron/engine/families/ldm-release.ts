// The paper's released models (CompVis latent-diffusion: models/first_stage_models/* and models/ldm/*),
// recognised from their tensor names and shapes, configs inferred from the shapes (or read from the
// release's yaml when it lies beside the file), with a clear message for every release we cannot run.
//
// Layouts (ldm/models/autoencoder.py, ldm/models/diffusion/ddpm.py):
// - first stages alone: encoder.*, decoder.*, quant_conv, post_quant_conv, quantize.embedding.weight (VQ)
//   and the training loss (loss.*: LPIPS + discriminator, left out);
// - LDMs: model.diffusion_model.* (UNet), first_stage_model.*, cond_stage_model.* (class embedder or
//   the BERT-like τθ), model_ema.* (EMA copy, names without dots, + num_updates/decay), and the DDPM
//   buffers (betas, alphas_cumprod, …) from which the noise schedule is read.
import type { AutoencoderConfig, ClassEmbedderConfig, UNetConfig } from '../nn/config.ts';
import { autoencoderFactor, ConfigError, validateAutoencoderConfig } from '../nn/config.ts';
import type { LdmBertConfig } from '../nn/ldm-bert.ts';
import type { Shape } from '../tensor.ts';
import { type Fail, type Lookup, type UNetAttention, inferAutoencoderShape, inferUNetLevels, need as needShape, validatedUNetConfig } from './shapes.ts';

export class LdmReleaseError extends Error {
  override name = 'LdmReleaseError';
}

export type LdmTask = 'autoencoder' | 'unconditional' | 'class-conditional' | 'text-to-image' | 'super-resolution' | 'inpainting';

export interface LdmRelease {
  /** The CompVis name this file matches best, e.g. 'vq-f4', 'cin256-v2', 'bsr_sr'. */
  readonly release: string;
  /** One line for the user. */
  readonly label: string;
  readonly task: LdmTask;
  readonly autoencoder: AutoencoderConfig;
  /** '' for a first stage on its own (its names have no prefix), else 'first_stage_model'. */
  readonly autoencoderPrefix: '' | 'first_stage_model';
  readonly unet: UNetConfig | null;
  readonly classEmbedder: ClassEmbedderConfig | null;
  /** Text-to-image: the BERT-style τθ (tokenized with bert-base-uncased WordPiece). */
  readonly bert: LdmBertConfig | null;
  /** The class index that means "no class" (cin256-v2 has 1001 classes: 1000 is the unconditional one). */
  readonly unconditionalClass: number | null;
  /** Class-conditional: the class names from the yaml's class_names (absent: ImageNet's, for cin256). */
  readonly classNames?: readonly string[];
  /** The picture side the model was trained at (the yaml's image_size × the first stage's factor), when the yaml says. */
  readonly imageSide?: number;
  /** Super-resolution: the strength "Upscale ×4" starts from when the job names none (the yaml's upscale_strength; absent: 1, from noise). */
  readonly upscaleStrength?: number;
  /** Super-resolution: rounds of back-projection onto the input by default (the yaml's upscale_back_projection; absent: 0). */
  readonly upscaleBackProjection?: number;
  /** Channels the UNet takes besides the latents (super-resolution: the low-res image; inpainting: masked image + mask). */
  readonly concatChannels: number;
  readonly scaleFactor: number;
  /** Facts taken from outside the shapes, and what was left out, one line each. */
  readonly notes: string[];
}

export const UNET = 'model.diffusion_model';
export const FIRST_STAGE = 'first_stage_model';

/** Settings the shapes cannot tell, from the paper's yaml when it lies beside the file. */
export interface ReleaseYaml {
  scaleFactor?: number;
  numHeads?: number;
  numHeadChannels?: number;
  linearStart?: number;
  linearEnd?: number;
  /** The latent side the model was trained at (image_size). */
  imageSize?: number;
  /**
   * GroupNorm groups of the UNet and the first stage (norm_num_groups, as diffusers names it). Not a
   * CompVis key: its Normalize is always 32 groups; this project's own models (16 groups) write it.
   */
  normGroups?: number;
  /** Super-resolution: the default upscale strength (upscale_strength, in (0, 1]; not a CompVis key: this project's SR model writes it). */
  upscaleStrength?: number;
  /** Super-resolution: default rounds of back-projection onto the input (upscale_back_projection, 0–10; not a CompVis key). */
  upscaleBackProjection?: number;
  /** A class-conditional model's class names (class_names: a one-line list of quoted strings; not a CompVis key). */
  classNames?: string[];
}

/** The few scalar keys of a CompVis config we use (a flat read: the configs nest them under unique names). */
export function readReleaseYaml(text: string): ReleaseYaml {
  const num = (key: string): number | undefined => {
    const m = new RegExp(`^\\s*${key}:\\s*([-+0-9.eE]+)\\s*(#.*)?$`, 'm').exec(text);
    if (!m) return undefined;
    const v = Number(m[1]);
    return Number.isFinite(v) ? v : undefined;
  };
  const out: ReleaseYaml = {};
  const set = (k: 'scaleFactor' | 'linearStart' | 'linearEnd', v: number | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('scaleFactor', num('scale_factor'));
  const heads = num('num_heads');
  if (heads !== undefined && heads > 0) out.numHeads = heads;
  const headCh = num('num_head_channels');
  if (headCh !== undefined && headCh > 0) out.numHeadChannels = headCh;
  set('linearStart', num('linear_start'));
  set('linearEnd', num('linear_end'));
  const size = num('image_size');
  if (size !== undefined && Number.isInteger(size) && size > 0) out.imageSize = size;
  const groups = num('norm_num_groups');
  if (groups !== undefined && Number.isInteger(groups) && groups > 0) out.normGroups = groups;
  const strength = num('upscale_strength');
  if (strength !== undefined && strength > 0 && strength <= 1) out.upscaleStrength = strength;
  const rounds = num('upscale_back_projection');
  if (rounds !== undefined && Number.isInteger(rounds) && rounds >= 0 && rounds <= 10) out.upscaleBackProjection = rounds;
  const names = /^\s*class_names:\s*(\[.*\])\s*$/m.exec(text);
  if (names) {
    let list: unknown;
    try {
      list = JSON.parse(names[1]!);
    } catch {
      throw new LdmReleaseError('the yaml\'s class_names must be a one-line list of quoted names, e.g. class_names: ["face-smiling", "animal-mammal"]');
    }
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x.trim() !== '') || new Set(list).size !== list.length) {
      throw new LdmReleaseError('the yaml\'s class_names must list distinct, non-empty names');
    }
    out.classNames = list as string[];
  }
  return out;
}

type Get = Lookup;

const releaseFail: Fail = (message) => new LdmReleaseError(message);

function need(get: Get, name: string, what: string): Shape {
  return needShape(get, name, what, releaseFail);
}

/** A CompVis autoencoder under `prefix` ('' for a first stage on its own). */
export function inferFirstStage(get: Get, prefix: string): { cfg: AutoencoderConfig; notes: string[] } {
  const p = (n: string) => (prefix ? `${prefix}.${n}` : n);
  const { codebook, ...shape } = inferAutoencoderShape(get, p, releaseFail);
  if (!get(p('encoder.mid.attn_1.q.weight'))) {
    throw new LdmReleaseError('an autoencoder without middle attention (vq-f4-noattn, attn_type "none") is not supported yet');
  }
  const embedDim = need(get, p('post_quant_conv.weight'), 'autoencoder')[1]!;
  const cfg: AutoencoderConfig = {
    kind: codebook ? 'vq' : 'kl',
    ...shape,
    embedDim,
    ...(codebook ? { nEmbed: codebook[0]!, beta: 0.25 } : {}),
  };
  if (codebook && codebook[1] !== embedDim) throw new LdmReleaseError(`the codebook is ${codebook[1]} wide but the latents have ${embedDim} channels`);
  try {
    return { cfg: validateAutoencoderConfig(cfg, 'inferred autoencoder'), notes: [] };
  } catch (err) {
    throw new LdmReleaseError((err as ConfigError).message);
  }
}

/** x-transformers' default head width, which the released τθ keeps (8 heads of 64). */
const X_TRANSFORMERS_DIM_HEAD = 64;
const BERT = 'cond_stage_model.transformer';

function inferBert(get: Get): LdmBertConfig {
  const tok = need(get, `${BERT}.token_emb.weight`, 'text encoder');
  const pos = need(get, `${BERT}.pos_emb.emb.weight`, 'text encoder');
  let layers = 0;
  while (get(`${BERT}.attn_layers.layers.${2 * layers}.1.to_q.weight`)) layers++;
  if (layers === 0) throw new LdmReleaseError(`${BERT}.attn_layers.layers.0.1.to_q.weight is missing, so the text encoder cannot be inferred`);
  const inner = need(get, `${BERT}.attn_layers.layers.0.1.to_q.weight`, 'text encoder')[0]!;
  if (inner % X_TRANSFORMERS_DIM_HEAD !== 0) throw new LdmReleaseError(`the text encoder's attention is ${inner} wide, not a whole number of 64-channel heads`);
  const ff = need(get, `${BERT}.attn_layers.layers.1.1.net.0.0.weight`, 'text encoder feed-forward')[0]!;
  return {
    vocabSize: tok[0]!,
    maxLength: pos[0]!,
    width: tok[1]!,
    layers,
    heads: inner / X_TRANSFORMERS_DIM_HEAD,
    headDim: X_TRANSFORMERS_DIM_HEAD,
    ffMult: ff / tok[1]!,
  };
}

/** The released autoencoders' CompVis names, by kind, factor, latent channels and codebook size. */
function firstStageName(cfg: AutoencoderConfig): string {
  const f = 2 ** (cfg.chMult.length - 1);
  if (cfg.kind === 'kl') return `kl-f${f}`;
  if (f === 8 && cfg.nEmbed === 256) return 'vq-f8-n256';
  return `vq-f${f}`;
}

function inferUNet(get: Get, yaml: ReleaseYaml, notes: string[], defaultHeads: { numHeads: number } | { numHeadChannels: number }): UNetConfig {
  const p = (n: string) => `${UNET}.${n}`;
  const levels = inferUNetLevels(get, p, releaseFail);
  const attentionResolutions: number[] = [];
  let legacy = false;
  levels.firstBlocks.forEach((block, i) => {
    if (get(p(`input_blocks.${block}.1.proj_in.weight`))) attentionResolutions.unshift(2 ** i);
    else if (get(p(`input_blocks.${block}.1.qkv.weight`))) {
      legacy = true;
      attentionResolutions.unshift(2 ** i);
    }
  });
  if (get(p('middle_block.1.qkv.weight'))) legacy = true;
  let depth = 0;
  let contextDim: number | null = null;
  if (!legacy) {
    const mid = p('middle_block.1');
    need(get, `${mid}.proj_in.weight`, 'UNet middle transformer');
    while (get(`${mid}.transformer_blocks.${depth}.norm1.weight`)) depth++;
    const toK = need(get, `${mid}.transformer_blocks.0.attn2.to_k.weight`, 'UNet context width');
    const inner = need(get, `${mid}.proj_in.weight`, 'UNet')[0]!;
    contextDim = get('cond_stage_model.embedding.weight') || get('cond_stage_model.transformer.token_emb.weight') || toK[1] !== inner ? toK[1]! : null;
  }
  let heads: { numHeads: number } | { numHeadChannels: number } = defaultHeads;
  if (yaml.numHeadChannels) heads = { numHeadChannels: yaml.numHeadChannels };
  else if (yaml.numHeads) heads = { numHeads: yaml.numHeads };
  else notes.push(`attention heads assumed (${'numHeads' in heads ? `${heads.numHeads} heads` : `${heads.numHeadChannels} channels per head`}, the release's config); a yaml beside the file overrides it`);
  const attention: UNetAttention = {
    attentionResolutions,
    ...heads,
    transformerDepth: Math.max(depth, 1),
    contextDim,
    ...(legacy ? { legacyAttention: true } : {}),
    ...(yaml.normGroups ? { normGroups: yaml.normGroups } : {}),
  };
  return validatedUNetConfig(get, p, levels, attention, (m) => new LdmReleaseError(`the UNet's shapes do not fit: ${m}`));
}

/**
 * What a file of the paper's releases is, from its tensor shapes (names as in the file, any prefix).
 * Throws LdmReleaseError naming what was detected when it is a release we cannot run, or not one at all.
 */
export function recogniseLdmRelease(shapes: ReadonlyMap<string, Shape>, yaml: ReleaseYaml = {}): LdmRelease {
  const get: Get = (n) => shapes.get(n);
  const names = [...shapes.keys()];
  const notes: string[] = [];
  const count = (prefix: string) => names.filter((n) => n.startsWith(prefix)).length;

  if (!get(`${UNET}.input_blocks.0.0.weight`) && get('model_ema.diffusion_modelinput_blocks00weight')) {
    throw new LdmReleaseError('the UNet is only in the file as its EMA copy (model_ema.*, names without dots): re-save the model with its own weights (model.diffusion_model.*)');
  }
  // A first stage on its own.
  if (!get(`${UNET}.input_blocks.0.0.weight`)) {
    if (!get('encoder.conv_in.weight') && !get(`${FIRST_STAGE}.encoder.conv_in.weight`)) {
      throw new LdmReleaseError(`none of the paper's layouts: no ${UNET}.* UNet and no encoder.*/decoder.* autoencoder among ${names.length} tensors`);
    }
    const prefix = get('encoder.conv_in.weight') ? '' : FIRST_STAGE;
    const { cfg } = inferFirstStage(get, prefix);
    const loss = count('loss.');
    if (loss) notes.push(`left out the training loss (${loss} tensors under loss.*: LPIPS and discriminator)`);
    const release = firstStageName(cfg);
    const f = 2 ** (cfg.chMult.length - 1);
    return {
      release,
      label: `${cfg.kind === 'vq' ? `VQ autoencoder (${cfg.nEmbed}-entry codebook)` : 'KL autoencoder'}, f=${f}, ${cfg.embedDim} latent channels (${release})`,
      task: 'autoencoder',
      autoencoder: cfg,
      autoencoderPrefix: prefix as '' | 'first_stage_model',
      unet: null,
      classEmbedder: null,
      bert: null,
      unconditionalClass: null,
      concatChannels: 0,
      scaleFactor: yaml.scaleFactor ?? 1,
      notes,
    };
  }

  if (!get(`${FIRST_STAGE}.encoder.conv_in.weight`)) {
    throw new LdmReleaseError(`an LDM UNet (${UNET}.*) without its first stage (${FIRST_STAGE}.*): the file holds only part of the model`);
  }
  const inferred = inferFirstStage(get, FIRST_STAGE).cfg;
  const ae = yaml.normGroups ? { ...inferred, normGroups: yaml.normGroups } : inferred;
  const aeName = firstStageName(ae);
  const bert = get('cond_stage_model.transformer.token_emb.weight');
  const classEmb = get('cond_stage_model.embedding.weight');
  const clip = names.some((n) => n.startsWith('cond_stage_model.transformer.text_model.') || n.startsWith('cond_stage_model.model.'));
  if (clip) throw new LdmReleaseError('a Stable Diffusion checkpoint (CLIP text encoder under cond_stage_model), not one of the paper\'s LDM releases');
  const unetIn = need(get, `${UNET}.input_blocks.0.0.weight`, 'UNet')[1]!;
  const latent = ae.embedDim;
  const concat = unetIn - latent;
  const ema = count('model_ema.');
  if (ema) notes.push(`an EMA copy is in the file (${ema} tensors under model_ema.*, with num_updates): the model's own weights are used, as the paper's scripts do (the runner's ema option takes the copy)`);
  const cond = count('cond_stage_model.');

  let task: LdmTask;
  let release: string;
  let label: string;
  let heads: { numHeads: number } | { numHeadChannels: number } = { numHeadChannels: 32 };
  let classEmbedder: ClassEmbedderConfig | null = null;
  let bertCfg: LdmBertConfig | null = null;
  let unconditionalClass: number | null = null;
  let scale = 1;
  if (bert && (bert[0] !== 30522 || get(`${BERT}.pos_emb.emb.weight`)?.[0] !== 77)) {
    throw new LdmReleaseError(
      `a layout-to-image LDM (layout2img-openimages256 style: a BERT-style τθ over ${bert[0]} layout tokens, not bert-base-uncased text), ${aeName} first stage: not supported`,
    );
  } else if (get('cond_stage_model.channel_mapper.weight')) {
    throw new LdmReleaseError(`a semantic-synthesis LDM (segmentation maps through a SpatialRescaler, cond_stage_model.channel_mapper), ${aeName} first stage: not supported`);
  } else if (bert) {
    task = 'text-to-image';
    bertCfg = inferBert(get);
    release = 'txt2img-f8-large';
    label = `LDM-KL-8-G text-to-image (txt2img-f8-large: ${bertCfg.layers}-layer, ${bertCfg.width}-wide BERT-style τθ, bert-base-uncased WordPiece), ${aeName} first stage`;
    heads = { numHeads: 8 };
    if (yaml.scaleFactor === undefined && !shapes.has('scale_factor')) {
      scale = 0.18215;
      notes.push('scale factor 0.18215 (the release\'s config); a yaml beside the file overrides it');
    }
  } else if (classEmb) {
    task = 'class-conditional';
    classEmbedder = { nClasses: classEmb[0]!, embedDim: classEmb[1]! };
    const named = yaml.classNames?.length;
    if (named !== undefined && named !== classEmb[0]! && named !== classEmb[0]! - 1) {
      throw new LdmReleaseError(`the yaml names ${named} classes but the class embedding has ${classEmb[0]} rows (one per class, and optionally a last "no class" row)`);
    }
    // the "no class" row: cin256-v2's class 1000, or the last row when the yaml names one class fewer
    unconditionalClass = named !== undefined ? (named === classEmb[0]! - 1 ? named : null) : classEmb[0]! === 1001 ? 1000 : null;
    release = named !== undefined ? 'class-conditional LDM' : classEmb[0]! === 1001 ? 'cin256-v2' : classEmb[0]! === 1000 ? 'cin256' : 'class-conditional LDM';
    const classes = named ?? classEmb[0]!;
    label = `class-conditional LDM (${classes} classes${unconditionalClass !== null ? `, class ${unconditionalClass} = none, for guidance` : ''}), ${aeName} first stage`;
  } else if (cond > 0) {
    const first = names.find((n) => n.startsWith('cond_stage_model.'))!;
    throw new LdmReleaseError(`an LDM with a conditioning model we do not know (${cond} tensors under cond_stage_model, e.g. ${first}); ${aeName} first stage`);
  } else if (concat === 0) {
    task = 'unconditional';
    release = `unconditional LDM (${aeName})`;
    label = `unconditional LDM (CelebA-HQ/FFHQ/LSUN style), ${aeName} first stage`;
  } else if (concat === 3) {
    // the low-res RGB picture at latent size, whatever the first stage (bsr_sr: VQ-f4; a KL-f4 one alike)
    task = 'super-resolution';
    release = ae.kind === 'vq' && latent === 3 ? 'bsr_sr' : 'super-resolution LDM';
    label = `super-resolution ×${autoencoderFactor(ae)} LDM (${release === 'bsr_sr' ? 'bsr_sr: ' : ''}low-res image concatenated), ${aeName} first stage`;
  } else if (concat === latent + 1) {
    task = 'inpainting';
    release = 'inpainting_big';
    label = `inpainting LDM (inpainting_big: masked image + mask concatenated), ${aeName} first stage`;
    heads = { numHeads: 8 };
  } else {
    throw new LdmReleaseError(`an LDM whose UNet takes ${unetIn} channels for ${latent}-channel latents (${aeName}); no released task concatenates ${concat}`);
  }
  if (yaml.normGroups) notes.push(`GroupNorm with ${yaml.normGroups} groups (norm_num_groups from the yaml)`);
  if (yaml.scaleFactor !== undefined) {
    scale = yaml.scaleFactor;
    notes.push(`scale factor ${scale} from the yaml`);
  } else if (shapes.has('scale_factor')) {
    notes.push('scale factor read from the file');
  } else if (ae.kind === 'kl' && !bert) {
    notes.push('scale factor not in the file: 1 assumed (the KL releases set it in their yaml: put the yaml beside the file)');
  }
  const unet = inferUNet(get, yaml, notes, heads);
  if (unet.contextDim && !classEmbedder && !bertCfg) {
    throw new LdmReleaseError(`the UNet cross-attends to ${unet.contextDim}-wide context but the file has no conditioning model (cond_stage_model.* is missing); ${aeName} first stage`);
  }
  if (unet.outChannels !== latent) throw new LdmReleaseError(`the UNet predicts ${unet.outChannels} channels but the ${aeName} latents have ${latent}`);
  if (bertCfg && unet.contextDim !== bertCfg.width) {
    throw new LdmReleaseError(`the text encoder is ${bertCfg.width} wide but the UNet attends to ${unet.contextDim}-wide context`);
  }
  if (classEmbedder && unet.contextDim !== classEmbedder.embedDim) {
    throw new LdmReleaseError(`the class embedding is ${classEmbedder.embedDim} wide but the UNet attends to ${unet.contextDim}-wide context`);
  }
  return {
    release,
    label,
    task,
    autoencoder: ae,
    autoencoderPrefix: FIRST_STAGE,
    unet,
    classEmbedder,
    bert: bertCfg,
    unconditionalClass,
    ...(classEmbedder && yaml.classNames ? { classNames: yaml.classNames } : {}),
    ...(task === 'super-resolution' && yaml.upscaleStrength ? { upscaleStrength: yaml.upscaleStrength } : {}),
    ...(task === 'super-resolution' && yaml.upscaleBackProjection !== undefined ? { upscaleBackProjection: yaml.upscaleBackProjection } : {}),
    ...(yaml.imageSize ? { imageSide: yaml.imageSize * autoencoderFactor(ae) } : {}),
    concatChannels: concat,
    scaleFactor: scale,
    notes,
  };
}
