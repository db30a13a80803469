// readImageParameters on pictures saved the way each tool saves them: fixtures written by Pillow and
// piexif exactly as A1111, ComfyUI, InvokeAI, Fooocus, NovelAI and the stealth-pnginfo extension do
// (scripts/reference/image_metadata.py), pictures sharp writes, and files damaged on purpose.
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { GenerationParams } from '../../../../electron/engine/io/generation-params.ts';
import { decodeUserComment } from '../../../../electron/engine/io/metadata/exif.ts';
import { readImageParameters } from '../../../../electron/engine/io/metadata/index.ts';
import { crc32, writePngText } from '../../../../electron/engine/io/png-metadata.ts';

const fixture = (name: string): Uint8Array => readFileSync(new URL(`../../../fixtures/metadata/${name}`, import.meta.url));

/** Every field of the A1111 text in the fixtures (the pictures are 24x16 or so: Size is what was generated). */
const A1111: GenerationParams = {
  prompt: 'masterpiece, a cat on a windowsill,\n(sunset:1.2), [blurry]',
  negative: 'lowres, bad anatomy',
  steps: 28,
  sampler: 'DPM++ 2M',
  scheduleType: 'Karras',
  cfg: 6.5,
  seed: 3141592653,
  width: 512,
  height: 768,
  modelHash: '6ce0161689',
  model: 'v1-5-pruned-emaonly',
  vaeHash: '735e4c3a44',
  vae: 'vae-ft-mse-840000-ema-pruned',
  variationSeed: 1234,
  variationStrength: 0.3,
  seedResizeFrom: { width: 448, height: 640 },
  strength: 0.45,
  clipSkip: 2,
  ensd: 31337,
  rng: 'NV',
  hiresUpscale: 2,
  hiresSteps: 12,
  hiresUpscaler: 'Latent',
  loraHashes: { add_detail: '7c6bad76eb54', more_art: '0a8b3a1b2c3d' },
  tiHashes: { easynegative: 'c74b4e810b03' },
  version: 'v1.10.1',
  extras: { Emphasis: 'Original' },
  source: 'a1111',
};

describe('A1111', () => {
  const cases: [string, string, string][] = [
    ['a1111.png', 'png', 'PNG text "parameters"'],
    ['a1111-ztxt.png', 'png', 'PNG text "parameters"'],
    ['a1111.jpg', 'jpeg', 'EXIF UserComment'],
    ['a1111.webp', 'webp', 'EXIF UserComment'],
    ['stealth-alpha.png', 'png', 'stealth alpha'],
    ['stealth-alpha-comp.png', 'png', 'stealth alpha (compressed)'],
    ['stealth-rgb.png', 'png', 'stealth rgb'],
    ['stealth-rgb-comp.png', 'png', 'stealth rgb (compressed)'],
  ];
  for (const [file, format, location] of cases) {
    it(`reads every field from ${file} (${location})`, async () => {
      const r = await readImageParameters(fixture(file));
      expect(r).toEqual({ format, params: A1111, source: 'a1111', location, warnings: [] });
    });
  }

  it('reads iTXt (text that is not Latin-1) with a prompt without a trailing newline', async () => {
    const r = await readImageParameters(fixture('a1111-itxt.png'));
    expect(r.params).toMatchObject({ prompt: 'ねこ, 猫 — “quoted”, émoji 😀', negative: '', steps: 20, sampler: 'Euler a', seed: 42, width: 64, height: 64 });
  });

  it('reads UserComment as sharp (libexif, ASCII only) writes it into JPEG and WebP', async () => {
    const text = 'a fox, (red:1.1)\nNegative prompt: dull\nSteps: 5, Sampler: Euler, CFG scale: 3, Seed: 8, Size: 64x48';
    for (const f of ['jpeg', 'webp'] as const) {
      const b = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#345' } })[f]().withExif({ IFD2: { UserComment: text } }).toBuffer();
      const r = await readImageParameters(b);
      expect(r.params, f).toMatchObject({ prompt: 'a fox, (red:1.1)', negative: 'dull', steps: 5, seed: 8, width: 64, height: 48 });
    }
  });

  it('reads a JPEG COM segment when there is no EXIF, and EXIF in a PNG eXIf chunk', async () => {
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#345' } }).jpeg().toBuffer();
    const text = Buffer.from('a boat\nSteps: 7, Sampler: Heun, Seed: 3, Size: 96x64', 'utf8');
    const com = Buffer.concat([Buffer.from([0xff, 0xfe, (text.length + 2) >> 8, (text.length + 2) & 0xff]), text]);
    const r = await readImageParameters(Buffer.concat([jpg.subarray(0, 2), com, jpg.subarray(2)]));
    expect(r).toMatchObject({ format: 'jpeg', location: 'JPEG comment', params: { prompt: 'a boat', steps: 7, sampler: 'Heun', width: 96 } });
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#345' } }).png().withExif({ IFD2: { UserComment: 'a kite\nSteps: 2, Seed: 1, Size: 8x16' } }).toBuffer();
    expect(await readImageParameters(png)).toMatchObject({ format: 'png', location: 'PNG eXIf "parameters"', params: { prompt: 'a kite', height: 16 } });
  });

  it('decodes UserComment in every character code, either UTF-16 byte order', () => {
    const be = Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), Buffer.from('Steps: 1 ü', 'utf16le').swap16()]);
    const le = Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), Buffer.from('Steps: 1 ü', 'utf16le')]);
    expect(decodeUserComment(be)).toBe('Steps: 1 ü');
    expect(decodeUserComment(le, true)).toBe('Steps: 1 ü');
    expect(decodeUserComment(le, false)).toBe('Steps: 1 ü'); // byte order from the zero high bytes
    expect(decodeUserComment(Buffer.from('ASCII\0\0\0Seed: 4\0', 'latin1'))).toBe('Seed: 4');
    expect(decodeUserComment(Buffer.from('\0\0\0\0\0\0\0\0ünï', 'utf8'))).toBe('ünï');
    expect(decodeUserComment(Buffer.from('{"prompt": "x"}', 'utf8'))).toBe('{"prompt": "x"}');
  });
});

describe('other tools', () => {
  it('ComfyUI: the prompts reaching the final sampler (area prompt combined), its settings, the final size; the rest in extras', async () => {
    const r = await readImageParameters(fixture('comfyui.png'));
    expect(r).toMatchObject({ format: 'png', source: 'comfyui', location: 'PNG text "prompt"', warnings: [] });
    expect(r.params).toEqual({
      prompt: 'a mountain lake at dawn AND a red canoe',
      negative: 'blurry, watermark',
      seed: 99,
      steps: 14,
      cfg: 7.5,
      strength: 0.5,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      clipSkip: 2,
      model: 'sd15/dreamshaper_8.safetensors',
      vae: 'vae-ft-mse.safetensors',
      width: 768,
      height: 960,
      extras: {
        'Area prompts': 'a red canoe @ 256x256+128+384 (strength 0.8)',
        'Other prompts': '["an unused draft prompt"]',
        Loras: 'add_detail.safetensors: 0.7',
        'First pass': 'steps 20, sampler Euler, schedule Normal, CFG scale 8, seed 8566257, size 512x640',
      },
      source: 'comfyui',
    });
  });

  it('InvokeAI 3+: invokeai_metadata', async () => {
    const r = await readImageParameters(fixture('invokeai.png'));
    expect(r.params).toEqual({
      prompt: 'a lighthouse at dusk',
      negative: 'blurry',
      steps: 30,
      cfg: 7.5,
      seed: 1234567,
      width: 768,
      height: 512,
      clipSkip: 2,
      sampler: 'DPM++ 2M',
      scheduleType: 'Karras',
      model: 'Deliberate v2',
      modelHash: 'blake3:1234',
      vae: 'sd-vae-ft-mse',
      extras: { Loras: 'add_detail: 0.75', generation_mode: 'txt2img', rand_device: 'cpu', cfg_rescale_multiplier: '0', app_version: '4.2.9' },
      source: 'invokeai',
    });
  });

  it('InvokeAI 2.x: sd-metadata and Dream, the negative prompt in [brackets]', async () => {
    const want = { prompt: 'a fantasy castle on a hill', negative: 'ugly, blurry lowres', steps: 50, seed: 42, width: 512, height: 512, cfg: 7.5, sampler: 'LMS', source: 'invokeai' };
    const sd = await readImageParameters(fixture('invokeai2.png'));
    expect(sd.location).toBe('PNG text "sd-metadata"');
    expect(sd.params).toMatchObject({ ...want, model: 'stable-diffusion-1.5', modelHash: 'cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516' });
    const dream = await readImageParameters(fixture('invokeai-dream.png'));
    expect(dream.location).toBe('PNG text "Dream"');
    expect(dream.params).toEqual({ ...want, extras: {} });
  });

  it('Fooocus: its JSON scheme in PNG parameters + fooocus_scheme, and in JPEG EXIF (UserComment, MakerNote)', async () => {
    for (const [file, location] of [['fooocus.png', 'PNG text "parameters"'], ['fooocus.jpg', 'EXIF UserComment']]) {
      const r = await readImageParameters(fixture(file!));
      expect(r.location).toBe(location);
      expect(r.params, file).toMatchObject({
        prompt: 'a red fox',
        negative: 'blurry',
        steps: 30,
        cfg: 4,
        seed: 1786381530,
        width: 1152,
        height: 896,
        sampler: 'DPM++ 2M SDE',
        scheduleType: 'Karras',
        model: 'juggernautXL_v8Rundiffusion',
        modelHash: '06bdf4e3ab',
        clipSkip: 2,
        version: 'Fooocus v2.5.5',
        loraHashes: { 'sd_xl_offset_example-lora_1.0': '4852686128' },
        source: 'fooocus',
      });
      expect(r.params!.extras).toMatchObject({ full_prompt: '["a red fox, cinematic","highly detailed"]', performance: 'Speed', sharpness: '2' });
    }
  });

  it('NovelAI: Description + Comment JSON (and the same hidden in alpha), with the Clip skip and ENSD A1111 adds', async () => {
    for (const [file, location] of [['novelai.png', 'PNG text "Comment"'], ['stealth-novelai.png', 'stealth alpha (compressed)']]) {
      const r = await readImageParameters(fixture(file!));
      expect(r.location).toBe(location);
      expect(r.params, file).toEqual({
        prompt: '1girl, best quality',
        negative: 'lowres, bad anatomy',
        steps: 28,
        sampler: 'Euler a',
        scheduleType: 'Karras',
        cfg: 5,
        seed: 3215789,
        width: 832,
        height: 1216,
        clipSkip: 2,
        ensd: 31337,
        model: 'NovelAI Diffusion V4.5 4BDE2A90',
        extras: {
          uncond_scale: '1', cfg_rescale: '0', n_samples: '1', hide_debug_overlay: 'false', legacy_v3_extend: 'false', sm: 'false', sm_dyn: 'false',
          request_type: 'PromptGenerateRequest', 'Generation time': '5.2',
        },
        source: 'novelai',
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Damaged files: the picture is still read (and decodes), the metadata is reported unreadable.

async function plainPng(alpha = false): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: 6, height: 4, channels: alpha ? 4 : 3, background: '#808080' } }).png().toBuffer());
}

/** The byte offset of the first chunk of a type. */
function chunkAt(png: Uint8Array, type: string): number {
  const v = new DataView(png.buffer, png.byteOffset);
  for (let pos = 8; pos + 8 <= png.length; pos += 12 + v.getUint32(pos)) {
    if (String.fromCharCode(...png.subarray(pos + 4, pos + 8)) === type) return pos;
  }
  throw new Error(`no ${type}`);
}

describe('broken metadata never refuses the picture', () => {
  it('a bad CRC on the parameters chunk', async () => {
    const png = writePngText(await plainPng(), { parameters: 'a cat\nSteps: 4, Seed: 9, Size: 2x2' });
    const at = chunkAt(png, 'tEXt');
    png[at + 8 + 'parameters'.length + 1] ^= 0x20; // flip a bit of the text: the CRC no longer matches
    const r = await readImageParameters(png);
    expect(r.params).toBeNull();
    expect(r.warnings).toEqual([`metadata unreadable: the CRC of tEXt "parameters" at byte ${at} does not match its contents`]);
    expect((await sharp(png).metadata()).width).toBe(6); // the image itself still decodes
  });

  it('invalid JSON in each JSON format', async () => {
    const png = await plainPng();
    const cases: [Record<string, string>, RegExp][] = [
      [{ prompt: '{"3": {' }, /^metadata unreadable: ComfyUI prompt is not valid JSON/],
      [{ invokeai_metadata: '{nope' }, /^metadata unreadable: InvokeAI metadata is not valid JSON/],
      [{ 'sd-metadata': '[1, 2' }, /^metadata unreadable: InvokeAI metadata is not valid JSON/],
      [{ parameters: '{"full_prompt": [', fooocus_scheme: 'fooocus' }, /^metadata unreadable: Fooocus metadata is not valid JSON/],
      [{ Software: 'NovelAI', Description: 'x', Comment: '{"steps": 2,' }, /^metadata unreadable: NovelAI Comment is not valid JSON/],
    ];
    for (const [chunks, why] of cases) {
      const r = await readImageParameters(writePngText(png, chunks));
      expect(r.params, JSON.stringify(chunks)).toBeNull();
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toMatch(why);
    }
  });

  it('a broken ComfyUI prompt falls back to the workflow, with the warning', async () => {
    const wf = JSON.stringify({
      nodes: [
        { id: 3, type: 'KSampler', inputs: [{ name: 'positive', link: 4 }], widgets_values: [42, 'randomize', 25, 6.5, 'euler_ancestral', 'normal', 1] },
        { id: 6, type: 'CLIPTextEncode', widgets_values: ['a red fox'] },
      ],
      links: [[4, 6, 0, 3, 1, 'CONDITIONING']],
    });
    const r = await readImageParameters(writePngText(await plainPng(), { prompt: '{broken', workflow: wf }));
    expect(r.params).toMatchObject({ prompt: 'a red fox', seed: 42, steps: 25, sampler: 'Euler a' });
    expect(r.location).toBe('PNG text "workflow"');
    expect(r.warnings[0]).toMatch(/^metadata unreadable: ComfyUI prompt is not valid JSON/);
  });

  it('a truncated PNG and bad zTXt data', async () => {
    const png = writePngText(await plainPng(), { parameters: 'a\nSteps: 1, Seed: 2, Size: 3x4' });
    const cut = png.subarray(0, chunkAt(png, 'IDAT') + 20);
    const r = await readImageParameters(cut);
    expect(r.params).toMatchObject({ prompt: 'a', steps: 1 }); // the text came before the damage
    expect(r.warnings).toEqual([expect.stringMatching(/^metadata unreadable: the PNG's chunks are damaged from byte \d+ on \(chunk "IDAT" runs past the end of the file\)$/)]);

    // a zTXt chunk whose compressed text is not zlib data (CRC correct)
    const body = Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), Buffer.from('not zlib')]);
    const chunk = Buffer.alloc(12 + body.length);
    chunk.writeUInt32BE(body.length, 0);
    chunk.write('zTXt', 4, 'latin1');
    body.copy(chunk, 8);
    chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + body.length)), 8 + body.length);
    const base = await plainPng();
    const ihdrEnd = 8 + 25;
    const z = Buffer.concat([base.subarray(0, ihdrEnd), chunk, base.subarray(ihdrEnd)]);
    const rz = await readImageParameters(z);
    expect(rz.params).toBeNull();
    expect(rz.warnings).toEqual(['metadata unreadable: zTXt "parameters" at byte 33: the compressed text of zTXt "parameters" is not valid zlib data']);
  });

  it('a JPEG whose EXIF points outside itself', async () => {
    const jpg = new Uint8Array(readFileSync(new URL('../../../fixtures/metadata/a1111.jpg', import.meta.url)));
    const app1 = jpg.indexOf(0xe1, 2) - 1; // FF E1
    const tiff = app1 + 4 + 6;
    new DataView(jpg.buffer).setUint32(tiff + 4, 0x7ffffff0); // IFD0 offset far outside
    const r = await readImageParameters(jpg);
    expect(r).toMatchObject({ format: 'jpeg', params: null });
    expect(r.warnings).toEqual([expect.stringMatching(/^metadata unreadable: EXIF: an IFD offset \(\d+\) points outside the EXIF data$/)]);
    expect((await sharp(jpg).metadata()).width).toBe(24);
  });

  it('a stealth signature with an impossible length', async () => {
    const w = 8;
    const h = 40;
    const raw = Buffer.alloc(w * h * 4, 200);
    const bits = [...Buffer.from('stealth_pnginfo', 'latin1')].flatMap((b) => [...b.toString(2).padStart(8, '0')].map(Number));
    bits.push(...[...(1_000_000).toString(2).padStart(32, '0')].map(Number));
    bits.forEach((bit, i) => {
      const x = Math.floor(i / h);
      const y = i % h;
      const o = (y * w + x) * 4 + 3;
      raw[o] = (raw[o]! & ~1) | bit;
    });
    const png = await sharp(raw, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
    const r = await readImageParameters(png);
    expect(r.params).toBeNull();
    expect(r.warnings).toEqual(['metadata unreadable: stealth PNG info: stealth_pnginfo claims 1000000 bits of data, which the picture cannot hold']);
  });

  it('pictures without metadata, and files that are not pictures', async () => {
    expect(await readImageParameters(await plainPng(true))).toEqual({ format: 'png', params: null, source: null, location: null, warnings: [] });
    const jpg = await sharp(await plainPng()).jpeg().toBuffer();
    expect(await readImageParameters(jpg)).toEqual({ format: 'jpeg', params: null, source: null, location: null, warnings: [] });
    expect((await readImageParameters(Buffer.from('GIF89a'))).warnings).toEqual(['not a PNG, JPEG or WebP file']);
  });
});
