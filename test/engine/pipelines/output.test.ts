import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { formatParameters, parseParameters, readGenerationParams } from '../../../electron/engine/io/generation-params.ts';
import { readPngText } from '../../../electron/engine/io/png-metadata.ts';
import { rgbImage } from '../../../electron/engine/pipelines/image.ts';
import { generatedPng, generationParams } from '../../../electron/engine/pipelines/output.ts';
import type { GenerationRecord } from '../../../electron/engine/pipelines/types.ts';

const record: GenerationRecord = {
  kind: 'inpaint',
  prompt: 'a red heart, glossy: 3d',
  negativePrompt: 'blurry',
  sampler: 'dpmpp_2m_karras',
  steps: 20,
  guidance: 7.5,
  seed: 4000000000,
  width: 4,
  height: 2,
  eta: 0,
  strength: 0.8,
  feather: 4,
  model: { name: 'emoji-ldm', hash: '0123456789abcdef' },
};

describe('generated PNG', () => {
  it('keeps the exact pixels and carries an A1111 parameters chunk that parses back', async () => {
    const img = rgbImage(4, 2, Uint8Array.from({ length: 24 }, (_, i) => i * 10));
    const png = await generatedPng({ image: img, record });
    const raw = await sharp(png).raw().toBuffer();
    expect([...raw]).toEqual([...img.data]);
    const text = readPngText(png).get('parameters')!;
    expect(text.split('\n')[0]).toBe('a red heart, glossy: 3d');
    expect(parseParameters(text)).toMatchObject({
      prompt: 'a red heart, glossy: 3d',
      negative: 'blurry',
      steps: 20,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      cfg: 7.5,
      seed: 4000000000,
      width: 4,
      height: 2,
      model: 'emoji-ldm',
      modelHash: '0123456789',
      strength: 0.8,
      extras: { 'Mask blur': '4' },
    });
    expect(readGenerationParams(png)?.source).toBe('a1111');
    // sharp (and so the gallery's thumbnailer) sees the chunk too: it sits before IDAT.
    expect((await sharp(png).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text).toBe(text);
  });
});

describe('generationParams', () => {
  it('leaves unknown (null) facts out, writes known samplers by their A1111 label and keeps other labels as written', () => {
    const upload = generationParams({
      prompt: 'a lake', negativePrompt: '', sampler: null, steps: null, guidance: null, seed: null, width: 24, height: 16,
      model: { name: null, hash: null },
    });
    expect(upload).toEqual({ prompt: 'a lake', negative: '', steps: undefined, sampler: undefined, cfg: undefined, seed: undefined, width: 24, height: 16, model: undefined, modelHash: undefined, strength: undefined, extras: {} });
    expect(formatParameters(upload)).toBe('a lake\nSize: 24x16');
    expect(generationParams({ ...record, sampler: 'Euler a' }).sampler).toBe('Euler a');
    expect(generationParams({ ...record, sampler: 'euler_ancestral' }).sampler).toBe('Euler a');
    expect(generationParams({ ...record, sampler: 'UniPC' }).sampler).toBe('UniPC');
    // A1111 ≥ 1.9's form; a job's 'automatic' is written resolved where A1111 resolves it.
    expect(generationParams({ ...record, sampler: 'dpmpp_2m', scheduleType: 'automatic' })).toMatchObject({ sampler: 'DPM++ 2M', scheduleType: 'Karras' });
    expect(generationParams({ ...record, sampler: 'euler_a', scheduleType: 'sgm_uniform' })).toMatchObject({ sampler: 'Euler a', scheduleType: 'SGM Uniform' });
    expect(generationParams({ ...record, sampler: 'Restart', scheduleType: null })).toMatchObject({ sampler: 'Restart', scheduleType: undefined });
    expect(generationParams({ ...record, eta: 0.5, loras: [{ name: 'ink', hash: 'abcdef0123456789', strength: 1 }] }).extras).toEqual({
      Eta: '0.5',
      'Mask blur': '4',
      'Lora hashes': 'ink: abcdef012345',
    });
  });
});
