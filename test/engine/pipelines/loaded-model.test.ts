// Loading model packages from disk: F32 weights are used in place (ONNX external data into the
// safetensors file), F16 ones widened in memory; both sample like the same weights held in memory.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, LoadedModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { saveTinyPackage, tinySpec, tinyWeights, TINY_VOCAB } from './tiny-model.ts';
import { scratchRoot } from '../../../electron/engine/pipelines/weight-cache.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-loaded-'));
  await saveTinyPackage(path.join(root, 'f32'));
  await saveTinyPackage(path.join(root, 'f16'), { dtype: 'F16' });
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const opts = { prompt: 'a red heart', seed: 9, steps: 3, width: 32, height: 32 };

describe('loadModel', () => {
  it('reads model.json: name, hash, latent facts and sampling defaults', async () => {
    const m = await loadModel(path.join(root, 'f32'), { provider: 'cpu', threads: 1 });
    expect([m.name, m.hash.length, m.latentChannels, m.downscale, m.unetInChannels]).toEqual(['tiny', 10, 4, 4, 4]);
    expect(m.defaults).toEqual({ sampler: 'ddim', steps: 3, guidance: 5, width: 32, height: 32 });
    expect(m.preview?.weights).toHaveLength(3);
    await m.release();
  });

  it('F32 package (external data) samples exactly like the same weights in memory; F16 closely', async () => {
    // Same prompts → same ids: the in-memory spec uses the package's word tokenizer.
    const f32 = await loadModel(path.join(root, 'f32'), { provider: 'cpu', threads: 1 });
    const mem = new LoadedModel({ ...tinySpec({ kind: 'memory', tensors: tinyWeights(1) }), tokenize: f32.spec.tokenize }, { provider: 'cpu', threads: 1 });
    const f16 = await loadModel(path.join(root, 'f16'), { provider: 'cpu', threads: 1 });
    const [a] = await txt2img(f32, opts);
    const [b] = await txt2img(mem, opts);
    const [c] = await txt2img(f16, opts);
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    let maxDiff = 0;
    for (let i = 0; i < a!.image.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a!.image.data[i]! - c!.image.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(8);
    // External data: the float32 package is read in place and nothing is written beside it.
    expect((await fsp.readdir(path.join(root, 'f32'))).filter((f) => f.endsWith('.onnx'))).toEqual([]);
    await Promise.all([f32.release(), mem.release(), f16.release()]);
  });

  it('big in-memory weights go through a temporary safetensors file (ONNX cannot embed over 2 GB), same pixels', async () => {
    const spec = tinySpec({ kind: 'memory', tensors: tinyWeights(5) });
    const small = new LoadedModel(spec, { provider: 'cpu', threads: 1 });
    const big = new LoadedModel(spec, { provider: 'cpu', threads: 1, maxEmbeddedBytes: 0 });
    const spills = async () => (await fsp.readdir(scratchRoot()).catch(() => [] as string[])).filter((d) => d.startsWith('ldm-weights-'));
    const before = await spills();
    const [a] = await txt2img(small, opts);
    const [b] = await txt2img(big, opts);
    expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
    const during = (await spills()).filter((d) => !before.includes(d));
    expect(during).toHaveLength(1);
    await Promise.all([small.release(), big.release()]);
    expect((await spills()).filter((d) => !before.includes(d))).toEqual([]);
    // Still usable after release: the weights are spilled again.
    const [c] = await txt2img(big, opts);
    expect(Buffer.from(c!.image.data).equals(Buffer.from(a!.image.data))).toBe(true);
    await big.release();
  });

  it('the word tokenizer maps known words, drops unknown ones and pads to the model length', async () => {
    const m = await loadModel(path.join(root, 'f32'));
    const ids = Array.from(m.spec.tokenize('A red, HEART! zebra'));
    const id = (w: string) => TINY_VOCAB.indexOf(w);
    expect(ids).toEqual([id('<start>'), id('a'), id('red'), id('heart'), id('<end>'), id('<pad>'), id('<pad>'), id('<pad>')]);
  });

  it('refuses what it cannot sample with the reason', async () => {
    await expect(loadModel(path.join(root, 'nothing'))).rejects.toThrow(/model\.json is missing/);
  });
});
