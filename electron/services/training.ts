// training.scan: what a dataset folder holds before a run (images, captions, files that cannot be used).
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { StudioError } from '../api/contract.ts';
import type { DatasetScan } from '../api/training.ts';

const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg', '.webp']);
const MIN_SIDE = 16;
const MAX_PIXELS = 64 * 1024 * 1024;

export async function scanDataset(dir: string, recursive: boolean, triggerWord: string): Promise<DatasetScan> {
  if (!existsSync(dir)) throw new StudioError(`No folder at ${dir}: pick the folder that holds the training images.`, 'not_found');
  const scan: DatasetScan = { datasetDir: dir, images: [], rejected: [] };
  for (const file of await listFiles(dir, recursive)) {
    if (!IMAGE_EXTS.has(extname(file).toLowerCase())) continue;
    try {
      const meta = await sharp(file).metadata();
      const w = meta.width ?? 0;
      const h = meta.height ?? 0;
      if (w < MIN_SIDE || h < MIN_SIDE) throw new Error(`too small (${w}x${h}; at least ${MIN_SIDE} pixels a side)`);
      if (w * h > MAX_PIXELS) throw new Error(`too large (${w}x${h})`);
      await sharp(file).stats(); // decodes every pixel: truncated files fail here
      const { caption, source } = await captionFor(file);
      const full = triggerWord ? `${triggerWord}, ${caption}` : caption;
      scan.images.push({ path: file, caption: full, captionSource: source, width: w, height: h });
    } catch (err) {
      scan.rejected.push({ path: file, reason: (err as Error).message });
    }
  }
  return scan;
}

async function listFiles(dir: string, recursive: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile()) out.push(p);
    else if (e.isDirectory() && recursive) out.push(...(await listFiles(p, true)));
  }
  return out.sort();
}

async function captionFor(file: string): Promise<{ caption: string; source: 'sidecar' | 'filename' }> {
  const stem = file.slice(0, -extname(file).length);
  for (const ext of ['.txt', '.caption']) {
    if (existsSync(stem + ext)) {
      const text = (await readFile(stem + ext, 'utf8')).replace(/^\uFEFF/, '').trim();
      if (text) return { caption: text, source: 'sidecar' };
    }
  }
  return { caption: basename(stem).replace(/[_-]+/g, ' ').trim(), source: 'filename' };
}
