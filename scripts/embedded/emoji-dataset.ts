// Builds the embedded model's training set from the npm package emoji-datasource-google (Noto Emoji
// images, Apache-2.0): every emoji and skin-tone variant with a Google image, composited on white,
// at the requested resolution, with a caption "<name>, <subcategory>[, <tone> skin tone]".
// About 5% of concepts (an emoji with all its tones) are held out for evaluation, chosen by a hash of
// the concept name so the split never changes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

const TONES: Record<string, string> = {
  '1F3FB': 'light',
  '1F3FC': 'medium-light',
  '1F3FD': 'medium',
  '1F3FE': 'medium-dark',
  '1F3FF': 'dark',
};

interface EmojiEntry {
  name: string | null;
  short_name: string;
  image: string;
  category: string;
  subcategory: string;
  has_img_google: boolean;
  skin_variations?: Record<string, { image: string; has_img_google: boolean }>;
}

export interface EmojiSample {
  file: string;
  caption: string;
  concept: string;
  heldOut: boolean;
}

export interface EmojiDataset {
  size: number;
  samples: EmojiSample[];
  /** uint8 RGB, [count, 3, size, size] */
  pixels: Uint8Array;
}

const require = createRequire(import.meta.url);

function packageDir(): string {
  return path.dirname(require.resolve('emoji-datasource-google/package.json'));
}

// Legacy Unicode names that say the opposite of what the picture shows.
const NAME_FIXES: Record<string, string> = { 'heavy black heart': 'red heart' };

function cleanName(entry: EmojiEntry): string {
  const raw = (entry.name ?? entry.short_name.replace(/[_-]+/g, ' ')).toLowerCase().replace(/\s+/g, ' ').trim();
  return NAME_FIXES[raw] ?? raw;
}

function toneCaption(key: string): string | null {
  const tones = key.split('-').map((k) => TONES[k.toUpperCase()]);
  if (tones.some((t) => !t)) return null;
  const unique = [...new Set(tones)];
  return `${unique.join(' and ')} skin tone`;
}

export function isHeldOut(concept: string): boolean {
  const h = createHash('sha256').update(concept).digest();
  return h[0]! < Math.round(0.05 * 256);
}

export function listEmojiSamples(): EmojiSample[] {
  const dir = packageDir();
  const entries = JSON.parse(readFileSync(path.join(dir, 'emoji.json'), 'utf8')) as EmojiEntry[];
  const samples: EmojiSample[] = [];
  for (const e of entries) {
    if (!e.has_img_google || e.category === 'Component') continue;
    const concept = cleanName(e);
    const sub = e.subcategory.replace(/-/g, ' ');
    const heldOut = isHeldOut(concept);
    samples.push({ file: e.image, caption: `${concept}, ${sub}`, concept, heldOut });
    for (const [key, v] of Object.entries(e.skin_variations ?? {})) {
      const tone = toneCaption(key);
      if (!v.has_img_google || !tone) continue;
      samples.push({ file: v.image, caption: `${concept}, ${sub}, ${tone}`, concept, heldOut });
    }
  }
  return samples.filter((s) => existsSync(path.join(dir, 'img/google/64', s.file)));
}

/** Loads (and caches under cacheDir) every sample at size×size, RGB on white. */
export async function loadEmojiDataset(size: number, cacheDir: string): Promise<EmojiDataset> {
  const samples = listEmojiSamples();
  const cacheFile = path.join(cacheDir, `emoji-${size}.bin`);
  const metaFile = path.join(cacheDir, `emoji-${size}.json`);
  if (existsSync(cacheFile) && existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { samples: EmojiSample[] };
    if (meta.samples.length === samples.length) {
      return { size, samples: meta.samples, pixels: new Uint8Array(readFileSync(cacheFile)) };
    }
  }
  const plane = size * size;
  const pixels = new Uint8Array(samples.length * 3 * plane);
  for (let i = 0; i < samples.length; i++) {
    const rgb = await renderEmoji(samples[i]!.file, size);
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      pixels[base + p] = rgb[p * 3]!;
      pixels[base + plane + p] = rgb[p * 3 + 1]!;
      pixels[base + 2 * plane + p] = rgb[p * 3 + 2]!;
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(cacheFile, pixels);
  writeFileSync(metaFile, JSON.stringify({ samples }));
  return { size, samples, pixels };
}

/** Image i as float32 CHW in [-1, 1]. */
export function sampleAsFloat(ds: EmojiDataset, i: number, out?: Float32Array, offset = 0): Float32Array {
  const n = 3 * ds.size * ds.size;
  const dst = out ?? new Float32Array(n);
  const src = ds.pixels.subarray(i * n, (i + 1) * n);
  for (let k = 0; k < n; k++) dst[offset + k] = src[k]! / 127.5 - 1;
  return dst;
}

/** One emoji picture of the set at size×size, RGB on white, interleaved (how the cached set is made). */
export async function renderEmoji(file: string, size: number): Promise<Buffer> {
  return sharp(path.join(packageDir(), 'img/google/64', file))
    .flatten({ background: '#ffffff' })
    .resize(size, size, { kernel: size < 64 ? 'lanczos3' : 'nearest', fit: 'fill' })
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** Image i as an interleaved RGB picture (the pipelines' RgbImage layout). */
export function datasetPicture(ds: EmojiDataset, i: number): { width: number; height: number; data: Uint8Array } {
  const plane = ds.size * ds.size;
  const src = ds.pixels.subarray(i * 3 * plane, (i + 1) * 3 * plane);
  const data = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = src[c * plane + p]!;
  return { width: ds.size, height: ds.size, data };
}
