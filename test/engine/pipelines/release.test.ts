// The paper's releases through the studio's pipelines (pipelines/release.ts), on tiny files in their exact
// key layout: a class (by name or index) as the prompt, "no class" as the empty negative prompt, the
// inpainting release fed in its own channel order, and Upscale ×4 on bsr_sr and on a KL-f4 SR model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inpaint } from '../../../electron/engine/pipelines/inpaint.ts';
import { rgbImage, type RgbImage } from '../../../electron/engine/pipelines/image.ts';
import { isReleaseFile, openRelease, padToMultiple, upscale, type ReleaseModel } from '../../../electron/engine/pipelines/release.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { saveSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { promptTokenizerFor } from '../../../electron/engine/text/token-count.ts';
import { writeTinyRelease, type TinyRelease } from '../families/ldm-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-release-pipes-'));
const file = (k: TinyRelease) => join(dir, `${k}.safetensors`);
const opened: ReleaseModel[] = [];
const open = async (k: TinyRelease) => {
  const m = await openRelease(file(k), k, '0123456789');
  opened.push(m);
  return m;
};

beforeAll(async () => {
  for (const k of ['cin', 'sr', 'sr-kl', 'inpaint'] as const) await writeTinyRelease(k, null, file(k));
  await writeTinyRelease('vq-f4', null, file('vq-f4'));
  await writeTinyRelease('txt2img', null, file('txt2img'));
});
afterAll(async () => {
  for (const m of opened) await m.close();
  rmSync(dir, { recursive: true, force: true });
});

function picture(width: number, height: number, seed: number): RgbImage {
  return rgbImage(width, height, Uint8Array.from({ length: width * height * 3 }, (_, i) => Math.round(127 + 120 * Math.sin(i * 0.21 + seed))));
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('the paper\'s releases in the pipelines', () => {
  it('tells release files from others by their header', async () => {
    expect(await isReleaseFile(file('cin'))).toBe(true);
    expect(await isReleaseFile(file('vq-f4'))).toBe(true);
    expect(await isReleaseFile(join(dir, 'missing.safetensors'))).toBe(false);
    // an SDXL UNet has the paper's UNet names too, but its conditioner says what it is
    const xl = join(dir, 'xl.safetensors');
    await saveSafetensors(xl, new Map([
      ['model.diffusion_model.input_blocks.0.0.weight', tensor('float32', [4, 4, 1, 1])],
      ['conditioner.embedders.0.transformer.text_model.embeddings.position_ids', tensor('float32', [1, 2])],
    ]));
    expect(await isReleaseFile(xl)).toBe(false);
  });

  it('class-conditional: the class by name or index gives the same picture; the empty negative prompt is class 1000', async () => {
    const m = await open('cin');
    expect(m.defaults).toEqual({ sampler: 'ddim', steps: 50, guidance: 3, width: 256, height: 256 });
    const o = { seed: 3, steps: 2, width: 32, height: 32, guidance: 1 };
    const [byName] = await txt2img(m, { ...o, prompt: 'giant panda' });
    const [byIndex] = await txt2img(m, { ...o, prompt: '388' });
    const [other] = await txt2img(m, { ...o, prompt: 'volcano' });
    expect(Buffer.from(byName!.image.data).equals(Buffer.from(byIndex!.image.data))).toBe(true);
    expect(maxDiff(byName!.image.data, other!.image.data)).toBeGreaterThan(0);
    expect(byName!.record).toMatchObject({ kind: 'txt2img', prompt: 'giant panda', model: { name: 'cin', hash: '0123456789' } });
    const none = await m.encodeText(['']);
    expect(maxDiff(none.data, (await m.ldm.encodeText(['1000'])).data)).toBe(0);
    const [guided] = await txt2img(m, { ...o, prompt: 'giant panda', guidance: 3 });
    expect(maxDiff(guided!.image.data, byName!.image.data)).toBeGreaterThan(0);
    await expect(txt2img(m, { ...o, prompt: 'not a class' })).rejects.toThrow(/class index from 0 to 1000 or an ImageNet class name, got 'not a class'/);
    await expect(txt2img(m, { ...o, prompt: 'giant panda', width: 36 })).rejects.toThrow(/multiples of 8 pixels .* 36×32 is not/);
  });

  it('inpainting release: the pipelines\' [latents, mask, masked latents] reach the UNet as [latents, masked encoding, mask]', async () => {
    const m = await open('inpaint');
    expect(m.unetInChannels).toBe(7);
    const hw = 64;
    const lat = Float32Array.from({ length: 3 * hw }, (_, i) => Math.sin(i * 0.3));
    const mask = Float32Array.from({ length: hw }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const masked = Float32Array.from({ length: 3 * hw }, (_, i) => Math.cos(i * 0.7));
    const sd = new Float32Array(7 * hw);
    sd.set(lat, 0);
    sd.set(mask, 3 * hw);
    sd.set(masked.map((v) => v * m.ldm.scaleFactor), 4 * hw);
    const ctx = tensor('float32', [1, 1, 1]);
    const viaPipelines = await m.predictNoise(tensor('float32', [1, 7, 8, 8], sd), 500, ctx);
    const concat = new Float32Array(4 * hw);
    concat.set(masked, 0);
    concat.set(mask, 3 * hw);
    m.ldm.setConcat(concat);
    const direct = await m.ldm.predictNoise(tensor('float32', [1, 3, 8, 8], lat), 500, ctx);
    m.ldm.setConcat(null);
    expect(maxDiff(viaPipelines.data, direct.data)).toBeLessThan(1e-5);

    // the Canvas's inpaint job: only the masked area changes
    const image = picture(32, 32, 1);
    const white = rgbImage(32, 32, Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (Math.floor(i / 3) % 32 < 16 ? 255 : 0)));
    const [out] = await inpaint(m, { prompt: '', seed: 1, steps: 2, image, mask: white, feather: 0 });
    for (let p = 0; p < 32 * 32; p++) {
      if (p % 32 >= 16) for (let c = 0; c < 3; c++) expect(out!.image.data[p * 3 + c]).toBe(image.data[p * 3 + c]);
    }
    expect(maxDiff(out!.image.data, image.data)).toBeGreaterThan(0);
  });

  it('Upscale ×4 on bsr_sr: any picture size (edges padded, output cropped), seeds reproduce, progress per step', async () => {
    const m = await open('sr');
    expect(m.defaults.steps).toBe(100);
    const low = picture(10, 9, 2);
    const steps: number[] = [];
    const [a] = await upscale(m, { image: low, seed: 5, steps: 3, onProgress: (e) => steps.push(e.step) });
    const [b] = await upscale(m, { image: low, seed: 5, steps: 3 });
    const [c] = await upscale(m, { image: picture(10, 9, 7), seed: 5, steps: 3 });
    expect([a!.image.width, a!.image.height]).toEqual([40, 36]);
    expect(a!.record).toMatchObject({ kind: 'upscale', width: 40, height: 36, seed: 5, steps: 3, prompt: '', guidance: 1 });
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    expect(maxDiff(a!.image.data, c!.image.data)).toBeGreaterThan(0); // the low-res picture steers it
    expect(steps).toEqual([1, 2, 3, 4]); // DDIM on CompVis timesteps: 4 for 3
    await expect(txt2img(m, { prompt: '', seed: 1, steps: 2, width: 32, height: 32 })).rejects.toThrow(/super-resolution model: it upscales a picture/);
    await expect(upscale(await open('cin'), { image: low, seed: 1, steps: 2 })).rejects.toThrow(/upscaling needs a super-resolution model/);
  });

  it('Upscale ×4 on a KL-f4 first stage (4 latent channels + 3 low-res, as a home-trained SR model)', async () => {
    const m = await open('sr-kl');
    expect(m.release).toMatchObject({ task: 'super-resolution', concatChannels: 3 });
    expect(m.release.autoencoder.kind).toBe('kl');
    expect(m.release.label).toMatch(/super-resolution ×4 LDM .*kl-f4 first stage/);
    const [a] = await upscale(m, { image: picture(8, 8, 3), seed: 1, steps: 2 });
    expect([a!.image.width, a!.image.height]).toEqual([32, 32]);
  });

  it('Upscale strength below 1 starts from the enlarged picture: fewer steps, recorded, deterministic, refused out of range', async () => {
    const m = await open('sr-kl');
    const low = picture(8, 8, 3);
    const steps: number[] = [];
    const [weak] = await upscale(m, { image: low, seed: 1, steps: 10, strength: 0.3, onProgress: (e) => steps.push(e.step) });
    const [noise] = await upscale(m, { image: low, seed: 1, steps: 10 });
    const [again] = await upscale(m, { image: low, seed: 1, steps: 10, strength: 0.3 });
    expect(weak!.record).toMatchObject({ kind: 'upscale', strength: 0.3 });
    expect(noise!.record.strength).toBeNull();
    expect(steps.length).toBeLessThan(10); // ⌊10·0.3⌋ denoising steps (+ the start)
    expect(Buffer.from(weak!.image.data).equals(Buffer.from(again!.image.data))).toBe(true);
    expect(maxDiff(weak!.image.data, noise!.image.data)).toBeGreaterThan(0);
    await expect(upscale(m, { image: low, seed: 1, steps: 2, strength: 1.5 })).rejects.toThrow(/strength/);
    const [projected] = await upscale(m, { image: low, seed: 1, steps: 10, strength: 0.3, backProjection: 2 });
    expect(maxDiff(projected!.image.data, weak!.image.data)).toBeGreaterThan(0);
    await expect(upscale(m, { image: low, seed: 1, steps: 2, backProjection: 11 })).rejects.toThrow(/back-projection must be a whole number of rounds from 0 to 10/);
  });

  it('text-to-image (LDM-KL-8-G) is a text model: its prompts are counted with bert-base-uncased, others with CLIP', async () => {
    expect(promptTokenizerFor(file('txt2img')).label).toBe('bert-base-uncased WordPiece');
    expect(promptTokenizerFor(file('cin')).label).toBe('CLIP BPE (SD 1.x)');
    const m = await open('txt2img');
    const [a] = await txt2img(m, { prompt: 'a red fox', seed: 1, steps: 2, width: 64, height: 64, guidance: 5 });
    expect(a!.record).toMatchObject({ prompt: 'a red fox', guidance: 5, width: 64 });
  });

  it('pads by repeating the right and bottom edges', () => {
    const img = rgbImage(1, 1, Uint8Array.of(1, 2, 3));
    expect([...padToMultiple(img, 2).data]).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });
});
