// Data and measures of the ×4 super-resolution model: the emoji set drawn at 128² from SVG
// (emoji-svg.ts) and its 32² low-resolution versions (Lanczos-3, as the embedded 32² model's data is
// made), bicubic ×4 as the baseline, and PSNR and SSIM against the truth.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { EmojiDataset } from './emoji-dataset.ts';
import { loadSvgEmojiDataset } from './emoji-svg.ts';

export const SR_FACTOR = 4;

export interface SrDataset {
  high: EmojiDataset;
  /** uint8 RGB planes [count, 3, size/4, size/4] */
  low: Uint8Array;
  lowSize: number;
}

/** Planar uint8 RGB [3, h, w] ↔ sharp's interleaved raw buffers. */
export function planarToInterleaved(p: Uint8Array, size: number): Buffer {
  const plane = size * size;
  const out = Buffer.alloc(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = p[c * plane + i]!;
  return out;
}

export function interleavedToPlanar(b: Uint8Array, size: number): Uint8Array {
  const plane = size * size;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = b[i * 3 + c]!;
  return out;
}

/** Resizes a planar RGB picture with sharp ('lanczos3' to shrink as the 32² data; 'cubic' = bicubic ×4, the baseline). */
export async function resizePlanar(p: Uint8Array, size: number, to: number, kernel: 'lanczos3' | 'cubic'): Promise<Uint8Array> {
  const raw = await sharp(planarToInterleaved(p, size), { raw: { width: size, height: size, channels: 3 } })
    .resize(to, to, { kernel, fit: 'fill' })
    .raw()
    .toBuffer();
  return interleavedToPlanar(raw, to);
}

export async function loadSrDataset(size: number, cacheDir: string, log?: (line: string) => void): Promise<SrDataset> {
  const high = await loadSvgEmojiDataset(size, cacheDir, log);
  const lowSize = size / SR_FACTOR;
  const file = path.join(cacheDir, `emoji-svg-${size}-low-${lowSize}.bin`);
  const n = 3 * lowSize * lowSize;
  if (existsSync(file) && readFileSync(file).length === high.samples.length * n) return { high, low: new Uint8Array(readFileSync(file)), lowSize };
  const low = new Uint8Array(high.samples.length * n);
  const hn = 3 * size * size;
  for (let i = 0; i < high.samples.length; i++) low.set(await resizePlanar(high.pixels.subarray(i * hn, (i + 1) * hn), size, lowSize, 'lanczos3'), i * n);
  writeFileSync(file, low);
  return { high, low, lowSize };
}

/** uint8 → float32 in [−1, 1]. */
export function toSigned(src: Uint8Array, out?: Float32Array, offset = 0): Float32Array {
  const dst = out ?? new Float32Array(src.length);
  for (let k = 0; k < src.length; k++) dst[offset + k] = src[k]! / 127.5 - 1;
  return dst;
}

/** float32 in [−1, 1] → uint8 (rounded, clamped), as a saved picture holds it. */
export function toBytes(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let k = 0; k < src.length; k++) out[k] = Math.max(0, Math.min(255, Math.round((src[k]! + 1) * 127.5)));
  return out;
}

/** Mean squared error of two uint8 pictures, on [0, 1]. */
export function mse(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`mse: ${a.length} vs ${b.length} values`);
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const d = (a[k]! - b[k]!) / 255;
    s += d * d;
  }
  return s / a.length;
}

/** PSNR in dB of a mean squared error on [0, 1] pixels. */
export function psnrOf(meanSquaredError: number): number {
  return 10 * Math.log10(1 / meanSquaredError);
}

function gaussianWindow(radius: number, sigma: number): Float64Array {
  const w = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) s += w[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  return w.map((v) => v / s);
}

/** Separable 'valid' filtering of one plane with a 1-D window. */
function blurValid(p: Float64Array, h: number, w: number, win: Float64Array): { data: Float64Array; h: number; w: number } {
  const k = win.length;
  const ow = w - k + 1;
  const oh = h - k + 1;
  const tmp = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) for (let x = 0; x < ow; x++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += win[i]! * p[y * w + x + i]!;
    tmp[y * ow + x] = s;
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += win[i]! * tmp[(y + i) * ow + x]!;
    out[y * ow + x] = s;
  }
  return { data: out, h: oh, w: ow };
}

/**
 * SSIM (Wang et al. 2004) of two planar uint8 RGB pictures [3, size, size] on [0, 1]: an 11×11
 * Gaussian window with σ 1.5, K1 0.01, K2 0.03, over the 'valid' region, averaged over the three
 * channels (scikit-image's structural_similarity with gaussian_weights=True, use_sample_covariance=False,
 * data_range=1, channel_axis; scripts/reference/ssim.py).
 */
export function ssim(a: Uint8Array, b: Uint8Array, size: number): number {
  const plane = size * size;
  if (a.length !== 3 * plane || b.length !== 3 * plane) throw new Error(`ssim: pictures must be 3×${size}×${size}`);
  const win = gaussianWindow(5, 1.5);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  let total = 0;
  for (let c = 0; c < 3; c++) {
    const x = new Float64Array(plane);
    const y = new Float64Array(plane);
    for (let i = 0; i < plane; i++) {
      x[i] = a[c * plane + i]! / 255;
      y[i] = b[c * plane + i]! / 255;
    }
    const prod = (p: Float64Array, q: Float64Array) => p.map((v, i) => v * q[i]!);
    const mx = blurValid(x, size, size, win).data;
    const my = blurValid(y, size, size, win).data;
    const mxx = blurValid(prod(x, x), size, size, win).data;
    const myy = blurValid(prod(y, y), size, size, win).data;
    const mxy = blurValid(prod(x, y), size, size, win).data;
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const vx = mxx[i]! - mx[i]! * mx[i]!;
      const vy = myy[i]! - my[i]! * my[i]!;
      const cxy = mxy[i]! - mx[i]! * my[i]!;
      s += ((2 * mx[i]! * my[i]! + c1) * (2 * cxy + c2)) / ((mx[i]! ** 2 + my[i]! ** 2 + c1) * (vx + vy + c2));
    }
    total += s / mx.length;
  }
  return total / 3;
}
