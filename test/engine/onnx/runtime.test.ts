import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { IR_VERSION, OPSET, modelHash, safetensorsWeights, toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { RuntimeError, SessionCache, autoProviderCandidates, availableProviders, createSession, sessionKey } from '../../../electron/engine/onnx/runtime.ts';
import { readSafetensorsHeader, saveSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { floatToHalf, halfToFloat, type TensorData } from '../../../electron/engine/tensor.ts';
import { rng } from './ref.ts';
import { folderState } from '../../folder-state.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ldm-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = rng(7);
const randn = (shape: number[]): TensorData<'float32'> => ({
  dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => r() * 2 - 1),
});

/** A small conv + linear model with LDM-style parameter names. */
function model(): Graph {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', [2, 3, 6, 6]);
  const w = g.param('first_stage_model.encoder.conv_in.weight', [4, 3, 3, 3], { kind: 'normal', std: 0.1 });
  const b = g.param('first_stage_model.encoder.conv_in.bias', [4], { kind: 'zeros' });
  const l = g.param('first_stage_model.quant_conv.weight', [36, 5], { kind: 'normal', std: 0.1 });
  const h = g.silu(g.conv(x, w, b, { pads: [1, 1, 1, 1], strides: [2, 2] }));
  g.output(g.matmul(g.reshape(h, [2, -1]), l), 'y');
  return g;
}

const weights = new Map<string, TensorData>([
  ['first_stage_model.encoder.conv_in.weight', randn([4, 3, 3, 3])],
  ['first_stage_model.encoder.conv_in.bias', randn([4])],
  ['first_stage_model.quant_conv.weight', randn([36, 5])],
]);
const x = randn([2, 3, 6, 6]);

describe('serialisation', () => {
  it('writes opset 18 / IR 8, params as inputs or as initializers', () => {
    const g = model();
    const asInputs = onnxProto.onnx.ModelProto.decode(toModelProto(g, { kind: 'inputs' }));
    expect(Number(asInputs.irVersion)).toBe(IR_VERSION);
    expect(Number(asInputs.opsetImport[0]!.version)).toBe(OPSET);
    expect(asInputs.graph!.input!.map((i) => i.name)).toEqual(['x', ...g.params.keys()]);
    const embedded = onnxProto.onnx.ModelProto.decode(toModelProto(g, { kind: 'embedded', get: (n) => weights.get(n)! }));
    expect(embedded.graph!.input!.map((i) => i.name)).toEqual(['x']);
    expect(embedded.graph!.initializer!.map((t) => t.name)).toEqual(expect.arrayContaining([...g.params.keys()]));
  });

  it('mixes params as inputs with the rest as initializers', async () => {
    const g = model();
    const trained = 'first_stage_model.quant_conv.weight';
    const bytes = toModelProto(g, { kind: 'mixed', asInput: (n) => n === trained, rest: { kind: 'embedded', get: (n) => weights.get(n)! } });
    const m = onnxProto.onnx.ModelProto.decode(bytes);
    expect(m.graph!.input!.map((i) => i.name)).toEqual(['x', trained]);
    const s = await createSession(bytes, { provider: 'cpu' });
    const emb = await createSession(toModelProto(g, { kind: 'embedded', get: (n) => weights.get(n)! }), { provider: 'cpu' });
    const got = (await s.run({ x, [trained]: weights.get(trained)! })).y!.data as Float32Array;
    const want = (await emb.run({ x })).y!.data as Float32Array;
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    await s.release();
    await emb.release();
  });

  it('rejects weights whose shape or dtype does not match, and graphs without outputs', () => {
    const g = model();
    const bad = new Map(weights);
    bad.set('first_stage_model.encoder.conv_in.bias', randn([5]));
    expect(() => toModelProto(g, { kind: 'embedded', get: (n) => bad.get(n)! })).toThrow(
      /weight 'first_stage_model.encoder.conv_in.bias' is float32\[5\] but the graph expects float32\[4\]/);
    expect(() => toModelProto(new Graph('empty'), { kind: 'inputs' })).toThrow(/no outputs/);
    expect(() => toModelProto(g, { kind: 'external', file: 'w.safetensors', locate: () => ({ offset: 8, length: 16, dtype: 'int64' }) }))
      .toThrow(/stored as int64 .* expects float32/);
    expect(() => toModelProto(g, { kind: 'external', file: 'w.safetensors', locate: () => ({ offset: 8, length: 16, dtype: 'float32' }) }))
      .toThrow(/spans 16 bytes in w.safetensors; float32\[4, 3, 3, 3\] needs 432/);
  });

  it('hashes identical graphs identically and different graphs differently', () => {
    const a = toModelProto(model(), { kind: 'inputs' });
    const b = toModelProto(model(), { kind: 'inputs' });
    expect(modelHash(a)).toBe(modelHash(b));
    const g = model();
    g.output(g.value('x'));
    expect(modelHash(toModelProto(g, { kind: 'inputs' }))).not.toBe(modelHash(a));
  });
});

describe('runtime', () => {
  it('gives the same output for params fed as inputs, embedded, and external data in a safetensors file', async () => {
    const g = model();
    const fromInputs = await createSession(toModelProto(g, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
    const feeds = { x, ...Object.fromEntries(weights) };
    const want = (await fromInputs.run(feeds)).y!;
    expect(want.shape).toEqual([2, 5]);

    // initializers let onnxruntime pre-pack weights, which may reorder float sums: equal to rounding
    const emb = await createSession(toModelProto(g, { kind: 'embedded', get: (n) => weights.get(n)! }), { provider: 'cpu' });
    const embOut = (await emb.run({ x })).y!.data as Float32Array;
    embOut.forEach((v, i) => expect(v).toBeCloseTo((want.data as Float32Array)[i]!, 5));

    const file = path.join(dir, 'model.safetensors');
    await saveSafetensors(file, weights, { note: 'test' });
    const header = await readSafetensorsHeader(file);
    const ext = toModelProto(g, safetensorsWeights(header, path.basename(file)));
    expect(ext.length).toBeLessThan(2000); // weights stay in the safetensors file
    const s = await createSession(ext, { provider: 'cpu', weightsFile: file });
    expect((await s.run({ x })).y!.data).toEqual(embOut);
    // nothing is written beside the weights: the folder holds exactly what it held, unchanged
    const before = folderState(dir);
    const again = await createSession(ext, { provider: 'cpu', weightsFile: file });
    expect((await again.run({ x })).y!.data).toEqual(embOut);
    expect(folderState(dir)).toEqual(before);
    expect(readdirSync(dir).filter((f) => f.endsWith('.onnx'))).toEqual([]);
    for (const sess of [fromInputs, emb, s, again]) await sess.release();
  });

  it('widens float16 weights of a safetensors file to float32 params at load time', async () => {
    const file = path.join(dir, 'half.safetensors');
    await saveSafetensors(file, weights, undefined, { dtype: 'F16' });
    const header = await readSafetensorsHeader(file);
    expect(header.entries.every((e) => e.dtype === 'F16')).toBe(true);
    const s = await createSession(toModelProto(model(), safetensorsWeights(header, 'half.safetensors')), { provider: 'cpu', weightsFile: file });
    const rounded = new Map([...weights].map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).map((v) => halfToFloat(floatToHalf(v))) } as TensorData]));
    const emb = await createSession(toModelProto(model(), { kind: 'embedded', get: (n) => rounded.get(n)! }), { provider: 'cpu' });
    expect((await s.run({ x })).y!.data).toEqual((await emb.run({ x })).y!.data);
    await s.release();
    await emb.release();
  });

  it('reads weights in place from a read-only folder', async () => {
    const sub = path.join(dir, 'readonly');
    mkdirSync(sub);
    const file = path.join(sub, 'w.safetensors');
    await saveSafetensors(file, weights);
    chmodSync(sub, 0o555);
    try {
      const ext = toModelProto(model(), safetensorsWeights(await readSafetensorsHeader(file), 'w.safetensors'));
      const s = await createSession(ext, { provider: 'cpu', weightsFile: file });
      const emb = await createSession(toModelProto(model(), { kind: 'embedded', get: (n) => weights.get(n)! }), { provider: 'cpu' });
      expect((await s.run({ x })).y!.data).toEqual((await emb.run({ x })).y!.data);
      expect(readdirSync(sub)).toEqual(['w.safetensors']);
      await s.release();
      await emb.release();
    } finally {
      chmodSync(sub, 0o755);
    }
  });

  it('checks feeds and fetches with clear errors', async () => {
    const s = await createSession(toModelProto(model(), { kind: 'embedded', get: (n) => weights.get(n)! }), { provider: 'cpu' });
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y']);
    await expect(s.run({})).rejects.toThrow(/missing input 'x'/);
    await expect(s.run({ x: randn([1, 3, 6, 6]) })).rejects.toThrow(/input 'x' is float32\[1, 3, 6, 6\] but the model expects float32\[2, 3, 6, 6\]/);
    await expect(s.run({ x, z: x })).rejects.toThrow(/unknown input 'z'/);
    await expect(s.run({ x }, ['nope'])).rejects.toThrow(/unknown output 'nope'/);
    await s.release();
    await expect(s.run({ x })).rejects.toThrow(/released/);
  });

  it('reports the provider that runs, and fails clearly for unavailable providers', async () => {
    const avail = availableProviders();
    expect(avail.at(-1)).toBe('cpu');
    const bytes = toModelProto(model(), { kind: 'embedded', get: (n) => weights.get(n)! });
    const auto = await createSession(bytes, { provider: 'auto', threads: 2 });
    expect(avail).toContain(auto.provider);
    // 'auto' runs on the provider autoProviderCandidates names first (after this try's failures are known).
    const candidates = autoProviderCandidates();
    expect(candidates[0]).toBe(auto.provider);
    expect(candidates).not.toContain('webgpu');
    expect(candidates.at(-1)).toBe('cpu');
    expect((await auto.run({ x })).y!.shape).toEqual([2, 5]);
    await auto.release();
    if (!avail.includes('cuda')) await expect(createSession(bytes, { provider: 'cuda' })).rejects.toThrow(/'cuda' is not available.*npm rebuild/);
    if (!avail.includes('dml')) await expect(createSession(bytes, { provider: 'dml' })).rejects.toThrow(RuntimeError);
    if (avail.includes('webgpu')) {
      // bundled but may have no adapter (no GPU here): either it runs, or the error says it failed to start
      await createSession(bytes, { provider: 'webgpu' }).then((s) => s.release(), (e: Error) => expect(e.message).toMatch(/'webgpu' failed to start/));
    }
    await expect(createSession(bytes, { provider: 'cpu', threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    await expect(createSession(new Uint8Array([1, 2, 3]), { provider: 'cpu' })).rejects.toThrow(RuntimeError);
  });

  it('caches sessions by graph hash, shares concurrent builds and evicts the least recently used', async () => {
    const cache = new SessionCache(2);
    const bytes = toModelProto(model(), { kind: 'inputs' });
    const key = sessionKey(bytes, { provider: 'cpu' });
    expect(key).toBe(sessionKey(toModelProto(model(), { kind: 'inputs' }), { provider: 'cpu' }));
    let builds = 0;
    const build = () => { builds++; return createSession(bytes, { provider: 'cpu' }); };
    const [a, b] = await Promise.all([cache.get(key, build), cache.get(key, build)]);
    expect(a).toBe(b);
    expect(builds).toBe(1);
    await cache.get('k2', build);
    await cache.get(key, build); // touch
    await cache.get('k3', build); // evicts k2
    expect(cache.size).toBe(2);
    expect(builds).toBe(3);
    await expect(cache.get('bad', () => createSession(new Uint8Array([0]), { provider: 'cpu' }))).rejects.toThrow();
    await new Promise((res) => setTimeout(res, 0));
    expect(cache.size).toBe(2);
    await cache.clear();
    await expect(a.run({ x, ...Object.fromEntries(weights) })).rejects.toThrow(/released/);
  });
});

describe('runInto', () => {
  it('writes outputs into caller-owned buffers and checks them', async () => {
    const s = await createSession(toModelProto(model(), { kind: 'embedded', get: (n) => weights.get(n)! }), { provider: 'cpu' });
    const want = (await s.run({ x })).y!;
    const buf: TensorData<'float32'> = { dtype: 'float32', shape: [2, 5], data: new Float32Array(10) };
    await s.runInto({ x }, { y: buf });
    expect(buf.data).toEqual(want.data);
    await expect(s.runInto({ x }, { y: { dtype: 'float32', shape: [5, 2], data: new Float32Array(10) } })).rejects.toThrow(/output 'y' is float32\[5, 2\]/);
    await expect(s.runInto({ x }, { q: buf })).rejects.toThrow(/unknown output 'q'/);
    await s.release();
  });
});

describe('size limit', () => {
  it('refuses to embed more than protobuf can hold, pointing to external data', () => {
    const g = new Graph('huge');
    const p = g.param('w', [600, 1024, 1024], { kind: 'zeros' }); // 2.3 GiB of float32
    g.output(g.relu(p), 'y');
    // a stand-in that only reports its size: the limit is checked before any bytes are touched
    const fake = { dtype: 'float32', shape: [600, 1024, 1024], data: { buffer: new ArrayBuffer(0), byteOffset: 0, byteLength: 600 * 2 ** 22, length: 600 * 2 ** 20 } } as unknown as TensorData;
    expect(() => toModelProto(g, { kind: 'embedded', get: () => fake })).toThrow(/over protobuf's 2 GiB limit.*external data/);
  });
});
