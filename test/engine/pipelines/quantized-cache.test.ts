// Quantised weights of checkpoints in the weights cache (issue 13): int8/int4 codes, scales and the other
// weights of each quantised network are written once into one cache file that onnxruntime maps; the
// next start reuses it (same outputs, nothing rewritten), nothing is written beside the checkpoint,
// and the outputs stay near fp32.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../../electron/engine/families/index.ts';
import type { LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { tensor } from '../../../electron/engine/tensor.ts';
import { writeSd1File } from '../families/tiny-sd.ts';

let root: string;
const f = (n: string) => path.join(root, n);

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-qcache-'));
  await fsp.mkdir(f('models'));
  await writeSd1File(f('models/sd1.safetensors'));
  await writeSd1File(f('models/sd1-f16.safetensors'), { dtype: 'F16' });
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2);
}

const rel = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / b.reduce((s, v) => s + v * v, 0));

/** Text context and one UNet call. */
async function eps(m: LoadedModel): Promise<{ context: Float32Array; eps: Float32Array }> {
  const context = await m.encodeText(['']);
  const out = await m.predictNoise(tensor('float32', [1, 4, 8, 8], random(256, 7)), 500, context);
  await m.release();
  return { context: context.data, eps: out.data };
}

describe('quantised weights cache', () => {
  it('int8 from an fp16 file and an fp32 file: one cache file per quantised network, reused, near fp32', async () => {
    const weightCache = { dir: f('cache') };
    const rt = { provider: 'cpu' as const, threads: 1, weightCache };
    const base = await eps((await openModel(f('models/sd1.safetensors'), rt)).model);
    const listing = await fsp.readdir(f('models'));

    const q = await eps((await openModel(f('models/sd1.safetensors'), { ...rt, weights: 'int8' })).model);
    // the fp32 file is read in place (no .f32); the UNet and the text encoder are quantised into the cache
    const made = (await fsp.readdir(f('cache'))).filter((n) => n.endsWith('.q8'));
    expect(made).toHaveLength(2);
    expect(await fsp.readdir(f('models'))).toEqual(listing);
    expect(rel(q.eps, base.eps)).toBeGreaterThan(0);
    expect(rel(q.eps, base.eps)).toBeLessThan(0.03);
    expect(rel(q.context, base.context)).toBeLessThan(0.03);

    const stat = async () => Promise.all(made.map(async (n) => (await fsp.stat(path.join(f('cache'), n))).ino));
    const inodes = await stat();
    const again = await eps((await openModel(f('models/sd1.safetensors'), { ...rt, weights: 'int8' })).model);
    expect(again.eps).toEqual(q.eps);
    expect(await stat()).toEqual(inodes); // found, not written again

    // an fp16 file: widened once (.f32), quantised from that; int4 is a file of its own
    const h = await eps((await openModel(f('models/sd1-f16.safetensors'), { ...rt, weights: 'int4' })).model);
    const q4 = (await fsp.readdir(f('cache'))).filter((n) => n.endsWith('.q4'));
    expect(q4).toHaveLength(2);
    expect(rel(h.eps, base.eps)).toBeLessThan(0.2);
    // the next start finds them, although using the widened .f32 file touched its times
    await new Promise((r) => setTimeout(r, 20));
    expect((await eps((await openModel(f('models/sd1-f16.safetensors'), { ...rt, weights: 'int4' })).model)).eps).toEqual(h.eps);
    expect((await fsp.readdir(f('cache'))).filter((n) => n.endsWith('.q4'))).toEqual(q4);
  });
});
