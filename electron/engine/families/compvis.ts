// What SD 1.x and SD 2.x single files share: CompVis names (`model.diffusion_model.*` UNet,
// `first_stage_model.*` VAE, `cond_stage_model.*` text tower), EMA copies under `model_ema.*`, the
// LDM noise schedule, and the 9-channel inpainting variant. sd1.ts and sd2.ts say what differs.
import * as path from 'node:path';
import type { SafetensorsEntry } from '../io/safetensors.ts';
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../nn/config.ts';
import { ConfigError } from '../nn/config.ts';
import type { Locate, TensorSlice } from '../pipelines/loaded-model.ts';
import type { PreviewProjection } from '../pipelines/preview.ts';
import type { Shape } from '../tensor.ts';
import { ClipTokenizer } from '../io/tokenizers/clip.ts';
import { frame } from '../io/tokenizers/types.ts';
import { inferAutoencoderConfig, inferUNetConfig, type HeadRule, type Lookup } from './shapes.ts';
import { FamilyError, type ModelSource, type OpenedModel, type OpenOptions, type Prediction, type Recognised } from './types.ts';

export const UNET = 'model.diffusion_model';
export const VAE = 'first_stage_model';
export const TEXT = 'cond_stage_model.transformer.text_model';
export const SD_SCALE_FACTOR = 0.18215;

/** SD's latent → RGB approximation (rows r, g, b over the 4 scaled latent channels), as used by common UIs for previews. */
export const SD_PREVIEW: PreviewProjection = {
  weights: [
    [0.3512, 0.325, -0.2829, -0.212],
    [0.2297, 0.4974, 0.1762, -0.2616],
    [0.3227, 0.235, 0.2721, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** configs/stable-diffusion/v*-inference.yaml: linear_start 0.00085, linear_end 0.012, 1000 steps. */
export function sdScheduler(prediction: Prediction): Record<string, unknown> {
  return { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction, timestepSpacing: 'leading', stepsOffset: 1 };
}

/** Where a graph parameter lies in a file: a whole tensor, or part `index` of `of` equal row blocks (fused q/k/v). */
export interface Mapped {
  readonly source: string;
  readonly part?: { readonly index: number; readonly of: number };
}

export function sliceOf(file: string, entry: SafetensorsEntry, part?: Mapped['part']): TensorSlice {
  if (!part) return { file, entry, start: 0, length: entry.length };
  const length = entry.length / part.of;
  return { file, entry, start: part.index * length, length };
}

export function shapeOf(entry: SafetensorsEntry, part?: Mapped['part']): Shape {
  if (!part) return entry.shape;
  return [entry.shape[0]! / part.of, ...entry.shape.slice(1)];
}

/** A name mapping as both a shape lookup (for inference) and a locator (for the weights). */
export function mapped(source: ModelSource, map: (name: string) => Mapped | undefined): { get: Lookup; locate: Locate } {
  const tensors = source.tensors!;
  const find = (name: string) => {
    const m = map(name);
    const e = m && tensors.get(m.source);
    return e ? { e, part: m.part } : undefined;
  };
  return {
    get: (name) => {
      const f = find(name);
      return f && shapeOf(f.e, f.part);
    },
    locate: (name) => {
      const f = find(name);
      return f && sliceOf(source.path, f.e, f.part);
    },
  };
}

/** LitEma's buffer name of a parameter: `model_ema.` + the name under `model.` with the dots removed. */
export function emaName(name: string): string {
  return `model_ema.${name.slice('model.'.length).replace(/\./g, '')}`;
}

export function hasCompvisUNet(source: ModelSource): boolean {
  const t = source.tensors;
  return !!t && (t.has(`${UNET}.input_blocks.0.0.weight`) || t.has(emaName(`${UNET}.input_blocks.0.0.weight`)));
}

/** The UNet's names: the EMA copy when the file has one (as the reference's `use_ema` does), else the plain weights. */
export function unetMapping(source: ModelSource): { get: Lookup; locate: Locate; ema: boolean } {
  const ema = source.tensors!.has(emaName(`${UNET}.input_blocks.0.0.weight`));
  return { ...mapped(source, (n) => ({ source: ema ? emaName(n) : n })), ema };
}

/** Prediction type stated in safetensors metadata (SAI model spec, kohya's training metadata), else null. */
export function predictionFromMetadata(meta: Readonly<Record<string, string>>): Prediction | null {
  const t = meta['modelspec.prediction_type']?.toLowerCase();
  if (t === 'v' || t === 'v_prediction') return 'v_prediction';
  if (t === 'epsilon' || t === 'eps') return 'epsilon';
  const arch = meta['modelspec.architecture']?.toLowerCase();
  if (arch?.endsWith('-v')) return 'v_prediction';
  const kohya = meta.ss_v_parameterization?.toLowerCase();
  if (kohya === 'true') return 'v_prediction';
  if (kohya === 'false' && meta.ss_v2?.toLowerCase() === 'true') return 'epsilon';
  return null;
}

/** The UNet and the autoencoder must fit together; the UNet takes latents (4) or the inpainting concat (9). */
export function checkPair(unet: UNetConfig, vae: AutoencoderConfig, text: TextEncoderConfig): 'txt2img' | 'inpaint' {
  const z = vae.embedDim;
  if (unet.outChannels !== z) throw new FamilyError(`the UNet predicts ${unet.outChannels} channels but the autoencoder's latents have ${z}`);
  if (unet.contextDim !== text.width) {
    throw new FamilyError(`the UNet cross-attends to ${unet.contextDim ?? 'no'}-wide context but the text encoder is ${text.width} wide`);
  }
  if (unet.inChannels === z) return 'txt2img';
  if (unet.inChannels === 2 * z + 1) return 'inpaint';
  throw new FamilyError(
    `the UNet takes ${unet.inChannels} input channels; Stable Diffusion models take ${z} (text to image) or ${2 * z + 1} (inpainting): this variant (e.g. depth-conditioned) is not supported`,
  );
}

export interface CompvisFamily {
  readonly id: string;
  readonly label: string;
  readonly heads: HeadRule;
  /** The text tower mapped onto HF CLIPTextModel names under TEXT, and its config. */
  text(source: ModelSource): { locate: Locate; config: TextEncoderConfig };
  /** CLIP pads SD 1.x prompts with the end token, SD 2.x (OpenCLIP) with 0. */
  readonly pad: 'end' | number;
  /** Prediction type when neither the file nor the user says (and whether that is an assumption worth a note). */
  readonly defaultPrediction: Prediction;
  nativeSize(prediction: Prediction): number;
}

function withConfigErrors<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ConfigError) throw new FamilyError(`${path.basename(file)}: ${err.message}`);
    throw err;
  }
}

export function describeCompvis(fam: CompvisFamily, source: ModelSource): Recognised {
  const unet = unetMapping(source);
  const text = withConfigErrors(source.path, () => fam.text(source));
  const u = withConfigErrors(source.path, () => inferUNetConfig(unet.get, UNET, fam.heads, true));
  const vae = withConfigErrors(source.path, () => inferAutoencoderConfig(mapped(source, (n) => ({ source: n })).get, VAE));
  const kind = withConfigErrors(source.path, () => checkPair(u, vae, text.config));
  const notes: string[] = [];
  if (unet.ema) notes.push('the UNet uses the EMA weights (model_ema.*) stored in the file');
  if (kind === 'inpaint') notes.push('inpainting variant (9-channel UNet)');
  return {
    family: fam.id,
    label: fam.label,
    kind,
    name: path.basename(source.path).replace(/\.safetensors$/i, ''),
    files: [source.path],
    prediction: predictionFromMetadata(source.header!.metadata),
    notes,
  };
}

export async function openCompvis(fam: CompvisFamily, source: ModelSource, o: OpenOptions): Promise<OpenedModel> {
  const d = describeCompvis(fam, source);
  const unet = unetMapping(source);
  const text = fam.text(source);
  const vaeMap = mapped(source, (n) => ({ source: n }));
  const unetCfg = inferUNetConfig(unet.get, UNET, fam.heads, true);
  const vae = inferAutoencoderConfig(vaeMap.get, VAE);
  const prediction = o.prediction ?? d.prediction ?? fam.defaultPrediction;
  const predictionSource = o.prediction ? 'setting' : d.prediction ? 'file' : 'default';
  const notes = [...d.notes];
  if (predictionSource === 'default') {
    notes.push(`the file does not say what the UNet predicts; ${prediction === 'epsilon' ? 'ε (noise)' : 'v'} assumed (change the model's prediction setting, or --prediction, if images come out wrong)`);
  }
  const tok = ClipTokenizer.bundled({ pad: fam.pad });
  if (text.config.maxLength !== tok.maxLength) throw new FamilyError(`the text encoder takes ${text.config.maxLength} positions; CLIP prompts are ${tok.maxLength}`);
  const size = fam.nativeSize(prediction);
  return {
    family: fam.id,
    name: d.name,
    kind: d.kind,
    unet: unetCfg,
    autoencoder: vae,
    textEncoder: text.config,
    scaleFactor: SD_SCALE_FACTOR,
    preview: vae.embedDim === 4 ? SD_PREVIEW : null,
    defaults: { sampler: 'euler_a', steps: 20, guidance: 7, width: size, height: size },
    schedulerConfig: sdScheduler(prediction),
    prediction,
    predictionSource,
    tokenize: (t) => frame(tok, tok.textIds(t)),
    textTokenizer: tok,
    weights: { kind: 'files', networks: { unet: unet.locate, autoencoder: vaeMap.locate, textEncoder: text.locate } },
    files: [source.path],
    notes,
  };
}
