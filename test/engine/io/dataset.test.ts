import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captionFromName, loadDataset, readCaption, scanDataset, withTrigger, writeCaption } from '../../../electron/engine/io/dataset.ts';
import { stripes, writePng } from '../finetune/fixtures.ts';

let dir: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dataset-'));
  await writePng(path.join(dir, 'a_sidecar.png'), stripes(32, 4, 0), 32);
  await fsp.writeFile(path.join(dir, 'a_sidecar.txt'), '\uFEFFmagenta  stripes\n');
  await writePng(path.join(dir, 'b_caption.png'), stripes(32, 4, 1), 32);
  await fsp.writeFile(path.join(dir, 'b_caption.caption'), 'green stripes');
  // a wide JPEG: resized to cover 32×32 and centre-cropped
  await sharp(stripes(64, 8, 0), { raw: { width: 64, height: 64, channels: 3 } }).resize(96, 48, { fit: 'fill' }).jpeg().toFile(path.join(dir, 'wide_picture-01.jpg'));
  // transparent WebP: alpha composited on white
  const rgba = Buffer.alloc(32 * 32 * 4); // fully transparent black
  await sharp(rgba, { raw: { width: 32, height: 32, channels: 4 } }).webp({ lossless: true }).toFile(path.join(dir, 'clear.webp'));
  // rejects
  await fsp.writeFile(path.join(dir, 'corrupt.png'), Buffer.from('not a png at all'));
  const good = await fsp.readFile(path.join(dir, 'a_sidecar.png'));
  await fsp.writeFile(path.join(dir, 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
  await writePng(path.join(dir, 'tiny.png'), stripes(4, 1, 0), 4);
  await writePng(path.join(dir, 'huge.png'), stripes(200, 4, 0), 200);
  await writePng(path.join(dir, 'bad_utf8.png'), stripes(32, 2, 0), 32);
  await fsp.writeFile(path.join(dir, 'bad_utf8.txt'), Buffer.from([0x61, 0xff, 0xfe, 0x62]));
  await fsp.copyFile(path.join(dir, 'a_sidecar.png'), path.join(dir, 'z_copy.png'));
  await fsp.writeFile(path.join(dir, 'notes.md'), 'not an image, ignored');
  await writePng(path.join(dir, 'sub', 'deep.png'), stripes(32, 3, 0), 32);
});

afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('loadDataset', () => {
  it('reads pictures with captions, rejects bad files with reasons, finds duplicates', async () => {
    const ds = await loadDataset(dir, { width: 32, height: 32, triggerWord: 'zqx', limits: { maxPixels: 100 * 100 } });
    const by = new Map(ds.items.map((i) => [path.basename(i.path), i]));
    expect([...by.keys()].sort()).toEqual(['a_sidecar.png', 'b_caption.png', 'clear.webp', 'wide_picture-01.jpg']);
    expect(by.get('a_sidecar.png')).toMatchObject({ caption: 'zqx, magenta stripes', captionSource: 'sidecar', width: 32, height: 32 });
    expect(by.get('b_caption.png')!.caption).toBe('zqx, green stripes');
    expect(by.get('wide_picture-01.jpg')).toMatchObject({ caption: 'zqx, wide picture', captionSource: 'filename', width: 96, height: 48 });
    const clear = by.get('clear.webp')!.pixels;
    expect(clear.length).toBe(3 * 32 * 32);
    expect(Math.min(...clear)).toBeGreaterThan(0.99); // white, not black

    const reasons = Object.fromEntries(ds.rejected.map((r) => [path.basename(r.path), r.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['bad_utf8.png', 'corrupt.png', 'huge.png', 'tiny.png', 'truncated.png', 'z_copy.png']);
    expect(reasons['corrupt.png']).toMatch(/not a readable image/);
    expect(reasons['truncated.png']).toMatch(/corrupt or truncated/);
    expect(reasons['tiny.png']).toMatch(/too small \(4x4/);
    expect(reasons['huge.png']).toMatch(/40000 pixels, over the limit/);
    expect(reasons['bad_utf8.png']).toMatch(/bad_utf8\.txt is not valid UTF-8/);
    expect(reasons['z_copy.png']).toMatch(/duplicate of a_sidecar\.png/);
    expect(ds.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('centre-crops to the training size and reads sub-folders only when recursive', async () => {
    const flat = await loadDataset(dir, { width: 16, height: 16 });
    expect(flat.items.some((i) => i.path.includes('sub'))).toBe(false);
    const deep = await loadDataset(dir, { width: 16, height: 16, recursive: true });
    expect(deep.items.map((i) => path.basename(i.path))).toContain('deep.png');
    const wide = deep.items.find((i) => i.path.endsWith('.jpg'))!;
    expect(wide.pixels.length).toBe(3 * 16 * 16);
    // the hash names the data: another size, other pixels
    expect(deep.hash).not.toBe(flat.hash);
  });

  it('scans by the same rules without keeping pixels', async () => {
    const scan = await scanDataset(dir, { triggerWord: 'zqx', limits: { maxPixels: 100 * 100 } });
    const full = await loadDataset(dir, { width: 32, height: 32, triggerWord: 'zqx', limits: { maxPixels: 100 * 100 } });
    expect(scan.items.map((i) => [i.path, i.caption, i.width, i.height])).toEqual(full.items.map((i) => [i.path, i.caption, i.width, i.height]));
    expect(scan.rejected).toEqual(full.rejected);
    expect('pixels' in scan.items[0]!).toBe(false);
  });

  it('hands each picture to onPicture, can drop pixels, and stops on a failing callback', async () => {
    const seen: number[] = [];
    const ds = await loadDataset(dir, { width: 16, height: 16, keepPixels: false, onPicture: async (it) => void seen.push(it.pixels.length) });
    expect(seen).toEqual(ds.items.map(() => 3 * 16 * 16));
    expect(ds.items.every((i) => i.pixels.length === 0)).toBe(true);
    await expect(loadDataset(dir, { width: 16, height: 16, onPicture: async () => Promise.reject(new Error('encoder broke')) })).rejects.toThrow('encoder broke');
  });

  it('fails clearly for a missing folder', async () => {
    await expect(loadDataset(path.join(dir, 'nope'), { width: 32, height: 32 })).rejects.toThrow(/cannot read the data set folder/);
  });
});

describe('captions', () => {
  it('come from file names without separators and copy numbers', () => {
    expect(captionFromName('red_heart-02')).toBe('red heart');
    expect(captionFromName('cat (1)')).toBe('cat');
    expect(captionFromName('a.b_c')).toBe('a b c');
  });

  it('get the trigger word once', () => {
    expect(withTrigger('red heart', 'zqx')).toBe('zqx, red heart');
    expect(withTrigger('zqx, red heart', 'zqx')).toBe('zqx, red heart');
    expect(withTrigger('', 'zqx')).toBe('zqx');
    expect(withTrigger('red', '')).toBe('red');
  });
});

describe('writeCaption', () => {
  it('writes stem.txt as UTF-8 atomically, and the scan reads it back in place of a .caption file or the name', async () => {
    const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'captions-'));
    try {
      await writePng(path.join(d, 'red_fox.png'), stripes(32, 4, 0), 32);
      await fsp.writeFile(path.join(d, 'red_fox.caption'), 'old caption');
      const img = path.join(d, 'red_fox.png');
      expect(await readCaption(img)).toEqual({ caption: 'old caption', source: 'sidecar' });
      const written = await writeCaption(img, '  ein Fuchs im Schnee, 雪の狐 \n');
      expect(written).toEqual({ path: path.join(d, 'red_fox.txt'), caption: 'ein Fuchs im Schnee, 雪の狐', source: 'sidecar' });
      expect(await fsp.readFile(written.path, 'utf8')).toBe('ein Fuchs im Schnee, 雪の狐');
      expect((await scanDataset(d)).items.map((i) => i.caption)).toEqual(['ein Fuchs im Schnee, 雪の狐']);
      expect((await fsp.readdir(d)).sort()).toEqual(['red_fox.caption', 'red_fox.png', 'red_fox.txt']); // no temp file left
      // An empty caption hands over to the .caption file (and without one, the file name).
      expect(await writeCaption(img, ' ')).toMatchObject({ caption: 'old caption', source: 'sidecar' });
      await fsp.rm(path.join(d, 'red_fox.caption'));
      expect(await readCaption(img)).toEqual({ caption: 'red fox', source: 'filename' });
      await expect(writeCaption(path.join(d, 'notes.md'), 'x')).rejects.toThrow(/not a PNG, JPEG or WebP picture/);
      await expect(writeCaption(img, 'x'.repeat(70_000))).rejects.toThrow(/captions are at most 65536/);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});
