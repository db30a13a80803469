// images.readParameters through the studio's handlers: bytes as base64 or a generation of the history,
// the parameters as read, and the Generate form fields they fill (our sampler names, seed settings).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writePngText } from '../../electron/engine/io/png-metadata.ts';
import { formFieldsOf } from '../../electron/services/image-info.ts';
import { requests } from '../../electron/api/index.ts';
import { useTestStudio } from './helpers.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/metadata/${name}`, import.meta.url));

describe('images.readParameters', () => {
  const t = useTestStudio({ perTest: false, allowTemp: false });

  it('reads a picture sent as base64 and fills the form in job-spec terms', async () => {
    const out = await t.studio.handlers['images.readParameters']({ image: { base64: fixture('a1111.webp').toString('base64') } });
    expect(requests['images.readParameters'].output.parse(out)).toEqual(out); // the answer fits the contract
    expect(out).toMatchObject({ format: 'webp', source: 'a1111', location: 'EXIF UserComment', warnings: [] });
    expect(out.params).toMatchObject({ sampler: 'DPM++ 2M', scheduleType: 'Karras', seed: 3141592653, width: 512, height: 768, rng: 'NV' });
    expect(out.form).toEqual({
      prompt: 'masterpiece, a cat on a windowsill,\n(sunset:1.2), [blurry]',
      negativePrompt: 'lowres, bad anatomy',
      sampler: 'dpmpp_2m',
      scheduleType: 'karras',
      steps: 28,
      guidance: 6.5,
      seed: 3141592653,
      width: 512,
      height: 768,
      strength: 0.45,
      rngSource: 'nv',
      variationSeed: 1234,
      variationStrength: 0.3,
      resizeSeedFrom: { width: 448, height: 640 },
      ensd: 31337,
    });
  });

  it('answers warnings, not an error, for damaged metadata, and null for a picture without any', async () => {
    const plain = fixture('a1111.png');
    const bad = Buffer.from(writePngText(plain, { parameters: 'x' }));
    bad[33 + 8 + 11] ^= 1; // inside the new tEXt chunk's text
    const out = await t.studio.handlers['images.readParameters']({ image: { base64: bad.toString('base64') } });
    expect(out).toMatchObject({ format: 'png', params: null, form: null });
    expect(out.warnings[0]).toMatch(/^metadata unreadable: the CRC of tEXt "parameters"/);
    const none = await t.studio.handlers['images.readParameters']({ image: { base64: Buffer.from('not a picture').toString('base64') } });
    expect(none).toEqual({ format: null, params: null, source: null, location: null, warnings: ['not a PNG, JPEG or WebP file'], form: null });
  });

  it('maps other tools: a ComfyUI sampler/scheduler and NovelAI', () => {
    expect(formFieldsOf({ prompt: 'p', negative: '', sampler: 'Euler a', scheduleType: 'Normal', extras: {} })).toMatchObject({ sampler: 'euler_a' });
    expect(formFieldsOf({ prompt: 'p', negative: '', sampler: 'Some new sampler', extras: {} }).sampler).toBeUndefined();
  });
});
