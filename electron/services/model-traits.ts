// What a registered diffusion model says about sampling it: its family, what it does (txt2img, inpaint,
// class2img …), what it predicts, and its sampling defaults (model.json's `sampling`, or its family's).
// These are the only sampling defaults in the studio: the API serves them with the models list, the
// Generate form resets to them, and a job submitted without sampler/steps/guidance/size gets them here.
import { stat } from 'node:fs/promises';
import type { ModelInfo, ModelTraits } from '../api/models.ts';
import { openFamilyModel, type Prediction } from '../engine/families/index.ts';
import { imagenetClassNames } from '../engine/families/ldm-classes.ts';
import type { LdmTask } from '../engine/families/ldm-release.ts';
import { describeLdmFile, releaseDefaults } from '../engine/families/ldm-run.ts';
import { validateModelPackage } from '../engine/io/model-package.ts';
import { autoencoderFactor, type AutoencoderConfig } from '../engine/nn/config.ts';
import { StudioError } from '../api/contract.ts';
import { isReleaseFile } from '../engine/pipelines/release.ts';

const cache = new Map<string, { mtimeMs: number; traits: ModelTraits | null }>();

/** The traits of a diffusion model (null for LoRAs, VAEs, embeddings, and files no family can open). */
export async function modelTraits(m: Pick<ModelInfo, 'kind' | 'format' | 'path' | 'prediction'>): Promise<ModelTraits | null> {
  if (m.kind !== 'ldm' || m.format === 'onnx') return null;
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(m.path)).mtimeMs;
  } catch {
    return null;
  }
  const key = `${m.path}|${m.prediction ?? ''}`;
  const known = cache.get(key);
  if (known && known.mtimeMs === mtimeMs) return known.traits;
  const traits = await readTraits(m.path, m.format === 'package', m.prediction ?? undefined);
  cache.set(key, { mtimeMs, traits });
  return traits;
}

/** The studio's word for each task of the paper's releases (the job or form that fits it). */
const RELEASE_TASKS: Record<LdmTask, string> = {
  'text-to-image': 'txt2img',
  'class-conditional': 'class2img',
  unconditional: 'unconditional',
  'super-resolution': 'upscale',
  inpainting: 'inpaint',
  autoencoder: 'autoencoder',
};

/** One of the latent diffusion paper's releases: its task, class names (its yaml's, or ImageNet's), the defaults of its scripts. */
async function releaseTraits(path: string): Promise<ModelTraits | null> {
  try {
    const { release } = await describeLdmFile(path);
    const classes = release.classEmbedder?.nClasses ?? null;
    // cin256(-v2): 1,000 ImageNet classes (+ the "no class" entry)
    const imagenet = classes !== null && classes - (release.unconditionalClass !== null ? 1 : 0) === 1000;
    return {
      family: 'ldm-release',
      task: RELEASE_TASKS[release.task],
      prediction: 'epsilon',
      classCount: classes,
      classNames: release.classNames ? [...release.classNames] : imagenet ? [...imagenetClassNames()] : null,
      classSet: release.classNames ? 'classes' : imagenet ? 'ImageNet classes' : null,
      ...(release.unet ? { sizeStep: sizeStepOf({ autoencoder: release.autoencoder, unet: release.unet }) } : {}),
      defaults: releaseDefaults(release),
    };
  } catch {
    return null;
  }
}

/** What the memory estimate needs of a release (services/admission.ts ModelShape); null for other files. */
export async function releaseModelShape(path: string): Promise<{ factor: number; attentionRates: number[]; heads: number } | null> {
  if (!(await isReleaseFile(path))) return null;
  try {
    const { release } = await describeLdmFile(path);
    const u = release.unet;
    if (!u) return null;
    const rates = u.attentionResolutions;
    const finest = rates.length ? Math.min(...rates) : 1;
    const channels = u.modelChannels * (u.channelMult[Math.round(Math.log2(finest))] ?? 1);
    const heads = u.numHeads ?? (u.numHeadChannels ? Math.max(1, Math.round(channels / u.numHeadChannels)) : 8);
    return { factor: autoencoderFactor(release.autoencoder), attentionRates: [...rates], heads };
  } catch {
    return null;
  }
}

async function readTraits(path: string, isPackage: boolean, prediction?: Prediction): Promise<ModelTraits | null> {
  if (!isPackage && (await isReleaseFile(path))) return releaseTraits(path);
  try {
    const opened = await openFamilyModel(path, { prediction });
    const classes = isPackage ? await packageClassCount(path) : null;
    return { family: opened.family, task: opened.kind, prediction: opened.prediction, classCount: classes, sizeStep: sizeStepOf(opened), defaults: { ...opened.defaults } };
  } catch {
    // Families sample text-conditioned models; a class-conditional or unconditional package still has defaults.
    if (!isPackage) return null;
    try {
      const m = (await validateModelPackage(path)).manifest;
      const res = m.architecture.autoencoder.resolution;
      return {
        family: 'package',
        task: m.kind,
        prediction: m.scheduler?.prediction === 'v_prediction' ? 'v_prediction' : 'epsilon',
        classCount: m.architecture.classEmbedder?.nClasses ?? m.architecture.unet?.numClasses ?? null,
        sizeStep: m.architecture.unet ? sizeStepOf({ autoencoder: m.architecture.autoencoder, unet: m.architecture.unet }) : undefined,
        defaults: m.sampling ?? { sampler: 'ddim', steps: 25, guidance: 7.5, width: res, height: res },
      };
    } catch {
      return null;
    }
  }
}

/** The step of the picture sides a model takes: the autoencoder's factor × 2 for each UNet downsampling. */
export function sizeStepOf(c: { autoencoder: AutoencoderConfig; unet: { channelMult: readonly number[] } }): number {
  return autoencoderFactor(c.autoencoder) * 2 ** (c.unet.channelMult.length - 1);
}

/**
 * Refuses a picture size the model cannot draw (a side not a multiple of its size step) with the nearest
 * sizes it can, before the job is queued; the UNet would otherwise fail at its first step.
 */
export function checkModelSize(name: string, traits: Pick<ModelTraits, 'sizeStep'>, width: number, height: number): void {
  const step = traits.sizeStep;
  if (!step || (width % step === 0 && height % step === 0)) return;
  const down = (v: number) => Math.max(step, Math.floor(v / step) * step);
  const up = (v: number) => Math.ceil(v / step) * step;
  throw new StudioError(
    `"${name}" draws sizes in steps of ${step} px, so ${width}×${height} cannot be drawn: use ${down(width)}×${down(height)} or ${up(width)}×${up(height)}.`,
    'invalid_input',
  );
}

async function packageClassCount(path: string): Promise<number | null> {
  const m = (await validateModelPackage(path)).manifest;
  return m.architecture.classEmbedder?.nClasses ?? m.architecture.unet?.numClasses ?? null;
}

/** A job spec's sampling fields, filled from the model's defaults where the caller left them out. */
export function withSamplingDefaults<S extends { sampler?: string; steps?: number; guidance?: number; width?: number; height?: number }>(
  spec: S,
  defaults: ModelTraits['defaults'],
): S & { sampler: string; steps: number; guidance: number; width: number; height: number } {
  return {
    ...spec,
    sampler: spec.sampler ?? defaults.sampler,
    steps: spec.steps ?? defaults.steps,
    guidance: spec.guidance ?? defaults.guidance,
    width: spec.width ?? defaults.width,
    height: spec.height ?? defaults.height,
  };
}
