// Inpainting masks: 1 = repaint, 0 = keep. Feathering only ever ramps *inside* the mask, so every
// pixel outside it keeps weight 0 and is pasted back byte for byte.
import { PipelineError } from './errors.ts';
import { rgbImage, type RgbImage } from './image.ts';
import { tensor, type TensorData } from '../tensor.ts';

export interface Mask {
  readonly width: number;
  readonly height: number;
  /** One weight per pixel in [0, 1]. */
  readonly data: Float32Array;
}

/** A painted mask picture (white = repaint, black = keep) → a binary mask, thresholded at mid-grey. */
export function maskFromImage(img: RgbImage): Mask {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  let any = false;
  for (let p = 0; p < n; p++) {
    const lum = (img.data[3 * p]! + img.data[3 * p + 1]! + img.data[3 * p + 2]!) / 3;
    if (lum >= 127.5) {
      out[p] = 1;
      any = true;
    }
  }
  if (!any) throw new PipelineError('the mask is empty: paint the area to repaint in white (black keeps the original)');
  return { width: img.width, height: img.height, data: out };
}

/**
 * Weight ramps linearly from 0 at the mask's edge to 1 at `radius` pixels inside it (chamfer
 * distance, 3-4 weights ≈ Euclidean); pixels outside stay exactly 0.
 */
export function featherMask(mask: Mask, radius: number): Mask {
  if (!(radius >= 0) || !Number.isFinite(radius)) throw new PipelineError(`mask feather radius must be ≥ 0, got ${radius}`);
  const { width: w, height: h } = mask;
  const bin = mask.data.map((v) => (v >= 0.5 ? 1 : 0));
  if (radius === 0) return { width: w, height: h, data: bin };
  const big = 1e9;
  const dist = new Float64Array(w * h);
  for (let p = 0; p < w * h; p++) dist[p] = bin[p] ? big : 0;
  // Pixels beyond the picture's border count as inside the mask, so outpainted edges are not ramped.
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= w || y >= h ? big : dist[y * w + x]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (dist[p] === 0) continue;
      dist[p] = Math.min(dist[p]!, at(x - 1, y) + 3, at(x, y - 1) + 3, at(x - 1, y - 1) + 4, at(x + 1, y - 1) + 4);
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const p = y * w + x;
      if (dist[p] === 0) continue;
      dist[p] = Math.min(dist[p]!, at(x + 1, y) + 3, at(x, y + 1) + 3, at(x + 1, y + 1) + 4, at(x - 1, y + 1) + 4);
    }
  }
  const out = new Float32Array(w * h);
  for (let p = 0; p < w * h; p++) {
    // distance 3 = one pixel step; the first masked pixel gets 1/(radius+1) so it is never 0.
    out[p] = bin[p] ? Math.min(1, dist[p]! / 3 / (radius + 1)) : 0;
  }
  return { width: w, height: h, data: out };
}

/** The mask's size at latent resolution; refuses a mask that is not a whole number of latent cells. */
function latentSize(mask: Mask, f: number): { w: number; h: number } {
  const { width, height } = mask;
  if (width % f !== 0 || height % f !== 0) {
    throw new PipelineError(`mask size ${width}x${height} is not a multiple of the model's downscale factor ${f}`);
  }
  return { w: width / f, h: height / f };
}

/**
 * The mask at latent resolution [h/f · w/f]: a latent cell is free (1) when any pixel it covers is
 * to be repainted, so thin brush strokes still get repainted; paste-back restores the rest.
 */
export function latentMask(mask: Mask, f: number): Float32Array {
  const { width } = mask;
  const { w, h } = latentSize(mask, f);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let any = 0;
      for (let dy = 0; dy < f && !any; dy++) {
        const row = (y * f + dy) * width + x * f;
        for (let dx = 0; dx < f; dx++) {
          if (mask.data[row + dx]! > 0) {
            any = 1;
            break;
          }
        }
      }
      out[y * w + x] = any;
    }
  }
  return out;
}

/**
 * The mask as SD inpainting models were trained to read it (diffusers' prepare_mask_and_masked_image):
 * resized to latent size by nearest neighbour (the pixel at ⌊i·f⌋) and binarised at 0.5.
 */
export function nearestLatentMask(mask: Mask, f: number): Float32Array {
  const { width } = mask;
  const { w, h } = latentSize(mask, f);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = mask.data[y * f * width + x * f]! >= 0.5 ? 1 : 0;
  return out;
}

/** The picture in model space [1, 3, H, W] times (mask < 0.5): the area to repaint becomes exactly 0, for 9-channel models. */
export function maskedImageTensor(image: TensorData<'float32'>, mask: Mask): TensorData<'float32'> {
  const hw = mask.width * mask.height;
  if (image.data.length !== 3 * hw) throw new PipelineError('the mask and the picture differ in size');
  const out = Float32Array.from(image.data);
  for (let c = 0; c < 3; c++) for (let p = 0; p < hw; p++) if (mask.data[p]! >= 0.5) out[c * hw + p] = 0;
  return tensor('float32', image.shape, out);
}

/** Composite: weight 0 → the original's bytes exactly, 1 → the generated ones, between → a blend. */
export function pasteBack(original: RgbImage, generated: RgbImage, weights: Mask): RgbImage {
  sameSize(original, weights, 'original image');
  sameSize(generated, weights, 'generated image');
  const out = Uint8Array.from(original.data);
  for (let p = 0; p < weights.data.length; p++) {
    const m = weights.data[p]!;
    if (m <= 0) continue;
    for (let c = 0; c < 3; c++) {
      const i = 3 * p + c;
      out[i] = m >= 1 ? generated.data[i]! : Math.round(original.data[i]! + (generated.data[i]! - original.data[i]!) * m);
    }
  }
  return rgbImage(original.width, original.height, out);
}

function sameSize(img: { width: number; height: number }, mask: Mask, what: string): void {
  if (img.width !== mask.width || img.height !== mask.height) {
    throw new PipelineError(`the mask is ${mask.width}x${mask.height} but the ${what} is ${img.width}x${img.height}; they must match`);
  }
}

export interface Margins {
  readonly left?: number;
  readonly right?: number;
  readonly top?: number;
  readonly bottom?: number;
}

/** The picture on a larger canvas whose new border repeats the nearest edge pixel, and the mask of that border. */
export function extendCanvas(image: RgbImage, m: Margins): { canvas: RgbImage; mask: RgbImage } {
  const [left, right, top, bottom] = [m.left ?? 0, m.right ?? 0, m.top ?? 0, m.bottom ?? 0];
  for (const [k, v] of Object.entries({ left, right, top, bottom })) {
    if (!Number.isInteger(v) || v < 0) throw new PipelineError(`outpaint margin ${k} must be a whole number of pixels ≥ 0, got ${v}`);
  }
  if (left + right + top + bottom === 0) throw new PipelineError('outpainting needs at least one margin > 0 (left, right, top or bottom)');
  const w = image.width + left + right;
  const h = image.height + top + bottom;
  const canvas = new Uint8Array(w * h * 3);
  const mask = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(image.height - 1, Math.max(0, y - top));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, x - left));
      const inside = y >= top && y < top + image.height && x >= left && x < left + image.width;
      const s = 3 * (sy * image.width + sx);
      const d = 3 * (y * w + x);
      canvas[d] = image.data[s]!;
      canvas[d + 1] = image.data[s + 1]!;
      canvas[d + 2] = image.data[s + 2]!;
      if (!inside) mask[d] = mask[d + 1] = mask[d + 2] = 255;
    }
  }
  return { canvas: rgbImage(w, h, canvas), mask: rgbImage(w, h, mask) };
}
