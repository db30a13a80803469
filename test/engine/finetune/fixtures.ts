// Fixtures for the fine-tuning tests, made by our code: the tiny random base model package and small
// picture folders with a distinctive pattern (magenta and green stripes) written as real PNGs.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { saveModelPackage } from '../../../electron/engine/io/model-package.ts';
import { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { rgb8ToTensor } from '../../../electron/engine/io/image.ts';
import { TINY_AUTOENCODER, TINY_TEXT, TINY_UNET, TINY_VOCAB, tinySpec, tinyWeights } from '../pipelines/tiny-model.ts';

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

/**
 * The tiny random model as a package whose latent scale factor is measured on striped pictures (1/std,
 * as the paper prescribes), so its diffusion task sees unit-variance latents as a real model's does.
 */
export async function tinyBase(dir: string): Promise<string> {
  const weights = tinyWeights(1);
  const probe = new LoadedModel({ ...tinySpec({ kind: 'memory', tensors: weights }), scaleFactor: 1 });
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const z = (await probe.encodeImage(rgb8ToTensor(stripes(32, 2 + (i % 4), i), 32, 32))).data;
    for (const v of z) {
      sum += v;
      sq += v * v;
      n++;
    }
  }
  await probe.release();
  const std = Math.sqrt(sq / n - (sum / n) ** 2);
  await saveModelPackage(
    dir,
    {
      name: 'tiny-base',
      kind: 'txt2img',
      architecture: { autoencoder: TINY_AUTOENCODER, unet: TINY_UNET, textEncoder: TINY_TEXT },
      tokenizer: { type: 'word', vocabulary: TINY_VOCAB, maxLength: TINY_TEXT.maxLength },
      scheduler: { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, trainTimesteps: 1000, prediction: 'epsilon' },
      sampling: { sampler: 'ddim', steps: 8, guidance: 2, width: 32, height: 32 },
      latentScaleFactor: 1 / std,
      provenance: { createdBy: 'test/engine/finetune/fixtures.ts', seed: 1 },
      license: 'Apache-2.0',
    },
    weights,
  );
  return dir;
}
