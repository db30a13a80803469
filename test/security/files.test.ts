// Hostile files and paths through the real studio: JSONL rows that name files outside the gallery, path
// arguments outside the allowed folders, decompression bombs and oversized pictures on every input path.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import { newId } from '../../electron/services/ids.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { probeModels, probeStudio, tempDir, txt2img, waitForJob } from '../services/helpers.ts';
import { bombPng, png } from './images.ts';

describe('hostile files and paths', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dataDir: string;
  let allowed: string;
  let outside: string;
  let studio: Studio;
  beforeEach(async () => {
    tmp = tempDir('ldm-hostile-files-');
    dataDir = join(tmp.dir, 'data');
    allowed = join(tmp.dir, 'allowed');
    outside = join(tmp.dir, '..', `ldm-outside-${newId()}`);
    mkdirSync(allowed);
    mkdirSync(outside);
    // probeStudio allows the data folder's parent; these tests need a narrower allowance.
    studio = await probeStudio(join(allowed, 'data'), await probeModels(tmp.dir));
    dataDir = studio.paths.root;
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  const call = (name: string, input: object) => dispatch(studio, name, input);

  it('imports only rows whose files are the gallery\'s own, and says why each other row was refused', async () => {
    const good = await call('gallery.save', { image: { base64: (await png(8, 8)).toString('base64') }, prompt: 'kept' });
    expect(good.ok).toBe(true);
    const exported = await call('history.export', { withImages: true });
    const line = JSON.parse(readFileSync((exported as { output: { path: string } }).output.path, 'utf8').trim()) as Record<string, unknown>;
    const id = newId();
    const row = (over: Record<string, unknown>) => JSON.stringify({ ...line, id, imagePath: `gallery/2026-11/${id}.png`, thumbnailPath: `gallery/thumbnails/2026-11/${id}.webp`, maskPath: null, ...over });
    const hostile = [
      row({ imagePath: 'history.db' }),
      row({ imagePath: 'studio.lock' }),
      row({ thumbnailPath: 'models/x.safetensors' }),
      row({ imagePath: `gallery/../history.db` }),
      row({ imagePath: '/etc/passwd' }),
      row({ imagePath: `gallery/2026-11/${newId()}.png` }),
      row({ thumbnailPath: `gallery/2026-11/${id}.webp` }),
      row({ maskPath: `gallery/2026-11/${id}.png` }),
      row({ imagePath: `gallery/2026-11/${id}.svg` }),
      row({ id: '../../x', imagePath: 'gallery/2026-11/../../x.png' }),
      row({ files: { 'history.db': 'AAAA', [`gallery/2026-11/${id}.png`]: 'AAAA' }, imagePath: 'history.db' }),
    ];
    const file = join(dataDir, 'exports', 'hostile.jsonl');
    writeFileSync(file, `${hostile.join('\n')}\n${row({})}\n`);
    const dbBefore = readFileSync(join(dataDir, 'history.db')).length;
    const r = (await call('history.import', { path: file })) as { ok: true; output: { imported: number; errors: { line: number; message: string }[] } };
    expect(r.output.errors.map((e) => e.line)).toEqual(hostile.map((_, i) => i + 1));
    for (const e of r.output.errors) expect(e.message).toMatch(/^refused: (its id|imagePath|thumbnailPath|maskPath)/);
    expect(r.output.imported).toBe(1);
    // Deleting and purging the imported row touches only gallery files; the database stays.
    expect((await call('history.delete', { ids: [id] })).ok).toBe(true);
    expect((await call('history.purge', { ids: [id] })).ok).toBe(true);
    expect(existsSync(join(dataDir, 'history.db'))).toBe(true);
    expect(readFileSync(join(dataDir, 'history.db')).length).toBeGreaterThanOrEqual(dbBefore > 0 ? 1 : 0);
    expect(((await call('history.search', { query: 'kept' })) as { output: { total: number } }).output.total).toBe(1);
  });

  it('never echoes the content of a file it cannot import', async () => {
    const secret = join(allowed, 'passwd');
    writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n{"id": "root:secret-value"}\n');
    const r = (await call('history.import', { path: secret })) as { ok: true; output: { errors: { message: string }[] } };
    expect(r.output.errors).toHaveLength(3);
    const all = JSON.stringify(r.output);
    for (const piece of ['root:x', 'daemon', '/bin/bash', 'secret-value']) expect(all).not.toContain(piece);
  });

  it('reads and writes only inside the data folder, allowed folders and dialog picks; never replaces a file unasked', async () => {
    writeFileSync(join(outside, 'history.jsonl'), '');
    const refused = async (name: string, input: object) => {
      const r = await call(name, input);
      expect(r.ok, `${name} ${JSON.stringify(input)}`).toBe(false);
      return (r as { error: { code: string; message: string } }).error;
    };
    expect((await refused('history.import', { path: '/etc/passwd' })).code).toBe('forbidden_path');
    expect((await refused('history.import', { path: join(outside, 'history.jsonl') })).code).toBe('forbidden_path');
    expect((await refused('history.export', { path: join(outside, 'out.jsonl') })).code).toBe('forbidden_path');
    expect((await refused('history.export', { path: '/etc/passwd', overwrite: true })).code).toBe('forbidden_path');
    expect((await refused('history.export', { path: join(dataDir, 'history.db'), overwrite: true })).message).toMatch(/studio's own files/);
    expect((await refused('history.export', { path: join(dataDir, 'gallery', 'x.jsonl') })).message).toMatch(/studio's own files/);
    expect((await refused('models.import', { path: join(outside, 'model.safetensors') })).code).toBe('forbidden_path');
    expect((await refused('training.scan', { datasetDir: outside })).code).toBe('forbidden_path');
    const v = (await call('models.validate', { path: outside })) as { output: { ok: boolean; errors: string[] } };
    expect(v.output).toMatchObject({ ok: false, errors: [expect.stringMatching(/outside the folders/)] });
    const imgs = (await call('history.importImages', { paths: [join(outside, 'a.png')] })) as { output: { errors: { message: string }[] } };
    expect(imgs.output.errors[0]!.message).toMatch(/outside the folders/);

    // A link inside an allowed folder that leads outside is judged by where it leads.
    symlinkSync(outside, join(allowed, 'link'));
    expect((await refused('history.import', { path: join(allowed, 'link', 'history.jsonl') })).code).toBe('forbidden_path');
    expect((await refused('history.export', { path: join(allowed, 'link', 'x.jsonl') })).code).toBe('forbidden_path');

    // Inside: export works, an existing file is kept unless overwrite, a missing folder is a clear error.
    const target = join(allowed, 'out.jsonl');
    expect((await call('history.export', { path: target })).ok).toBe(true);
    writeFileSync(target, 'mine');
    expect((await refused('history.export', { path: target })).code).toBe('exists');
    expect(readFileSync(target, 'utf8')).toBe('mine');
    expect((await call('history.export', { path: target, overwrite: true })).ok).toBe(true);
    expect((await refused('history.export', { path: join(allowed, 'missing', 'x.jsonl') })).message).toMatch(/does not exist/);
    expect(readdirSync(allowed).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    // A dialog pick (desktop) opens that one place.
    studio.allowPath(join(outside, 'history.jsonl'));
    expect((await call('history.import', { path: join(outside, 'history.jsonl') })).ok).toBe(true);
  });

  it('refuses decompression bombs and oversized pictures on every input path, and keeps running', async () => {
    // The case: 16384x4096 is within the decode limit's pixel count, but not a picture a job takes.
    const bomb = bombPng(16384, 4096);
    const bigBomb = bombPng(16384, 16384);
    const wide = await png(4608, 8);
    const ok = (await png(16, 16)).toString('base64');
    // Import of files.
    writeFileSync(join(allowed, 'bomb.png'), bigBomb);
    const imp = (await call('history.importImages', { paths: [join(allowed, 'bomb.png')] })) as { output: { errors: { message: string }[] } };
    expect(imp.output.errors[0]!.message).toMatch(/16384x16384, 268435456 pixels, over the limit/);
    // Canvas upload and its mask.
    expect((await call('gallery.save', { image: { base64: bigBomb.toString('base64') }, prompt: '' })).ok).toBe(false);
    const maskBomb = (await call('gallery.save', { image: { base64: ok }, prompt: '', mask: { base64: bombPng(20000, 20000).toString('base64') } })) as { ok: boolean; error?: { message: string } };
    expect(maskBomb.ok).toBe(false);
    expect(maskBomb.error!.message).toMatch(/mask .*(largest side|over the limit)/);
    // SVG and GIF are not pictures the gallery takes.
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    expect(((await call('gallery.save', { image: { base64: svg.toString('base64') }, prompt: '' })) as { error: { message: string } }).error.message).toMatch(/svg; images must be PNG, JPEG or WebP/);
    // img2img and inpaint: the job fails before the worker with the reason; the 4096 cap holds for the input's size.
    const jobs = [
      { ...txt2img('bomb'), kind: 'img2img', init: { base64: bomb.toString('base64') }, strength: 0.5 },
      { ...txt2img('wide'), kind: 'img2img', init: { base64: wide.toString('base64') }, strength: 0.5 },
      { ...txt2img('mask'), kind: 'inpaint', init: { base64: ok }, mask: { base64: bombPng(16384, 16384).toString('base64') }, strength: 1, feather: 0 },
    ];
    const reasons: string[] = [];
    for (const spec of jobs) {
      const sub = (await call('jobs.submit', { spec })) as { ok: boolean; output: { id: string } };
      expect(sub.ok).toBe(true);
      reasons.push((await waitForJob(studio, sub.output.id)).error ?? '');
    }
    expect(reasons[0]).toMatch(/init image is 16384x4096; the largest side allowed is 4096 pixels/);
    expect(reasons[1]).toMatch(/init image is 4608x8; the largest side allowed is 4096 pixels/);
    expect(reasons[2]).toMatch(/mask is 16384x16384/);
    expect(studio.workerStats().spawned.generate).toBe(0);
    // A txt2img too large for this computer is refused with the figure before it runs.
    const huge = (await call('jobs.submit', { spec: txt2img('huge', { width: 4096, height: 4096 }) })) as { output: { id: string } };
    expect((await waitForJob(studio, huge.output.id)).error).toMatch(/would need about [\d.]+ GiB of memory .* this computer has [\d.]+ GiB/);
    // Training scan: a bomb in the folder is rejected with its reason, the others are read.
    const set = join(allowed, 'set');
    mkdirSync(set);
    writeFileSync(join(set, 'bomb.png'), bombPng(8192, 8192));
    writeFileSync(join(set, 'fox.png'), await png(32, 32));
    const scan = (await call('training.scan', { datasetDir: set })) as { output: { images: unknown[]; rejected: { path: string; reason: string }[] } };
    expect(scan.output.images).toHaveLength(1);
    expect(scan.output.rejected[0]!.reason).toMatch(/8192x8192, 67108864 pixels, over the limit of 16777216/);
    // Model import: a 17-byte junk.onnx and a safetensors header bomb are not models.
    writeFileSync(join(allowed, 'junk.onnx'), 'not an onnx model');
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(2n ** 40n);
    writeFileSync(join(allowed, 'bomb.safetensors'), header);
    for (const [file, why] of [['junk.onnx', /junk\.onnx is not an ONNX model|not an ONNX model/], ['bomb.safetensors', /exceeds|shorter|not a valid safetensors/]] as const) {
      const v = (await call('models.validate', { path: join(allowed, file) })) as { output: { ok: boolean; errors: string[] } };
      expect(v.output.ok, file).toBe(false);
      expect(v.output.errors[0]).toMatch(why);
      expect((await call('models.import', { path: join(allowed, file) })).ok).toBe(false);
    }
    expect(((await call('models.list', {})) as { output: unknown[] }).output).toHaveLength(1);
    // A picture sent over POST /upload is an image source by its id (web mode's path for large pictures).
    const uploadId = 'ab'.repeat(12);
    writeFileSync(join(dataDir, 'uploads', uploadId), await png(16, 16));
    const viaUpload = (await call('jobs.submit', { spec: { ...txt2img('uploaded'), kind: 'img2img', init: { uploadId }, strength: 0.5 } })) as { output: { id: string } };
    expect(await waitForJob(studio, viaUpload.output.id)).toMatchObject({ status: 'completed', error: null });
    // Still answering.
    expect((await call('system.info', {})).ok).toBe(true);
  });
});
