// A training data set from a local folder: PNG / JPEG / WebP pictures, each with a caption from a
// sidecar (`stem.txt` or `stem.caption`, UTF-8, BOM tolerated) or else from its file name, decoded
// (alpha on white), resized and centre-cropped to the training size. A file that cannot be used is
// listed with its reason and never stops the scan; duplicates are found by a hash of the pixels as
// trained, so re-encoded copies count too.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { writeBytesAtomic } from './atomic.ts';
import { BucketPlanner, bucketTable, cropOffset, type BucketChoice, type BucketOptions, type BucketTable, type Size } from './buckets.ts';
import { DEFAULT_IMAGE_LIMITS, loadImage, type ImageLimits } from './image.ts';

export class DatasetError extends Error {
  override name = 'DatasetError';
}

const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg', '.webp']);
const CAPTION_EXTS = ['.txt', '.caption'] as const;
const MAX_CAPTION_BYTES = 64 * 1024;

export interface ScanOptions {
  /** Also read sub-folders. */
  readonly recursive?: boolean;
  /** Put in front of every caption (unless the caption already starts with it). */
  readonly triggerWord?: string;
  /** Pictures with a side below this are rejected as too small (default 16). */
  readonly minSide?: number;
  /** Largest file, side and pixel count accepted (io/image defaults). */
  readonly limits?: ImageLimits;
  readonly signal?: AbortSignal;
}

export interface DatasetOptions extends ScanOptions {
  /** Training size in pixels; every picture is scaled to cover it and centre-cropped. */
  readonly width: number;
  readonly height: number;
  /** Called with each accepted picture, in order, while its pixels are at hand (e.g. to encode it). */
  readonly onPicture?: (item: DatasetItem) => Promise<void>;
  /** Keep every picture's pixels in the result (default true); false bounds memory for big folders. */
  readonly keepPixels?: boolean;
  /**
   * Aspect-ratio buckets (io/buckets.ts, kohya's): each picture is resized to its bucket and centre-cropped
   * instead of to width×height; `resolution` defaults to `width`.
   */
  readonly buckets?: Omit<BucketOptions, 'resolution'> & { readonly resolution?: number };
}

export interface ScannedPicture {
  readonly path: string;
  readonly caption: string;
  readonly captionSource: 'sidecar' | 'filename';
  /** Size of the file's picture before resizing. */
  readonly width: number;
  readonly height: number;
  /** sha256 (hex) of the decoded pixels (as trained, for loadDataset). */
  readonly hash: string;
}

export interface DatasetItem extends ScannedPicture {
  /** [3, height, width] float32 RGB in [-1, 1] at the training size (its bucket's, with buckets). */
  readonly pixels: Float32Array;
  /** [width, height] of `pixels`: the training size, or the picture's bucket. */
  readonly size: Size;
  /** With buckets: how the picture was placed (bucket, resized size, aspect-ratio error). */
  readonly bucket?: BucketChoice;
}

export interface RejectedFile {
  readonly path: string;
  readonly reason: string;
}

export interface DatasetScan {
  readonly dir: string;
  readonly items: readonly ScannedPicture[];
  readonly rejected: readonly RejectedFile[];
}

export interface Dataset {
  readonly dir: string;
  readonly width: number;
  readonly height: number;
  readonly items: readonly DatasetItem[];
  readonly rejected: readonly RejectedFile[];
  /** sha256 over the items' pixel hashes and captions: names the data set for caches and metadata. */
  readonly hash: string;
  /** With buckets: the buckets used and their counts (kohya's bucket_info), and whether pictures may be enlarged. */
  readonly buckets?: BucketTable & { readonly noUpscale: boolean };
}

/**
 * What a folder holds, by the same rules as loadDataset (every picture decoded, duplicates found at its
 * own size), without keeping pixels: for showing a data set before training.
 */
export async function scanDataset(dir: string, o: ScanOptions = {}): Promise<DatasetScan> {
  const { items, rejected } = await readFolder(dir, o, null, undefined, false);
  return { dir, items: items.map(({ pixels: _, ...rest }) => rest), rejected };
}

/** Reads every usable picture of `dir` at the training size; throws only when the folder itself cannot be read. */
export async function loadDataset(dir: string, o: DatasetOptions): Promise<Dataset> {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1) {
    throw new DatasetError(`training size ${o.width}x${o.height} must be whole numbers ≥ 1`);
  }
  const planner = o.buckets ? new BucketPlanner({ ...o.buckets, resolution: o.buckets.resolution ?? o.width }) : null;
  const size: Sizing = planner ? { planner } : { width: o.width, height: o.height };
  const { items, rejected } = await readFolder(dir, o, size, o.onPicture, o.keepPixels ?? true);
  const h = createHash('sha256');
  for (const it of items) h.update(`${it.hash}\n${it.caption}\n`);
  // Bucketed data: the bucket is part of what is trained, so it names the data set too.
  if (planner) for (const it of items) h.update(`${it.size.join('x')}\n`);
  const buckets = planner ? { ...bucketTable(items.map((i) => i.bucket!)), noUpscale: planner.options.noUpscale } : undefined;
  return { dir, width: o.width, height: o.height, items, rejected, hash: h.digest('hex'), ...(buckets ? { buckets } : {}) };
}

const NO_PIXELS = new Float32Array(0);

/** A failure of the caller's onPicture: it stops the read instead of rejecting the picture. */
class CallbackError {
  constructor(readonly cause: unknown) {}
}

/** How pictures are sized: one training size (cover + centre crop), or each to its bucket. */
type Sizing = { readonly width: number; readonly height: number } | { readonly planner: BucketPlanner };

/** Pictures decoded (resized per `size`, or at their own size when null), handed to `each`, kept when `keep`. */
async function readFolder(
  dir: string,
  o: ScanOptions,
  size: Sizing | null,
  each: ((item: DatasetItem) => Promise<void>) | undefined,
  keep: boolean,
): Promise<{ items: DatasetItem[]; rejected: RejectedFile[] }> {
  const minSide = o.minSide ?? 16;
  const limits = { ...DEFAULT_IMAGE_LIMITS, ...o.limits };
  const files = await listFiles(dir, o.recursive ?? false);
  const names = new Set(files);
  const items: DatasetItem[] = [];
  const rejected: RejectedFile[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    if (!IMAGE_EXTS.has(path.extname(file).toLowerCase())) continue;
    o.signal?.throwIfAborted();
    try {
      const cap = await captionFor(file, names);
      // Buckets need the picture's size before decoding it; a file sharp cannot read fails in loadImage with its clear reason.
      const early = size && 'planner' in size ? await originalSize(file).catch(() => loadImage(file, limits).then(() => null)) : null;
      const choice = early && early.width >= minSide && early.height >= minSide ? (size as { planner: BucketPlanner }).planner.select(early.width, early.height) : undefined;
      const img = await loadImage(
        file,
        choice ? { ...limits, resize: { width: choice.resized[0], height: choice.resized[1], fit: 'fill' } }
        : size && 'width' in size ? { ...limits, resize: { ...size, fit: 'cover' } } : limits,
      );
      const src = early ?? (await originalSize(file));
      if (src.width < minSide || src.height < minSide) {
        throw new DatasetError(`too small (${src.width}x${src.height}; at least ${minSide} pixels a side)`);
      }
      const pixels = choice ? cropCentre(img.tensor.data, choice.resized, choice.bucket) : img.tensor.data;
      const px: Size = choice ? choice.bucket : [img.width, img.height];
      const hash = createHash('sha256').update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)).digest('hex');
      const first = seen.get(hash);
      if (first !== undefined) throw new DatasetError(`duplicate of ${path.relative(dir, first)} (same pixels)`);
      seen.set(hash, file);
      const item: DatasetItem = {
        path: file, caption: withTrigger(cap.caption, o.triggerWord), captionSource: cap.source, ...src, hash, pixels, size: px, ...(choice ? { bucket: choice } : {}),
      };
      if (each) await each(item).catch((e: unknown) => Promise.reject(new CallbackError(e)));
      items.push(keep ? item : { ...item, pixels: NO_PIXELS });
    } catch (err) {
      if (err instanceof CallbackError) throw err.cause;
      if (o.signal?.aborted) throw err;
      rejected.push({ path: file, reason: (err as Error).message.replace(`${file} `, '').replace(file, path.basename(file)) });
    }
  }
  return { items, rejected };
}

/** [3, rh, rw] → the [3, bh, bw] window at kohya's centre-crop offset. */
function cropCentre(pixels: Float32Array, resized: Size, bucket: Size): Float32Array {
  const [rw, rh] = resized;
  const [bw, bh] = bucket;
  if (rw === bw && rh === bh) return pixels;
  const [left, top] = cropOffset(resized, bucket);
  const out = new Float32Array(3 * bw * bh);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < bh; y++) out.set(pixels.subarray(c * rw * rh + (top + y) * rw + left, c * rw * rh + (top + y) * rw + left + bw), c * bw * bh + y * bw);
  }
  return out;
}

async function listFiles(dir: string, recursive: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(`cannot read the data set folder ${dir}: ${(err as Error).message}; pick a folder of PNG, JPEG or WebP pictures`);
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isFile()) out.push(p);
    else if (e.isDirectory() && recursive) out.push(...(await listFiles(p, true)));
  }
  return out.sort();
}

async function originalSize(file: string): Promise<{ width: number; height: number }> {
  const m = await sharp(file).metadata();
  // EXIF orientations 5–8 swap the sides.
  const swap = (m.orientation ?? 1) >= 5;
  const w = m.width ?? 0;
  const h = m.pageHeight ?? m.height ?? 0;
  return swap ? { width: h, height: w } : { width: w, height: h };
}

const utf8 = new TextDecoder('utf-8', { fatal: true }); // strips a leading BOM

export interface PictureCaption {
  readonly caption: string;
  readonly source: 'sidecar' | 'filename';
}

function stemOf(file: string): string {
  return file.slice(0, file.length - path.extname(file).length);
}

/** The caption file a picture's caption is written to: `stem.txt` beside it (read before `stem.caption`). */
export function captionSidecar(imagePath: string): string {
  if (!IMAGE_EXTS.has(path.extname(imagePath).toLowerCase())) {
    throw new DatasetError(`${path.basename(imagePath)} is not a PNG, JPEG or WebP picture; captions belong to pictures`);
  }
  return stemOf(imagePath) + CAPTION_EXTS[0];
}

/** A picture's caption (without any trigger word) as a scan or a training run reads it now. */
export async function readCaption(imagePath: string): Promise<PictureCaption> {
  const stem = stemOf(imagePath);
  const present = new Set<string>();
  for (const ext of CAPTION_EXTS) {
    const st = await fsp.stat(stem + ext).catch(() => null);
    if (st?.isFile()) present.add(stem + ext);
  }
  return captionFor(imagePath, present);
}

/**
 * Writes a picture's caption to its `stem.txt` (UTF-8, atomically: the old caption or the new one,
 * never half of it) and reads it back as training will. An empty caption leaves the file empty, so
 * the file name (or a `.caption` file) gives the caption again.
 */
export async function writeCaption(imagePath: string, caption: string): Promise<PictureCaption & { readonly path: string }> {
  const side = captionSidecar(imagePath);
  const bytes = new TextEncoder().encode(caption.trim());
  if (bytes.length > MAX_CAPTION_BYTES) throw new DatasetError(`the caption is ${bytes.length} bytes; captions are at most ${MAX_CAPTION_BYTES}`);
  await writeBytesAtomic(side, bytes);
  return { path: side, ...(await readCaption(imagePath)) };
}

async function captionFor(file: string, files: ReadonlySet<string>): Promise<PictureCaption> {
  const stem = stemOf(file);
  for (const ext of CAPTION_EXTS) {
    const side = stem + ext;
    if (!files.has(side)) continue;
    const bytes = await fsp.readFile(side);
    if (bytes.length > MAX_CAPTION_BYTES) throw new DatasetError(`caption ${path.basename(side)} is ${bytes.length} bytes; captions are at most ${MAX_CAPTION_BYTES}`);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new DatasetError(`caption ${path.basename(side)} is not valid UTF-8; save it as UTF-8 text`);
    }
    const caption = text.replace(/\s+/g, ' ').trim();
    if (caption) return { caption, source: 'sidecar' };
  }
  return { caption: captionFromName(path.basename(stem)), source: 'filename' };
}

/** "red_heart-02 (1)" → "red heart": separators become spaces, trailing copy numbers go. */
export function captionFromName(stem: string): string {
  return stem
    .replace(/[_\-.]+/g, ' ')
    .replace(/(\s*\(\d+\)|\s+\d+)+$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

export function withTrigger(caption: string, trigger: string | undefined): string {
  const t = trigger?.trim();
  if (!t) return caption;
  if (caption.toLowerCase().startsWith(t.toLowerCase())) return caption;
  return caption ? `${t}, ${caption}` : t;
}
