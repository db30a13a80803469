// History on a real SQLite file: FTS5 ranking and prefixes, filters and paging, trash and restore,
// JSONL export/import, imports of other tools' PNGs (malformed ones included), concurrent requests.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Generation } from '../../electron/api/history.ts';
import { writePngText } from '../../electron/engine/io/png-metadata.ts';
import { recordGeneration, type GenerationInput } from '../../electron/services/record.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { probeModels, tempDir } from './helpers.ts';

const png = (r = 200, g = 40, b = 40, size = 16) =>
  sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } }).png().toBuffer();

async function input(prompt: string, extra: Partial<GenerationInput> = {}): Promise<GenerationInput> {
  return {
    kind: 'txt2img',
    prompt,
    negativePrompt: '',
    sampler: 'ddim',
    steps: 20,
    guidance: 7.5,
    seed: 42,
    width: 16,
    height: 16,
    model: { id: 'embedded:probe', name: 'probe', hash: 'abcdef0123456789' },
    png: await png(),
    ...extra,
  };
}

const search = (s: Studio, q: Partial<Parameters<Studio['handlers']['history.search']>[0]> = {}) =>
  s.handlers['history.search']({ query: '', trashed: false, limit: 50, offset: 0, ...q });

describe('history', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dataDir: string;
  let studio: Studio;
  let models: string;
  beforeEach(async () => {
    tmp = tempDir();
    dataDir = join(tmp.dir, 'data');
    models = await probeModels(tmp.dir);
    studio = await createStudio({ dataDir, transport: 'web', embeddedModelsDir: models, allowedDirs: [tmp.dir] });
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('ranks full-text matches by bm25, matches word prefixes and ignores the negative prompt', async () => {
    const whale = await recordGeneration(dataDir, await input('blue whale'));
    const once = await recordGeneration(dataDir, await input('a red fox sitting in deep snow under tall pine trees at dusk'));
    const many = await recordGeneration(dataDir, await input('red fox, red fox'));
    await recordGeneration(dataDir, await input('a quiet lake', { negativePrompt: 'fox' }));
    const cafe = await recordGeneration(dataDir, await input('Café terrace at night'));

    const fox = await search(studio, { query: 'red fox' });
    expect(fox.items.map((g) => g.id)).toEqual([many.id, once.id]);
    expect((await search(studio, { query: 'fo' })).items.map((g) => g.id).sort()).toEqual([many.id, once.id].sort());
    expect((await search(studio, { query: 'pin tre' })).items.map((g) => g.id)).toEqual([once.id]);
    expect((await search(studio, { query: 'cafe' })).items.map((g) => g.id)).toEqual([cafe.id]);
    expect((await search(studio, { query: 'whale "(' })).items.map((g) => g.id)).toEqual([whale.id]);
    expect((await search(studio, { query: '***' })).total).toBe(5);
  });

  it('filters by favourite, model, tag, kind and date, and pages with nextOffset', async () => {
    const a = await recordGeneration(dataDir, await input('one'));
    const b = await recordGeneration(dataDir, await input('two', { model: { id: 'other', name: 'other', hash: null } }));
    const c = await recordGeneration(dataDir, await input('three', { kind: 'img2img', parentId: a.id, strength: 0.5 }));
    await studio.handlers['history.favourite']({ id: b.id, favourite: true });
    await studio.handlers['history.tag']({ id: c.id, add: ['keeper', 'night'], remove: [] });
    expect((await search(studio, { favourite: true })).items.map((g) => g.id)).toEqual([b.id]);
    expect((await search(studio, { modelId: 'other' })).items.map((g) => g.id)).toEqual([b.id]);
    expect((await search(studio, { tag: 'keeper' })).items.map((g) => g.id)).toEqual([c.id]);
    expect((await search(studio, { kind: 'img2img' })).items[0]!.parentId).toBe(a.id);
    expect((await search(studio, { from: c.createdAt, to: c.createdAt })).items.map((g) => g.id)).toEqual([c.id]);
    expect((await studio.handlers['history.get']({ id: c.id })).tags).toEqual(['keeper', 'night']);

    const page1 = await search(studio, { limit: 2 });
    expect(page1.items.map((g) => g.id)).toEqual([c.id, b.id]);
    expect(page1).toMatchObject({ total: 3, nextOffset: 2 });
    const page2 = await search(studio, { limit: 2, offset: 2 });
    expect(page2.items.map((g) => g.id)).toEqual([a.id]);
    expect(page2.nextOffset).toBeNull();
  });

  it('folds duplicate prompts into suggestions and reuses a generation as a job spec', async () => {
    await recordGeneration(dataDir, await input('a red fox', { seed: 1 }));
    const last = await recordGeneration(dataDir, await input('a red fox', { seed: 2 }));
    await recordGeneration(dataDir, await input('a blue whale'));
    const all = await studio.handlers['history.prompts']({ query: '', limit: 10 });
    expect(all.map((p) => [p.prompt, p.uses])).toEqual([
      ['a blue whale', 1],
      ['a red fox', 2],
    ]);
    expect(all[1]!.lastGenerationId).toBe(last.id);
    expect((await studio.handlers['history.prompts']({ query: 'fo', limit: 10 })).map((p) => p.prompt)).toEqual(['a red fox']);
    const spec = await studio.handlers['history.reuse']({ id: last.id });
    expect(spec).toMatchObject({ kind: 'txt2img', modelId: 'embedded:probe', prompt: 'a red fox', seed: 2, steps: 20, guidance: 7.5 });
  });

  it('keeps the schedule type and A1111 seed settings, so a rerun draws the same noise on the same σ', async () => {
    const g = await recordGeneration(dataDir, await input('a red fox', {
      seed: 7, sampler: 'dpmpp_2m', scheduleType: 'karras', rngSource: 'cpu', variationSeed: 99, variationStrength: 0.3,
      resizeSeedFrom: { width: 64, height: 48 }, ensd: 31337,
    }));
    expect(g.params).toMatchObject({ scheduleType: 'karras', rngSource: 'cpu', variationSeed: 99, variationStrength: 0.3, resizeSeedFrom: { width: 64, height: 48 }, ensd: 31337 });
    expect(await studio.handlers['history.reuse']({ id: g.id })).toMatchObject({
      sampler: 'dpmpp_2m', scheduleType: 'karras', seed: 7, rngSource: 'cpu', variationSeed: 99, variationStrength: 0.3, resizeSeedFrom: { width: 64, height: 48 }, ensd: 31337,
    });
    // the defaults are not written, and a rerun leaves them to the job's defaults
    const plain = await recordGeneration(dataDir, await input('a blue whale', { scheduleType: 'automatic', rngSource: 'gpu', variationSeed: 5, variationStrength: 0 }));
    expect(Object.keys(plain.params).filter((k) => ['scheduleType', 'rngSource', 'variationSeed', 'variationStrength', 'ensd'].includes(k))).toEqual([]);
  });

  it('links a CLI generation to the registry model with its hash, so its parameters can be reused', async () => {
    const hash = (await studio.handlers['models.get']({ id: 'embedded:probe' })).hash.slice(0, 10);
    const g = await recordGeneration(dataDir, await input('from the cli', { model: { name: 'probe', hash } }));
    expect(g.model).toEqual({ id: 'embedded:probe', name: 'probe', hash });
    const unknown = await recordGeneration(dataDir, await input('elsewhere', { model: { name: 'x', hash: 'deadbeef00' } }));
    expect(unknown.model.id).toBeNull();
    expect(await studio.handlers['history.reuse']({ id: g.id })).toMatchObject({ kind: 'txt2img', modelId: 'embedded:probe' });
    await expect(studio.handlers['history.reuse']({ id: unknown.id })).rejects.toThrow(/not in the registry; import it first/);
  });

  it('moves deleted images to the trash, restores them, and purges only on an explicit request', async () => {
    const g = await recordGeneration(dataDir, await input('to be deleted', { mask: await png(255, 255, 255) }));
    const image = join(dataDir, g.imagePath);
    expect(existsSync(image)).toBe(true);
    expect((await studio.handlers['history.delete']({ ids: [g.id] })).trashed).toBe(1);
    expect(existsSync(image)).toBe(false);
    expect(existsSync(join(dataDir, 'trash', g.imagePath))).toBe(true);
    expect(existsSync(join(dataDir, 'trash', g.maskPath!))).toBe(true);
    expect((await search(studio)).total).toBe(0);
    expect((await search(studio, { trashed: true })).items.map((x) => x.id)).toEqual([g.id]);
    // Still viewable from the trash.
    expect((await studio.handlers['gallery.image']({ id: g.id, variant: 'image' })).width).toBe(16);

    expect((await studio.handlers['history.restore']({ ids: [g.id] })).restored).toBe(1);
    expect(existsSync(image)).toBe(true);
    expect((await search(studio)).total).toBe(1);

    await expect(studio.handlers['history.purge']({ ids: [g.id] })).rejects.toThrow(/Only generations in the trash/);
    await studio.handlers['history.delete']({ ids: [g.id] });
    expect((await studio.handlers['history.purge']({ ids: [g.id] })).purged).toBe(1);
    expect(existsSync(join(dataDir, 'trash', g.imagePath))).toBe(false);
    await expect(studio.handlers['history.get']({ id: g.id })).rejects.toThrow(/No generation/);
  });

  it('exports the whole history as JSON Lines and imports it into another data folder unchanged', async () => {
    const a = await recordGeneration(dataDir, await input('first', { loras: [{ name: 'ink', hash: 'ff00', strength: 0.7 }], timings: { sampleMs: 12 } }));
    const b = await recordGeneration(dataDir, await input('second'));
    await studio.handlers['history.favourite']({ id: a.id, favourite: true });
    await studio.handlers['history.tag']({ id: a.id, add: ['x'], remove: [] });
    await studio.handlers['history.delete']({ ids: [b.id] });
    const out = await studio.handlers['history.export']({ withImages: false, overwrite: false });
    expect(out.count).toBe(2);
    expect(readFileSync(out.path, 'utf8').trim().split('\n')).toHaveLength(2);

    const other = await createStudio({ dataDir: join(tmp.dir, 'other'), transport: 'web', embeddedModelsDir: models, allowedDirs: [tmp.dir] });
    try {
      writeFileSync(join(tmp.dir, 'broken.jsonl'), `${readFileSync(out.path, 'utf8')}{"id": 3}\nnot json\n`);
      const r = await other.handlers['history.import']({ path: join(tmp.dir, 'broken.jsonl') });
      expect(r.imported).toBe(2);
      expect(r.errors.map((e) => e.line)).toEqual([3, 4]);
      for (const id of [a.id, b.id]) {
        expect(await other.handlers['history.get']({ id })).toEqual(await studio.handlers['history.get']({ id }));
      }
      expect((await other.handlers['history.import']({ path: out.path })).skipped).toBe(2);
      expect((await search(other, { query: 'firs' })).items.map((g) => g.id)).toEqual([a.id]);
    } finally {
      await other.close();
    }
  });

  it('exports with images so another data folder gets the files too, and ignores files that are not the row\'s own', async () => {
    const a = await recordGeneration(dataDir, await input('portable', { mask: await png(255, 255, 255) }));
    const b = await recordGeneration(dataDir, await input('portable and deleted'));
    await studio.handlers['history.delete']({ ids: [b.id] });
    const out = await studio.handlers['history.export']({ path: join(tmp.dir, 'all.jsonl'), withImages: true, overwrite: false });
    const lines = readFileSync(out.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { files: Record<string, string> });
    expect(Object.keys(lines[0]!.files).sort()).toEqual([a.imagePath, a.maskPath, a.thumbnailPath].sort());
    lines[0]!.files['../escape.png'] = lines[0]!.files[a.imagePath]!;
    lines[0]!.files['gallery/other.png'] = lines[0]!.files[a.imagePath]!;
    writeFileSync(out.path, lines.map((l) => JSON.stringify(l)).join('\n'));

    const otherDir = join(tmp.dir, 'other');
    const other = await createStudio({ dataDir: otherDir, transport: 'web', embeddedModelsDir: models, allowedDirs: [tmp.dir] });
    try {
      expect((await other.handlers['history.import']({ path: out.path })).imported).toBe(2);
      expect(readFileSync(join(otherDir, a.imagePath))).toEqual(readFileSync(join(dataDir, a.imagePath)));
      expect((await other.handlers['gallery.image']({ id: a.id, variant: 'mask' })).width).toBe(16);
      expect(existsSync(join(otherDir, 'trash', b.imagePath))).toBe(true);
      expect((await other.handlers['history.restore']({ ids: [b.id] })).restored).toBe(1);
      expect(existsSync(join(otherDir, b.imagePath))).toBe(true);
      expect(existsSync(join(tmp.dir, 'escape.png'))).toBe(false);
      expect(existsSync(join(otherDir, 'gallery', 'other.png'))).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('imports PNGs from A1111, ComfyUI and InvokeAI with their parameters and reports malformed files', async () => {
    const dir = tmp.dir;
    const a1111 = writePngText(await png(), { parameters: 'a castle, "misty"\nNegative prompt: blurry\nSteps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 1234, Size: 16x16, Model hash: 45dee52b, Model: v1-5, Schedule: "karras, fast"' });
    const comfy = writePngText(await png(), { prompt: JSON.stringify({
      '3': { class_type: 'KSampler', inputs: { seed: 99, steps: 12, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, positive: ['6', 0], negative: ['7', 0] } },
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a comfy lighthouse' } },
      '7': { class_type: 'CLIPTextEncode', inputs: { text: 'ugly' } },
    }) });
    const invoke = writePngText(await png(), { invokeai_metadata: JSON.stringify({ positive_prompt: 'an invoked dragon', negative_prompt: '', steps: 25, cfg_scale: 7, seed: 5, scheduler: 'dpmpp_2m', model: { name: 'sd-1.5', hash: 'blake3:00' } }) });
    const badCrc = Buffer.from(a1111);
    badCrc[50] ^= 0x01; // inside the tEXt chunk's text (the chunk starts at byte 33, after IHDR)
    const truncated = Buffer.from(a1111).subarray(0, 60);
    const files: Record<string, Uint8Array> = {
      'a1111.png': a1111,
      'comfy.png': comfy,
      'invoke.png': invoke,
      'plain.jpg': await sharp(await png()).jpeg().toBuffer(),
      'bad-crc.png': badCrc,
      'truncated.png': truncated,
      'not-an-image.png': Buffer.from('hello'),
      'too-wide.png': await sharp({ create: { width: 20000, height: 1, channels: 3, background: 'red' } }).png().toBuffer(),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    const r = await studio.handlers['history.importImages']({ paths: [...Object.keys(files), 'missing.png'].map((n) => join(dir, n)) });

    const byFile = new Map<string, Generation>(r.imported.map((g) => [g.params.extra['Source file']!, g]));
    expect([...byFile.keys()].sort()).toEqual(['a1111.png', 'bad-crc.png', 'comfy.png', 'invoke.png', 'plain.jpg']);
    // A damaged metadata chunk costs the parameters, not the picture.
    expect(byFile.get('bad-crc.png')).toMatchObject({ prompt: '', params: { steps: null, width: 16, height: 16 } });
    expect(byFile.get('bad-crc.png')!.params.extra['Metadata warnings']).toMatch(/^metadata unreadable: the CRC of tEXt "[^"]+" at byte 33 does not match its contents$/);
    expect(byFile.get('a1111.png')).toMatchObject({
      kind: 'import',
      prompt: 'a castle, "misty"',
      negativePrompt: 'blurry',
      params: { steps: 30, sampler: 'euler_a', guidance: 6.5, seed: 1234, width: 16, height: 16 },
      model: { name: 'v1-5', hash: '45dee52b' },
    });
    expect(byFile.get('a1111.png')!.params.extra.Schedule).toBe('karras, fast');
    expect(byFile.get('comfy.png')).toMatchObject({ prompt: 'a comfy lighthouse', negativePrompt: 'ugly', params: { steps: 12, seed: 99, guidance: 8 } });
    // InvokeAI's dpmpp_2m (no _k suffix) is not the Karras schedule that A1111's 'Automatic' gives DPM++ 2M.
    expect(byFile.get('invoke.png')).toMatchObject({ prompt: 'an invoked dragon', params: { steps: 25, seed: 5, sampler: 'dpmpp_2m_uniform' } });
    expect(byFile.get('plain.jpg')!.imagePath).toMatch(/\.jpg$/);

    const errors = new Map(r.errors.map((e) => [e.path.split('/').at(-1)!, e.message]));
    expect(errors.get('truncated.png')).toMatch(/not a readable image/); // no image data left: refused by the gallery
    expect(errors.get('not-an-image.png')).toMatch(/image is not a readable image/);
    expect(errors.get('missing.png')).toMatch(/cannot read/);
    expect(errors.get('too-wide.png')).toMatch(/20000x1; the largest side allowed is 16384/);
    expect((await search(studio, { query: 'lighthouse' })).total).toBe(1);
  });

  it('answers many concurrent requests, with a CLI writing into the same folder, consistently', async () => {
    const seeded = await Promise.all(Array.from({ length: 10 }, async (_, i) => recordGeneration(dataDir, await input(`seed prompt ${i}`))));
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const g = seeded[i % 10]!;
      work.push(studio.handlers['history.favourite']({ id: g.id, favourite: i % 2 === 0 }));
      work.push(studio.handlers['history.tag']({ id: g.id, add: [`t${i}`], remove: [] }));
      work.push(search(studio, { query: 'prompt' }));
      if (i % 4 === 0) work.push(recordGeneration(dataDir, await input(`cli prompt ${i}`)));
    }
    await Promise.all(work);
    expect((await search(studio)).total).toBe(20);
    expect((await search(studio, { query: 'cli' })).total).toBe(10);
    const tags = (await Promise.all(seeded.map((g) => studio.handlers['history.get']({ id: g.id })))).flatMap((g) => g.tags);
    expect(tags).toHaveLength(40);
  });
});
