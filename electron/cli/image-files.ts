// Pictures in and out of the CLI: any PNG/JPEG/WebP in, PNG out with the A1111 `parameters` chunk.
import { promises as fsp } from 'node:fs';
import { writeBytesAtomic } from '../engine/io/atomic.ts';
import { loadImage } from '../engine/io/image.ts';
import { tensorToImage, type RgbImage } from '../engine/pipelines/image.ts';
import { generatedPng } from '../engine/pipelines/output.ts';
import type { GeneratedImage } from '../engine/pipelines/types.ts';

export class ImageFileError extends Error {
  override name = 'ImageFileError';
}

export async function readFileBytes(file: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw new ImageFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** A picture file (PNG, JPEG or WebP; alpha composited on white) as RGB bytes, size-checked by io/image. */
export async function readImageFile(file: string): Promise<RgbImage> {
  try {
    await fsp.access(file);
  } catch {
    throw new ImageFileError(`cannot read ${file}: no such file`);
  }
  return tensorToImage((await loadImage(file)).tensor);
}

/** Encodes the picture as PNG with its parameters chunk and writes it atomically; returns the bytes. */
export async function writeGeneratedPng(file: string, g: GeneratedImage): Promise<Uint8Array> {
  const png = await generatedPng(g);
  try {
    await writeBytesAtomic(file, png);
  } catch (err) {
    throw new ImageFileError(`cannot write ${file}: ${(err as Error).message}`);
  }
  return png;
}
