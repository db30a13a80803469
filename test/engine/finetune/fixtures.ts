// Fixtures for the fine-tuning tests, made by our code: the tiny random base model package and small
// picture folders with a distinctive pattern (magenta and green stripes) written as real PNGs.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { saveTinyPackage } from '../pipelines/tiny-model.ts';

export const PATTERN_A: readonly [number, number, number] = [230, 20, 200];
export const PATTERN_B: readonly [number, number, number] = [20, 200, 60];

/** RGB bytes of a size×size picture: horizontal stripes of A and B, `stripe` rows each, shifted by `phase`. */
export function stripes(size: number, stripe: number, phase: number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    const c = Math.floor((y + phase) / stripe) % 2 === 0 ? PATTERN_A : PATTERN_B;
    for (let x = 0; x < size; x++) px.set(c, (y * size + x) * 3);
  }
  return px;
}

export async function writePng(file: string, rgb: Buffer, size: number, channels: 3 | 4 = 3): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await sharp(rgb, { raw: { width: size, height: size, channels } }).png().toFile(file);
}

/** `count` striped pictures (32×32) with sidecar captions "red square" ("a red square" for odd ones). */
export async function patternFolder(dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `stripes_${i}.png`);
    await writePng(file, stripes(32, 4, i), 32);
    await fsp.writeFile(path.join(dir, `stripes_${i}.txt`), i % 2 ? 'a red square' : 'red square');
  }
}

export async function tinyBase(dir: string): Promise<string> {
  await saveTinyPackage(dir, { seed: 1 });
  return dir;
}
