// Conversions between 8-bit RGB pictures and the model's NCHW float tensors in [-1, 1].
import { rgb8ToTensor, tensorToRgb8 } from '../io/image.ts';
import type { TensorData } from '../tensor.ts';
import { PipelineError } from './errors.ts';

/** An 8-bit RGB picture, pixels interleaved row-major (r, g, b, r, g, b, …). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new PipelineError(`image size ${width}x${height} is not a positive whole number of pixels`);
  }
  const d = data ?? new Uint8Array(width * height * 3);
  if (d.length !== width * height * 3) {
    throw new PipelineError(`an RGB image of ${width}x${height} needs ${width * height * 3} bytes, got ${d.length}`);
  }
  return { width, height, data: d };
}

/** RGB bytes → [1, 3, H, W] float32 in [-1, 1]. */
export function imageToTensor(img: RgbImage): TensorData<'float32'> {
  return rgb8ToTensor(img.data, img.width, img.height);
}

/** [1, 3, H, W] (or [3, H, W]) float in [-1, 1] → RGB bytes, clamped and rounded. */
export function tensorToImage(t: TensorData): RgbImage {
  const { data, width, height } = tensorToRgb8(t);
  return rgbImage(width, height, data);
}

/** One value in [-1, 1] → a byte, rounded as tensorToRgb8 does. */
export function toByte(v: number): number {
  const x = Math.round((v + 1) * 127.5);
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/**
 * Area-average a [C, H, W] plane stack by an integer factor f → [C, H/f, W/f]. Used to bring images
 * and masks to latent resolution.
 */
export function downsampleArea(src: Float32Array, channels: number, height: number, width: number, f: number): Float32Array {
  if (height % f !== 0 || width % f !== 0) {
    throw new PipelineError(`size ${width}x${height} is not a multiple of the model's downscale factor ${f}`);
  }
  const h = height / f;
  const w = width / f;
  const out = new Float32Array(channels * h * w);
  const inv = 1 / (f * f);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let dy = 0; dy < f; dy++) {
          const row = (c * height + y * f + dy) * width + x * f;
          for (let dx = 0; dx < f; dx++) s += src[row + dx]!;
        }
        out[(c * h + y) * w + x] = s * inv;
      }
    }
  }
  return out;
}

export function checkMultiple(width: number, height: number, f: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new PipelineError(`${what} size ${width}x${height} must be positive whole pixels`);
  }
  if (width % f !== 0 || height % f !== 0) {
    throw new PipelineError(
      `${what} size ${width}x${height} must be a multiple of ${f} (the model's downscale factor); ` +
        `try ${Math.max(f, Math.round(width / f) * f)}x${Math.max(f, Math.round(height / f) * f)}`,
    );
  }
}
