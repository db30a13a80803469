// The weights cache: fp16/bf16 tensors widened exactly to float32 at page-aligned places, reused while
// the source is unchanged, rebuilt when it changes, bounded (least recently used removed first), and
// clear errors for truncated sources; no temporary file left behind.
import { promises as fsp, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../../electron/engine/io/safetensors.ts';
import type { TensorSlice } from '../../../electron/engine/pipelines/file-weights.ts';
import { cachedWeightsFile, defaultWeightCacheDir } from '../../../electron/engine/pipelines/weight-cache.ts';
import { bf16ToFloat, halfToFloat } from '../../../electron/engine/tensor.ts';
import { writeSafetensorsFile, type Dtype } from '../families/tiny-sd.ts';

let root: string;
const f = (n: string) => path.join(root, n);
const values = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i * 0.37) * 3 + (i === 7 ? 70000 : 0));

async function slicesOf(file: string): Promise<Map<string, TensorSlice>> {
  const h = await readSafetensorsHeader(file);
  return new Map(h.entries.map((entry) => [entry.name, { file, entry, start: 0, length: entry.length }]));
}

async function write(file: string, dtype: Dtype): Promise<Map<string, TensorSlice>> {
  await writeSafetensorsFile(file, [
    { name: 'a', shape: [5000], values },
    { name: 'b', shape: [3], values: new Float32Array([1, -2, 0.5]) },
  ], dtype);
  return slicesOf(file);
}

const cached = (dir: string) => fsp.readdir(dir).then((n) => n.sort());

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-wcache-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('weights cache', () => {
  it('widens fp16 and bf16 exactly, each tensor on a page, and reuses the file while the source is unchanged', async () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const dir = f(`c-${dtype}`);
      const src = await write(f(`w-${dtype}.safetensors`), dtype);
      const { file, where } = await cachedWeightsFile(src, { dir });
      expect(where.get('a')).toEqual({ offset: 0, length: 20000 });
      expect(where.get('b')).toEqual({ offset: 20480, length: 12 });
      const data = new Float32Array((await fsp.readFile(file)).buffer.slice(0));
      const raw = new Uint16Array((await fsp.readFile(f(`w-${dtype}.safetensors`))).buffer.slice(src.get('a')!.entry.offset, src.get('a')!.entry.offset + 10000));
      for (let i = 0; i < 5000; i++) expect(data[i]).toBe(dtype === 'F16' ? halfToFloat(raw[i]!) : bf16ToFloat(raw[i]!));
      expect(data[7]).toBe(dtype === 'F16' ? Infinity : bf16ToFloat(raw[7]!)); // 70000 overflows fp16
      expect([...data.subarray(5120, 5123)]).toEqual([1, -2, 0.5]);
      const before = (await fsp.stat(file)).ino;
      const again = await cachedWeightsFile(await slicesOf(f(`w-${dtype}.safetensors`)), { dir });
      expect([again.file, (await fsp.stat(file)).ino]).toEqual([file, before]);
      expect(await cached(dir)).toEqual([path.basename(file)]);
    }
  });

  it('a changed source gets a new file; beyond the bound the least recently used files go, never the one in use', async () => {
    const dir = f('bounded');
    const one = (await cachedWeightsFile(await write(f('one.safetensors'), 'F16'), { dir })).file;
    utimesSync(f('one.safetensors'), new Date(2030, 0, 1), new Date(2030, 0, 1));
    const changed = (await cachedWeightsFile(await slicesOf(f('one.safetensors')), { dir })).file;
    expect(changed).not.toBe(one);
    expect(await cached(dir)).toEqual([path.basename(one), path.basename(changed)].sort());
    // room for two files (24,576 bytes each): the least recently used goes
    utimesSync(one, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const two = (await cachedWeightsFile(await write(f('two.safetensors'), 'BF16'), { dir, maxBytes: 2 * 24576 })).file;
    expect(await cached(dir)).toEqual([path.basename(changed), path.basename(two)].sort());
    // smaller than one file: only the file in use stays
    const three = (await cachedWeightsFile(await write(f('three.safetensors'), 'F16'), { dir, maxBytes: 1 })).file;
    expect(await cached(dir)).toEqual([path.basename(three)]);
  });

  it('a truncated source is refused with the tensor named, and leaves no temporary file', async () => {
    const dir = f('trunc');
    const file = f('trunc.safetensors');
    const src = await write(file, 'F16');
    await fsp.truncate(file, (await fsp.stat(file)).size - 5000);
    await expect(cachedWeightsFile(src, { dir })).rejects.toThrow(/trunc\.safetensors: the file ends inside tensor a; it is truncated/);
    expect(await cached(dir)).toEqual([]);
  });
});

describe('the default weights cache folder', () => {
  it("is the user's cache folder on each platform, never the (often RAM-backed) temp folder", () => {
    expect(defaultWeightCacheDir({}, 'linux', '/home/ada')).toBe('/home/ada/.cache/latent-diffusion-studio/weights');
    expect(defaultWeightCacheDir({ XDG_CACHE_HOME: '/var/cache/ada' }, 'linux', '/home/ada')).toBe('/var/cache/ada/latent-diffusion-studio/weights');
    expect(defaultWeightCacheDir({ XDG_CACHE_HOME: 'relative' }, 'linux', '/home/ada')).toBe('/home/ada/.cache/latent-diffusion-studio/weights');
    expect(defaultWeightCacheDir({}, 'darwin', '/Users/ada')).toBe('/Users/ada/Library/Caches/latent-diffusion-studio/weights');
    expect(defaultWeightCacheDir({ LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' }, 'win32', 'C:\\Users\\ada')).toBe('C:\\Users\\ada\\AppData\\Local\\latent-diffusion-studio\\weights');
    expect(defaultWeightCacheDir().startsWith(os.tmpdir())).toBe(false);
  });
});
