// The pipelines' arguments and results. Names follow the job specs in electron/api/jobs.ts so a
// worker passes a spec through without renaming.
import type { SeedOptions } from '../diffusion/noise.ts';
import type { RgbImage } from './image.ts';

export interface ProgressEvent {
  /** Which image of the batch (0-based). */
  readonly image: number;
  readonly images: number;
  /** Denoising steps finished for this image (1-based), out of `steps`. */
  readonly step: number;
  readonly steps: number;
  /** Steps finished over the whole batch, out of `total`. */
  readonly done: number;
  readonly total: number;
  /** The current latents through the model's linear latent→RGB projection, at latent resolution. */
  readonly preview: RgbImage | null;
}

export type ProgressCallback = (e: ProgressEvent) => void;

/** SeedOptions: A1111's random source, variation seed, resize-seed-from and ENSD (engine/diffusion/noise.ts). */
export interface GenerateOptions extends SeedOptions {
  readonly prompt: string;
  readonly negativePrompt?: string;
  /** Sampler name as createSampler knows it (e.g. 'ddim', 'euler_a', 'dpmpp_2m'). */
  readonly sampler?: string;
  /** A1111's schedule type for it ('automatic', 'karras', …; engine/diffusion SCHEDULE_TYPES); default 'automatic'. */
  readonly scheduleType?: string;
  readonly steps?: number;
  /** Classifier-free guidance scale; 1 skips the unconditional pass. */
  readonly guidance?: number;
  /** Image i of the batch uses seed + i, so any one image can be regenerated alone. */
  readonly seed: number;
  readonly width?: number;
  readonly height?: number;
  /** Number of images, made one after another. */
  readonly batchCount?: number;
  /** Stochasticity of DDIM (0 = deterministic). */
  readonly eta?: number;
  /** A1111's "Clip skip": the text encoder's output is taken n − 1 layers before its last (then its final LayerNorm); 1 = last. */
  readonly clipSkip?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
  /** Compute a preview every this many steps (0 = never); default 1. */
  readonly previewEvery?: number;
  /** Each finished image, awaited before the next one starts (write it out so a crash or a cancel keeps it). */
  readonly onImage?: (image: GeneratedImage, index: number) => void | Promise<void>;
}

export interface Img2ImgOptions extends GenerateOptions {
  /** The starting picture; its size is the output size. */
  readonly image: RgbImage;
  /** How much of the schedule to run: 0 keeps the picture, 1 ignores it. */
  readonly strength?: number;
}

export interface InpaintOptions extends GenerateOptions {
  readonly image: RgbImage;
  /** White = repaint, black = keep; same size as `image`. */
  readonly mask: RgbImage;
  /** 1 repaints the masked area from pure noise; less keeps some of the original there. */
  readonly strength?: number;
  /** Mask feathering radius in pixels (a ramp inside the mask). */
  readonly feather?: number;
}

export interface OutpaintOptions extends Omit<InpaintOptions, 'mask'> {
  /** Pixels added on each side (multiples of the model's downscale factor keep the size valid). */
  readonly left?: number;
  readonly right?: number;
  readonly top?: number;
  readonly bottom?: number;
}

export type PipelineKind = 'txt2img' | 'img2img' | 'inpaint' | 'upscale';

/** Everything that reproduces one image; written into its PNG `parameters` chunk. Seed extras only when used. */
export interface GenerationRecord extends SeedOptions {
  readonly kind: PipelineKind;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly sampler: string;
  readonly scheduleType?: string;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly eta: number;
  /** Clip skip used (1 = the last layer). */
  readonly clipSkip?: number;
  /** img2img / inpaint only. */
  readonly strength: number | null;
  readonly feather: number | null;
  readonly model: { readonly name: string; readonly hash: string };
  /** Adapters merged into the model (set by whoever merged them; the pipelines do not know). */
  readonly loras?: readonly { readonly name: string; readonly hash: string | null; readonly strength: number }[];
}

export interface GeneratedImage {
  readonly image: RgbImage;
  readonly record: GenerationRecord;
}
