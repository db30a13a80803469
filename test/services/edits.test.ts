// Edits keep their provenance: img2img and inpaint record the parent and the mask; canvas saves land
// in the gallery and history.
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Studio } from '../../electron/services/studio.ts';
import { probeModels, probeStudio, tempDir, txt2img, waitForJob } from './helpers.ts';

describe('edits', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio;
  beforeEach(async () => {
    tmp = tempDir();
    studio = await probeStudio(join(tmp.dir, 'data'), await probeModels(tmp.dir));
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('img2img and inpaint on a history image record the parent, strength and mask', async () => {
    const changes: string[] = [];
    studio.on('history.changed', (c) => changes.push(c.change));
    const base = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec: txt2img('a fox', { width: 32, height: 32 }) })).id);
    const parentId = base.generationIds[0]!;
    const { kind: _k, ...common } = txt2img('a fox at night', { width: 32, height: 32 });
    const i2i = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec: { ...common, kind: 'img2img', init: { generationId: parentId }, strength: 0.5 } })).id);
    expect(i2i.error).toBeNull();
    const g1 = await studio.handlers['history.get']({ id: i2i.generationIds[0]! });
    expect(g1).toMatchObject({ kind: 'img2img', parentId, params: { strength: 0.5, width: 32, height: 32 } });

    const mask = await sharp({ create: { width: 32, height: 32, channels: 3, background: 'black' } })
      .composite([{ input: { create: { width: 16, height: 16, channels: 3, background: 'white' } }, left: 8, top: 8 }])
      .png()
      .toBuffer();
    const inp = await waitForJob(studio, (await studio.handlers['jobs.submit']({
      spec: { ...common, kind: 'inpaint', init: { generationId: g1.id }, mask: { base64: mask.toString('base64') }, strength: 1, feather: 2 },
    })).id);
    expect(inp.error).toBeNull();
    const g2 = await studio.handlers['history.get']({ id: inp.generationIds[0]! });
    expect(g2).toMatchObject({ kind: 'inpaint', parentId: g1.id });
    const storedMask = await studio.handlers['gallery.image']({ id: g2.id, variant: 'mask' });
    const stats = await sharp(Buffer.from(storedMask.base64, 'base64')).stats();
    expect(stats.channels[0]!.mean).toBeCloseTo(255 / 4, 0);
    expect(changes).toEqual(['added', 'added', 'added']);
  });

  it('an inpaint of raw canvas bytes (an outpainted, larger canvas) records the parent the canvas names', async () => {
    const base = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec: txt2img('a fox', { width: 32, height: 32 }) })).id);
    const parentId = base.generationIds[0]!;
    const { kind: _k, ...common } = txt2img('a fox in a wide field', { width: 48, height: 32 });
    const wide = (c: string) => sharp({ create: { width: 48, height: 32, channels: 3, background: c } }).png().toBuffer();
    const spec = { ...common, kind: 'inpaint' as const, init: { base64: (await wide('grey')).toString('base64') }, mask: { base64: (await wide('white')).toString('base64') }, strength: 1, feather: 0 };
    const out = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec: { ...spec, parentId } })).id);
    expect(out.error).toBeNull();
    expect(await studio.handlers['history.get']({ id: out.generationIds[0]! })).toMatchObject({ kind: 'inpaint', parentId, params: { width: 48, height: 32 } });
    // Without one, raw bytes have no parent; a parent that is not in the history is refused before queueing.
    const orphan = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec })).id);
    expect((await studio.handlers['history.get']({ id: orphan.generationIds[0]! })).parentId).toBeNull();
    await expect(studio.handlers['jobs.submit']({ spec: { ...spec, parentId: 'gone' } })).rejects.toThrow(/No generation with id "gone"/);
  });

  it('refuses an edit of a generation that does not exist before queueing it', async () => {
    const { kind: _k, ...common } = txt2img('x');
    await expect(
      studio.handlers['jobs.submit']({ spec: { ...common, kind: 'img2img', init: { generationId: 'gone' }, strength: 0.5 } }),
    ).rejects.toThrow(/No generation with id "gone"/);
    expect(await studio.handlers['jobs.list']({ limit: 10 })).toEqual([]);
  });

  it('saves a canvas image as an edit of its parent, with the parent prompt', async () => {
    const base = await waitForJob(studio, (await studio.handlers['jobs.submit']({ spec: txt2img('a lake') })).id);
    const png = await sharp({ create: { width: 24, height: 16, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }).png().toBuffer();
    const { id } = await studio.handlers['gallery.save']({ image: { base64: png.toString('base64') }, prompt: '', parentId: base.generationIds[0]!, mask: null });
    const g = await studio.handlers['history.get']({ id });
    expect(g).toMatchObject({ kind: 'upload', prompt: 'a lake', parentId: base.generationIds[0], params: { width: 24, height: 16 } });
    expect((await studio.handlers['gallery.path']({ id, variant: 'thumbnail' })).path).toMatch(/^gallery\/thumbnails\/.*\.webp$/);
    await expect(studio.handlers['gallery.save']({ image: { base64: 'bm90IGFuIGltYWdl' }, prompt: '', parentId: null, mask: null })).rejects.toThrow(/cannot be read/);
  });
});
