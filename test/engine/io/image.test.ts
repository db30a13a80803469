import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import {
  ImageError,
  encodePng,
  loadImage,
  resizeTensor,
  rgb8ToTensor,
  saveImage,
  tensorToRgb8,
} from '../../../electron/engine/io/image.ts';
import { crc32, readPngText } from '../../../electron/engine/io/png-metadata.ts';
import { tensor } from '../../../electron/engine/tensor.ts';

/** Interleaved RGB(A) bytes → encoded image via sharp. */
function encode(data: number[], width: number, height: number, channels: 3 | 4, fmt: 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff'): Promise<Buffer> {
  const s = sharp(Uint8Array.from(data), { raw: { width, height, channels } });
  if (fmt === 'webp') return s.webp({ lossless: true }).toBuffer();
  if (fmt === 'jpeg') return s.jpeg({ quality: 95 }).toBuffer();
  return s.toFormat(fmt).toBuffer();
}

const to8 = (v: number): number => Math.round((v + 1) * 127.5);

async function expectImageError(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  expect((err as Error).message).toMatch(re);
}

/** A PNG whose IHDR claims width × height, with a valid CRC but (almost) no pixel data. */
function fakePngHeader(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(25);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, 13);
  ihdr.set(Buffer.from('IHDR'), 4);
  v.setUint32(8, width);
  v.setUint32(12, height);
  ihdr.set([8, 2, 0, 0, 0], 16); // 8-bit RGB
  v.setUint32(21, crc32(ihdr.subarray(4, 21)));
  const z = zlib.deflateSync(Buffer.alloc(16));
  const idat = new Uint8Array(12 + z.length);
  new DataView(idat.buffer).setUint32(0, z.length);
  idat.set(Buffer.from('IDAT'), 4);
  idat.set(z, 8);
  new DataView(idat.buffer).setUint32(8 + z.length, crc32(idat.subarray(4, 8 + z.length)));
  const iend = Uint8Array.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), ihdr, idat, iend]);
}

let dir: string;
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'img-test-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('loadImage', () => {
  it('decodes PNG to [1, 3, H, W] in [-1, 1], compositing alpha on white', async () => {
    // 2×1: opaque red, half-transparent black
    const png = await encode([255, 0, 0, 255, 0, 0, 0, 128], 2, 1, 4, 'png');
    const img = await loadImage(png);
    expect(img).toMatchObject({ width: 2, height: 1, format: 'png' });
    expect(img.tensor.shape).toEqual([1, 3, 1, 2]);
    const d = Array.from(img.tensor.data);
    expect(d.map(to8)).toEqual([255, 127, 0, 127, 0, 127]); // R plane, G plane, B plane
    expect(Math.min(...d)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...d)).toBeLessThanOrEqual(1);
  });

  it('decodes lossless WebP exactly and JPEG closely, from bytes and from a file', async () => {
    const px = [10, 20, 30, 200, 150, 100, 0, 255, 128, 64, 64, 64];
    const webp = await loadImage(await encode(px, 2, 2, 3, 'webp'));
    expect(webp.format).toBe('webp');
    expect(Array.from(tensorToRgb8(webp.tensor).data)).toEqual(px);
    const file = path.join(dir, 'a.jpg');
    await fsp.writeFile(file, await encode(Array(8 * 8 * 3).fill(180), 8, 8, 3, 'jpeg'));
    const jpg = await loadImage(file);
    expect(jpg.format).toBe('jpeg');
    for (const v of tensorToRgb8(jpg.tensor).data) expect(Math.abs(v - 180)).toBeLessThanOrEqual(2);
  });

  it('reads 16-bit and greyscale PNGs as 8-bit RGB', async () => {
    const g16 = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 128, g: 64, b: 255 } } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect(Array.from(tensorToRgb8((await loadImage(g16)).tensor).data.subarray(0, 3))).toEqual([128, 64, 255]);
    const grey = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').png().toBuffer();
    expect(Array.from(tensorToRgb8((await loadImage(grey)).tensor).data)).toEqual(Array(12).fill(90));
  });

  it('applies EXIF orientation', async () => {
    const jpg = await sharp({ create: { width: 4, height: 2, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const img = await loadImage(jpg);
    expect([img.width, img.height]).toEqual([2, 4]);
  });

  it('resizes with a centre crop on load', async () => {
    // 6×2, one colour per column pair: cover to 2×2 keeps the middle two columns.
    const cols = [[255, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9], [9, 9, 9]];
    const px = [...cols, ...cols].flat();
    const img = await loadImage(await encode(px, 6, 2, 3, 'png'), { resize: { width: 2, height: 2 } });
    expect(Array.from(tensorToRgb8(img.tensor).data)).toEqual([0, 255, 0, 0, 0, 255, 0, 255, 0, 0, 0, 255]);
    const filled = await loadImage(await encode(px, 6, 2, 3, 'png'), { resize: { width: 3, height: 3, fit: 'fill' } });
    expect(filled.tensor.shape).toEqual([1, 3, 3, 3]);
  });

  it('checks sizes from the header before decoding', async () => {
    await expectImageError(loadImage(fakePngHeader(100_000, 10)), /largest side allowed is 16384/);
    await expectImageError(loadImage(fakePngHeader(16_000, 16_000)), /pixels, over the limit/);
    const small = await encode(Array(64 * 64 * 3).fill(1), 64, 64, 3, 'png');
    await expectImageError(loadImage(small, { maxPixels: 1000 }), /4096 pixels, over the limit of 1000/);
    await expectImageError(loadImage(small, { maxDimension: 32 }), /largest side allowed is 32/);
    await expectImageError(loadImage(small, { maxBytes: 10 }), /over the 10-byte limit/);
    await expectImageError(loadImage(small, { resize: { width: 0, height: 5 } }), /not a valid image size/);
  });

  it('gives a clear error for corrupt, truncated, missing or unsupported files', async () => {
    await expectImageError(loadImage(Uint8Array.from({ length: 100 }, (_, i) => i)), /not a readable image/);
    const png = await encode(Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 37) % 256), 32, 32, 3, 'png');
    await expectImageError(loadImage(png.subarray(0, png.length - 40)), /cannot decode .*corrupt or truncated/);
    const jpg = await encode(Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 37) % 256), 32, 32, 3, 'jpeg');
    await expectImageError(loadImage(jpg.subarray(0, jpg.length / 2)), /cannot decode/);
    await expectImageError(loadImage(path.join(dir, 'missing.png')), /cannot read image/);
    await expectImageError(loadImage(await encode([1, 2, 3], 1, 1, 3, 'gif')), /images must be PNG, JPEG or WebP/);
    await expectImageError(loadImage(await encode([1, 2, 3], 1, 1, 3, 'tiff')), /tiff; images must be/);
  });
});

describe('randomised corrupt images', () => {
  it('give an ImageError or a valid image, never another error', async () => {
    const px = Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 31) % 256);
    const sources = [await encode(px, 16, 16, 3, 'png'), await encode(px, 16, 16, 3, 'jpeg'), await encode(px, 16, 16, 3, 'webp')];
    let seed = 11;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let errors = 0;
    for (let trial = 0; trial < 240; trial++) {
      const b = Uint8Array.from(sources[trial % 3]!);
      const cut = trial % 4 === 0 ? Math.floor(rnd() * b.length) : b.length;
      for (let m = 0; m < 1 + Math.floor(rnd() * 4); m++) b[Math.floor(rnd() * Math.min(b.length, 120))] = Math.floor(rnd() * 256);
      try {
        const img = await loadImage(b.subarray(0, cut));
        expect(img.tensor.data.length).toBe(3 * img.width * img.height);
      } catch (e) {
        if (!(e instanceof ImageError)) throw new Error(`trial ${trial}: ${(e as Error).stack}`);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(60);
  });
});

describe('saving images', () => {
  it('encodes float NCHW to PNG with text chunks, and loads back the same pixels', async () => {
    const px = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 53) % 256);
    const t = rgb8ToTensor(px, 5, 3);
    const png = await encodePng(t, { text: { parameters: 'a cat\nSteps: 2, Sampler: DDIM, CFG scale: 1' } });
    expect(readPngText(png).get('parameters')).toMatch(/^a cat/);
    expect(Array.from(tensorToRgb8((await loadImage(png)).tensor).data)).toEqual(Array.from(px));
  });

  it('writes files atomically', async () => {
    const f = path.join(dir, 'out.png');
    const t = tensor('float32', [3, 2, 2], new Float32Array(12).fill(0.5));
    await saveImage(f, t, { text: { Software: 'test' } });
    await saveImage(f, t, { text: { Software: 'test 2' } });
    expect(readPngText(await fsp.readFile(f)).get('Software')).toBe('test 2');
    expect((await fsp.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('clamps, rounds and zeroes NaN', () => {
    const t = tensor('float32', [1, 3, 1, 1], Float32Array.from([2, -3, NaN]));
    expect(Array.from(tensorToRgb8(t).data)).toEqual([255, 0, 0]);
  });

  it('rejects tensors that are not images', async () => {
    await expect(encodePng(tensor('float32', [1, 4, 2, 2]))).rejects.toThrow(/\[1, 3, H, W\]/);
    await expect(encodePng(tensor('float32', [2, 3, 2, 2]))).rejects.toThrow(ImageError);
    expect(() => rgb8ToTensor(new Uint8Array(5), 2, 1)).toThrow(/needs 6 bytes/);
  });
});

describe('resizeTensor', () => {
  const ramp = (c: number, h: number, w: number) =>
    tensor('float32', [1, c, h, w], Float32Array.from({ length: c * h * w }, (_, i) => ((i % w) / (w - 1)) * 2 - 1));

  it('keeps a constant image constant and the same size unchanged', () => {
    const k = tensor('float32', [1, 3, 7, 5], new Float32Array(105).fill(0.3));
    for (const v of resizeTensor(k, 3, 4).data) expect(v).toBeCloseTo(0.3, 6);
    const r = ramp(3, 4, 6);
    const same = resizeTensor(r, 6, 4, { fit: 'fill' });
    same.data.forEach((v, i) => expect(v).toBeCloseTo(r.data[i]!, 6));
  });

  it('widens the filter when shrinking (antialiased, as PIL)', () => {
    // Halving: the tent filter spans 2 source pixels each side. Output x=0 has its centre at 1.0, so
    // source columns 0, 1, 2 weigh 0.75, 0.75, 0.25 (÷ 1.75); the two rows weigh equally.
    const t = tensor('float32', [1, 1, 2, 4], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    const col = (a: number, b: number, c: number) => (0.75 * a + 0.75 * b + 0.25 * c) / 1.75;
    const want0 = (col(0, 1, 2) + col(4, 5, 6)) / 2;
    const want1 = (col(3, 2, 1) + col(7, 6, 5)) / 2;
    const got = resizeTensor(t, 2, 1, { fit: 'fill', filter: 'bilinear' }).data;
    expect(got[0]).toBeCloseTo(want0, 6);
    expect(got[1]).toBeCloseTo(want1, 6);
  });

  it('crops the centre for cover', () => {
    // 1×1×1×6 columns 0..5 → 1×2 from a 1×2-aspect box: columns around the centre.
    const t = tensor('float32', [1, 1, 1, 6], Float32Array.from([0, 1, 2, 3, 4, 5]));
    expect(Array.from(resizeTensor(t, 2, 1, { filter: 'nearest' }).data)).toEqual([2, 3]);
  });

  it('does not overshoot a hard mask edge with bilinear', () => {
    const m = tensor('float32', [1, 1, 8, 8], Float32Array.from({ length: 64 }, (_, i) => (i % 8 < 4 ? 0 : 1)));
    const r = resizeTensor(m, 13, 13, { filter: 'bilinear' });
    expect(Math.min(...r.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...r.data)).toBeLessThanOrEqual(1);
  });

  it('rejects bad shapes and sizes', () => {
    expect(() => resizeTensor(tensor('float32', [3, 4, 4]), 2, 2)).toThrow(ImageError);
    expect(() => resizeTensor(ramp(1, 2, 2), 0, 2)).toThrow(/not a valid image size/);
  });
});
