// The paper's released LDMs (families/ldm-run.ts) behind the studio's pipelines, so that a job on one of
// them has the same seeds, progress, cancel and records as any other:
// - txt2img: text (the BERT τθ), an ImageNet class (the prompt is its name or index; the negative prompt
//   '' is the "no class" entry used for guidance), or nothing (unconditional models);
// - img2img and inpaint through the ordinary pipelines; an inpainting release (inpainting_big) sees its
//   masked picture and mask concatenated in its own order (first-stage encoding, then the mask);
// - upscale: any concat-conditioned super-resolution release (bsr_sr, VQ-f4; a KL first stage alike): the
//   low-res picture in [−1, 1] is concatenated to the latents at every step, the output is f× larger.
import { resizeTensor } from '../io/image.ts';
import { autoencoderFactor } from '../nn/config.ts';
import { FAMILIES, probe } from '../families/index.ts';
import { isPaperLayout, ldmPaperReleases } from '../families/ldm-paper.ts';
import { UNSUPPORTED } from '../families/unsupported.ts';
import { describeLdmFile, openLdmRelease, type LdmModel } from '../families/ldm-run.ts';
import type { LdmRelease } from '../families/ldm-release.ts';
import { tensor, type TensorData } from '../tensor.ts';
import { initialLatents, resolveOptions, runBatch, startIndexFor, strengthIn } from './common.ts';
import { backProject } from './back-projection.ts';
import { PipelineError } from './errors.ts';
import { imageToTensor, rgbImage, tensorToImage, type RgbImage } from './image.ts';
import type { DiffusionModel, SamplingDefaults } from './model.ts';
import type { GeneratedImage, GenerateOptions } from './types.ts';

/**
 * Whether a .safetensors file holds one of the paper's releases (header only): the paper's layout, and no
 * model family or earlier detector claims it (an SDXL UNet has that layout too, without cond_stage_model).
 */
export async function isReleaseFile(file: string): Promise<boolean> {
  if (!/\.safetensors$/i.test(file)) return false;
  let source;
  try {
    source = await probe(file);
  } catch {
    return false;
  }
  if (!source.tensors || !isPaperLayout(new Map([...source.tensors].map(([k, e]) => [k, e.shape])))) return false;
  if (FAMILIES.some((f) => f.recognise(source))) return false;
  for (const u of UNSUPPORTED) {
    if (u === ldmPaperReleases) return true;
    if (u.detect(source)) return false;
  }
  return true;
}

/** The multiple of pixels a release samples at: its first stage's factor × its UNet's downsampling. */
export function sizeMultiple(r: LdmRelease): number {
  return autoencoderFactor(r.autoencoder) * 2 ** ((r.unet?.channelMult.length ?? 1) - 1);
}

/** A release as a DiffusionModel with the studio's name and hash for it. */
export class ReleaseModel implements DiffusionModel {
  readonly latentChannels: number;
  readonly downscale: number;
  readonly unetInChannels: number;
  readonly preview = null;
  readonly defaults: Readonly<SamplingDefaults>;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;

  constructor(
    readonly ldm: LdmModel,
    readonly name: string,
    readonly hash: string,
  ) {
    this.latentChannels = ldm.latentChannels;
    this.downscale = ldm.downscale;
    // inpainting releases take the ordinary pipelines' 2C+1 input (reordered in predictNoise)
    this.unetInChannels = ldm.release.task === 'inpainting' ? 2 * ldm.latentChannels + 1 : ldm.latentChannels;
    this.defaults = ldm.defaults;
    this.schedulerConfig = ldm.schedulerConfig;
  }

  get release(): LdmRelease {
    return this.ldm.release;
  }

  /** Picture sides must be multiples of this: the first stage's factor × the UNet's downsampling. */
  get sizeMultiple(): number {
    return sizeMultiple(this.release);
  }

  async encodeText(prompts: readonly string[]): Promise<TensorData<'float32'>> {
    if (this.release.task !== 'class-conditional') return this.ldm.encodeText(prompts);
    return this.ldm.encodeText(prompts.map((p) => this.classPrompt(p)));
  }

  /** A class name or index; '' (an empty negative prompt) is the "no class" entry. */
  private classPrompt(p: string): string {
    if (p.trim() !== '') return p.trim();
    const none = this.release.unconditionalClass;
    if (none === null) throw new PipelineError(`${this.name} needs an ImageNet class (a name or index), and it has no "no class" entry for guidance: use guidance 1`);
    return String(none);
  }

  async predictNoise(x: TensorData<'float32'>, timestep: number, context: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const m = this.sizeMultiple / this.downscale;
    if (h % m !== 0 || w % m !== 0) {
      throw new PipelineError(
        `${this.name} (${this.release.release}) works on sizes in multiples of ${this.sizeMultiple} pixels (first stage f=${this.downscale} × UNet ${m}); ${w * this.downscale}×${h * this.downscale} is not`,
      );
    }
    const k = this.latentChannels;
    if (this.release.task !== 'inpainting' || c !== 2 * k + 1) return this.ldm.predictNoise(x, timestep, context);
    // the pipelines' order [latents, mask, masked-picture latents × scale] → the release's
    // [latents, masked-picture encoding, mask] (its cond stage is the first stage, unscaled)
    const hw = h * w;
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < b; i++) {
      const o = i * c * hw;
      out.set(x.data.subarray(o, o + k * hw), o);
      const masked = x.data.subarray(o + (k + 1) * hw, o + (2 * k + 1) * hw);
      for (let j = 0; j < masked.length; j++) out[o + k * hw + j] = masked[j]! / this.ldm.scaleFactor;
      out.set(x.data.subarray(o + k * hw, o + (k + 1) * hw), o + 2 * k * hw);
    }
    return this.ldm.predictNoise(tensor('float32', x.shape, out), timestep, context);
  }

  encodeImage(image: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    return this.ldm.encodeImage(image);
  }

  decodeLatents(latents: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    return this.ldm.decodeLatents(latents);
  }

  close(): Promise<void> {
    return this.ldm.close();
  }
}

/** Opens a release file for the studio's pipelines (name and hash as the registry knows them). */
export async function openRelease(file: string, name: string, hash: string): Promise<ReleaseModel> {
  const { model } = await openLdmRelease(file);
  return new ReleaseModel(model, name, hash);
}

/** The sampling multiple of a release file (shapes only). */
export async function releaseSizeMultiple(file: string): Promise<number> {
  return sizeMultiple((await describeLdmFile(file)).release);
}

export interface UpscaleOptions extends Omit<GenerateOptions, 'prompt' | 'negativePrompt' | 'guidance' | 'width' | 'height' | 'clipSkip'> {
  /** The low-res picture; the output is f× larger on each side (bsr_sr: ×4). */
  readonly image: RgbImage;
  /**
   * 1 (default, the paper's way): sample from pure noise. Below 1: start from the picture's Lanczos ×f
   * latents noised to that strength, as img2img does, so the low frequencies come from the input.
   * Absent: the model's default (its yaml's upscale_strength), else 1.
   */
  readonly strength?: number;
  /**
   * Rounds of back-projection onto the input after decoding (pipelines/back-projection.ts): shrunk
   * back, the result gives the input. Absent: the model's default (upscale_back_projection), else 0.
   */
  readonly backProjection?: number;
}

/**
 * Super-resolution: the picture, padded (edges repeated) to the size the UNet takes, is the concat
 * conditioning; each image of the batch is sampled from its own seed and cropped back to f× the input.
 */
export async function upscale(model: ReleaseModel, o: UpscaleOptions): Promise<GeneratedImage[]> {
  if (model.release.task !== 'super-resolution') {
    throw new PipelineError(`${model.name} is a ${model.release.label}; upscaling needs a super-resolution model (such as bsr_sr)`);
  }
  const f = model.downscale;
  const { width, height } = o.image;
  const padded = padToMultiple(o.image, model.sizeMultiple / f);
  const options: GenerateOptions = { ...o, prompt: '', guidance: 1, width: padded.width * f, height: padded.height * f };
  const r = resolveOptions(model, options);
  const low = imageToTensor(padded).data;
  const strength = strengthIn(o.strength ?? model.release.upscaleStrength ?? 1);
  const rounds = o.backProjection ?? model.release.upscaleBackProjection ?? 0;
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 10) throw new PipelineError(`back-projection must be a whole number of rounds from 0 to 10, got ${rounds}`);
  const startIndex = strength === 1 ? 0 : startIndexFor(r.steps, strength);
  const known = startIndex === 0 ? null : (await model.encodeImage(resizeTensor(imageToTensor(padded), padded.width * f, padded.height * f, { fit: 'fill' }))).data;
  const spec = { kind: 'upscale', strength: strength === 1 ? null : strength, feather: null, startIndex } as const;
  const results = await runBatch(model, r, options, spec, async (job) => {
    const noise = job.rng.normal(job.shape.reduce((a, b) => a * b, 1));
    model.ldm.setConcat(low);
    try {
      const latents = await job.denoise(initialLatents(job, startIndex, noise, known), startIndex, undefined);
      return backProject(crop(tensorToImage(await model.decodeLatents(latents)), width * f, height * f), o.image, rounds);
    } finally {
      model.ldm.setConcat(null);
    }
  });
  return results.map((g) => ({ image: g.image, record: { ...g.record, width: width * f, height: height * f } }));
}

/** The picture with its right and bottom edges repeated up to multiples of `m`. */
export function padToMultiple(img: RgbImage, m: number): RgbImage {
  const W = Math.ceil(img.width / m) * m;
  const H = Math.ceil(img.height / m) * m;
  if (W === img.width && H === img.height) return img;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(y, img.height - 1);
    for (let x = 0; x < W; x++) {
      const s = (sy * img.width + Math.min(x, img.width - 1)) * 3;
      out.set(img.data.subarray(s, s + 3), (y * W + x) * 3);
    }
  }
  return rgbImage(W, H, out);
}

/** The top-left width×height of a picture. */
export function crop(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return img;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) out.set(img.data.subarray(y * img.width * 3, (y * img.width + width) * 3), y * width * 3);
  return rgbImage(width, height, out);
}
