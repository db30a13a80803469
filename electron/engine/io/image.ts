// Images in and out of the engine: PNG / JPEG / WebP decoded by sharp into float32 NCHW RGB in [-1, 1]
// (alpha composited on white, EXIF orientation applied), and float32 NCHW back to PNG bytes or files
// with text chunks. Sizes are checked from the file header before anything is decoded.

import { promises as fsp } from 'node:fs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { tensor, type TensorData } from '../tensor.ts';
import { writeBytesAtomic } from './atomic.ts';
import { writePngText } from './png-metadata.ts';

export class ImageError extends Error {
  override name = 'ImageError';
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';
const FORMATS: readonly string[] = ['png', 'jpeg', 'webp'];

export interface ImageLimits {
  /** Largest width or height accepted. */
  readonly maxDimension?: number;
  /** Largest width × height accepted. */
  readonly maxPixels?: number;
  /** Largest file accepted, in bytes. */
  readonly maxBytes?: number;
}

export const DEFAULT_IMAGE_LIMITS: Required<ImageLimits> = {
  maxDimension: 16384,
  maxPixels: 64 * 1024 * 1024,
  maxBytes: 256 * 1024 * 1024,
};

/**
 * Limits for pictures decoded whole into float32 while the studio waits (training.scan hashes each picture
 * at its own size): 4096² pixels is about 200 MB as float32 RGB; bigger pictures are refused by their
 * header before anything is decoded.
 */
export const SCAN_IMAGE_LIMITS: Required<ImageLimits> = { ...DEFAULT_IMAGE_LIMITS, maxDimension: 8192, maxPixels: 4096 * 4096 };

/** The largest side a generation job takes or makes (the job specs' width/height cap). */
export const MAX_JOB_SIDE = 4096;

export interface ImageHeader {
  readonly format: ImageFormat;
  /** Size as shown, after the EXIF orientation (orientations 5–8 swap the sides). */
  readonly width: number;
  readonly height: number;
}

/**
 * Reads a picture's format and size from its header only, and checks them (and the byte count) against
 * the limits: the one gate every picture the studio reads passes before it is decoded. PNG, JPEG and WebP
 * only (SVG, GIF, TIFF, HEIF … are refused). `what` names the picture in messages.
 */
export async function probeImage(bytes: Uint8Array, limits: ImageLimits = {}, what = 'the image'): Promise<ImageHeader> {
  const lim = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  if (bytes.length === 0) throw new ImageError(`${what} is empty`);
  if (bytes.length > lim.maxBytes) throw new ImageError(`${what} is ${bytes.length} bytes, over the ${lim.maxBytes}-byte limit for images`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageError(`${what} is not a readable image (${(err as Error).message})`);
  }
  if (!meta.format || !FORMATS.includes(meta.format)) {
    throw new ImageError(`${what} is ${meta.format ?? 'of an unknown format'}; images must be PNG, JPEG or WebP`);
  }
  if ((meta.pages ?? 1) > 1) throw new ImageError(`${what} is animated (${meta.pages} frames); use a still PNG, JPEG or WebP`);
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w < 1 || h < 1) throw new ImageError(`${what} has no valid size in its header`);
  if (w > lim.maxDimension || h > lim.maxDimension) {
    throw new ImageError(`${what} is ${w}x${h}; the largest side allowed is ${lim.maxDimension} pixels`);
  }
  if (w * h > lim.maxPixels) throw new ImageError(`${what} is ${w}x${h}, ${w * h} pixels, over the limit of ${lim.maxPixels}`);
  const swap = (meta.orientation ?? 1) >= 5;
  return { format: meta.format as ImageFormat, width: swap ? h : w, height: swap ? w : h };
}

/**
 * A picture made safe for the pipelines: checked by its header (probeImage), decoded with the pixel
 * limit, EXIF orientation applied, alpha flattened on white, sRGB; returned as an 8-bit RGB PNG.
 */
export async function normalizeImage(bytes: Uint8Array, limits: ImageLimits = {}, what = 'the image'): Promise<{ png: Buffer; width: number; height: number }> {
  const lim = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  await probeImage(bytes, lim, what);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: lim.maxPixels, failOn: 'truncated' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .png({ compressionLevel: 1 })
      .toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } catch (err) {
    throw new ImageError(`cannot decode ${what} (corrupt or truncated?): ${(err as Error).message}`);
  }
}

/** A picture re-encoded as PNG as it is (alpha kept), after the header check: e.g. a canvas upload. */
export async function toPng(bytes: Uint8Array, limits: ImageLimits = {}, what = 'the image'): Promise<Buffer> {
  const lim = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  await probeImage(bytes, lim, what);
  try {
    return await sharp(bytes, { limitInputPixels: lim.maxPixels, failOn: 'truncated' }).rotate().png().toBuffer();
  } catch (err) {
    throw new ImageError(`cannot decode ${what} (corrupt or truncated?): ${(err as Error).message}`);
  }
}

export type Fit = 'cover' | 'fill' | 'contain';

export interface LoadImageOptions extends ImageLimits {
  /** Resize on load. 'cover' (default) scales to fill and crops the centre; 'contain' pads with white. */
  readonly resize?: { readonly width: number; readonly height: number; readonly fit?: Fit };
}

export interface LoadedImage {
  /** [1, 3, H, W] float32, RGB in [-1, 1]. */
  readonly tensor: TensorData<'float32'>;
  readonly width: number;
  readonly height: number;
  readonly format: ImageFormat;
}

function describe(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : `image (${input.length} bytes)`;
}

function checkSize(w: number, h: number, what: string): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || w > 65535 || h > 65535) {
    throw new ImageError(`${what} ${w}x${h} is not a valid image size (whole numbers from 1 to 65535)`);
  }
}

/** Decodes an image file or bytes into [1, 3, H, W] float32 in [-1, 1]. */
export async function loadImage(input: string | Uint8Array, opts: LoadImageOptions = {}): Promise<LoadedImage> {
  const lim = { ...DEFAULT_IMAGE_LIMITS, ...opts };
  const name = describe(input);
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    let size: number;
    try {
      size = (await fsp.stat(input)).size;
    } catch (err) {
      throw new ImageError(`cannot read image ${input}: ${(err as Error).message}`);
    }
    if (size > lim.maxBytes) throw new ImageError(`${input} is ${size} bytes, over the ${lim.maxBytes}-byte limit for images`);
    bytes = await fsp.readFile(input);
  } else {
    bytes = input;
    if (bytes.length > lim.maxBytes) throw new ImageError(`${name} is over the ${lim.maxBytes}-byte limit for images`);
  }
  if (opts.resize) checkSize(opts.resize.width, opts.resize.height, 'requested size');

  const header = await probeImage(bytes, lim, name);

  let pipeline = sharp(bytes, { limitInputPixels: lim.maxPixels, failOn: 'truncated' })
    .rotate() // EXIF orientation
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb');
  if (opts.resize) {
    const fit = opts.resize.fit ?? 'cover';
    pipeline = pipeline.resize(opts.resize.width, opts.resize.height, { fit, position: 'centre', background: '#ffffff' });
  }
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new ImageError(`cannot decode ${name} (corrupt or truncated?): ${(err as Error).message}`);
  }
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new ImageError(`decoding ${name} gave ${info.channels} channels; expected RGB`);
  }
  return {
    tensor: rgb8ToTensor(data, info.width, info.height),
    width: info.width,
    height: info.height,
    format: header.format,
  };
}

/** Interleaved 8-bit RGB → [1, 3, H, W] float32 in [-1, 1]. */
export function rgb8ToTensor(rgb: Uint8Array, width: number, height: number): TensorData<'float32'> {
  const hw = width * height;
  if (rgb.length !== hw * 3) throw new ImageError(`RGB data of ${width}x${height} needs ${hw * 3} bytes, got ${rgb.length}`);
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    out[p] = rgb[3 * p]! / 127.5 - 1;
    out[hw + p] = rgb[3 * p + 1]! / 127.5 - 1;
    out[2 * hw + p] = rgb[3 * p + 2]! / 127.5 - 1;
  }
  return tensor('float32', [1, 3, height, width], out);
}

/** The [H, W] of an image tensor [1, 3, H, W] or [3, H, W]; throws for anything else. */
function imageDims(t: TensorData): [number, number] {
  const s = t.shape;
  const ok = t.dtype === 'float32' && ((s.length === 4 && s[0] === 1 && s[1] === 3) || (s.length === 3 && s[0] === 3));
  if (!ok) throw new ImageError(`expected a float32 image tensor [1, 3, H, W] or [3, H, W], got ${t.dtype} [${s.join(', ')}]`);
  const h = s[s.length - 2]!;
  const w = s[s.length - 1]!;
  checkSize(w, h, 'image tensor');
  return [h, w];
}

/** [1, 3, H, W] float in [-1, 1] → interleaved 8-bit RGB, clamped and rounded (NaN → 0). */
export function tensorToRgb8(t: TensorData): { data: Uint8Array; width: number; height: number } {
  const [h, w] = imageDims(t);
  const src = t.data as Float32Array;
  const hw = h * w;
  const out = new Uint8Array(hw * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < hw; p++) {
      const v = Math.round((src[c * hw + p]! + 1) * 127.5);
      out[3 * p + c] = v > 255 ? 255 : v >= 0 ? v : 0;
    }
  }
  return { data: out, width: w, height: h };
}

export interface EncodePngOptions {
  /** PNG text chunks, e.g. { parameters: formatParameters(…) }. */
  readonly text?: Readonly<Record<string, string>>;
  /** zlib level 0–9 (default 6). */
  readonly compressionLevel?: number;
}

/** [1, 3, H, W] float in [-1, 1] → PNG bytes, with text chunks right after IHDR. */
export async function encodePng(t: TensorData, opts: EncodePngOptions = {}): Promise<Uint8Array> {
  const { data, width, height } = tensorToRgb8(t);
  const png = new Uint8Array(
    await sharp(data, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel: opts.compressionLevel ?? 6 })
      .toBuffer(),
  );
  return opts.text && Object.keys(opts.text).length > 0 ? writePngText(png, opts.text) : png;
}

/** Writes the image as a PNG file atomically (temp file, fsync, rename). */
export async function saveImage(file: string, t: TensorData, opts: EncodePngOptions = {}): Promise<void> {
  await writeBytesAtomic(file, await encodePng(t, opts));
}

export type ResampleFilter = 'lanczos3' | 'bilinear' | 'nearest';

/**
 * Resizes an image tensor [1, C, H, W] (any C: 3 for pictures, 1 for masks) to width × height in float
 * precision: 'cover' scales to fill and crops the centre, 'fill' stretches. Separable resampling with
 * the filter widened when shrinking (antialiased, as PIL does); use 'bilinear' for masks, since Lanczos
 * overshoots at hard edges. (sharp reads raw float input as 16-bit, so this is done here.)
 */
export function resizeTensor(
  t: TensorData,
  width: number,
  height: number,
  { fit = 'cover', filter = 'lanczos3' }: { fit?: 'cover' | 'fill'; filter?: ResampleFilter } = {},
): TensorData<'float32'> {
  const s = t.shape;
  if (t.dtype !== 'float32' || s.length !== 4 || s[0] !== 1 || !(s[1]! >= 1)) {
    throw new ImageError(`expected a float32 tensor [1, C, H, W], got ${t.dtype} [${s.join(', ')}]`);
  }
  checkSize(width, height, 'requested size');
  const [c, h, w] = [s[1]!, s[2]!, s[3]!];
  checkSize(w, h, 'image tensor');
  // The source box that maps onto the output: all of it for 'fill', the centred box of the output's aspect for 'cover'.
  let bw = w;
  let bh = h;
  if (fit === 'cover') {
    if (w * height > h * width) bw = (h * width) / height;
    else bh = (w * height) / width;
  }
  const xs = axisWeights(w, (w - bw) / 2, bw, width, filter);
  const ys = axisWeights(h, (h - bh) / 2, bh, height, filter);
  const src = t.data as Float32Array;
  const out = new Float32Array(c * width * height);
  const row = new Float32Array(h * width); // one channel after the horizontal pass
  for (let ch = 0; ch < c; ch++) {
    const base = ch * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < width; x++) {
        const { start, weights } = xs[x]!;
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k]! * src[base + y * w + start + k]!;
        row[y * width + x] = acc;
      }
    }
    const obase = ch * width * height;
    for (let y = 0; y < height; y++) {
      const { start, weights } = ys[y]!;
      for (let x = 0; x < width; x++) {
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k]! * row[(start + k) * width + x]!;
        out[obase + y * width + x] = acc;
      }
    }
  }
  return tensor('float32', [1, c, height, width], out);
}

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, { support: number; f: (x: number) => number }> = {
  bilinear: { support: 1, f: (x) => Math.max(0, 1 - Math.abs(x)) },
  lanczos3: {
    support: 3,
    f: (x) => {
      if (x === 0) return 1;
      if (Math.abs(x) >= 3) return 0;
      const px = Math.PI * x;
      return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
    },
  },
};

/** For each output pixel along one axis: the first source pixel and the normalised filter weights. */
function axisWeights(n: number, boxStart: number, boxLen: number, outN: number, filter: ResampleFilter): { start: number; weights: Float64Array }[] {
  const scale = boxLen / outN;
  const out: { start: number; weights: Float64Array }[] = [];
  for (let i = 0; i < outN; i++) {
    const centre = boxStart + (i + 0.5) * scale;
    if (filter === 'nearest') {
      out.push({ start: Math.min(n - 1, Math.max(0, Math.floor(centre))), weights: Float64Array.of(1) });
      continue;
    }
    const { support, f } = FILTERS[filter];
    const stretch = Math.max(scale, 1);
    const lo = Math.max(0, Math.floor(centre - support * stretch));
    const hi = Math.min(n, Math.ceil(centre + support * stretch));
    const weights = new Float64Array(hi - lo);
    let sum = 0;
    for (let j = lo; j < hi; j++) sum += weights[j - lo] = f((j + 0.5 - centre) / stretch);
    for (let k = 0; k < weights.length; k++) weights[k]! /= sum;
    out.push({ start: lo, weights });
  }
  return out;
}
