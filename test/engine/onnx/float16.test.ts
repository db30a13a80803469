// The float16 graph variant for GPU providers (onnx/float16.ts): its types and casts on a tiny graph, the
// normalisation statistics found in every real network, weights narrowed or used in place, and numbers
// close to float32. onnxruntime's CPU provider runs float16 graphs by casting around the kernels it lacks,
// so the variant's output can be checked here against the float32 graph on the same weights.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph, type Node } from '../../../electron/engine/onnx/graph.ts';
import { float16Weights, normalizationStatistics, toFloat16 } from '../../../electron/engine/onnx/float16.ts';
import { availableProviders, createSession, float16OptionsFor, precisionFor, type GraphPrecision } from '../../../electron/engine/onnx/runtime.ts';
import { safetensorsWeights, toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { readSafetensorsHeader, saveSafetensors } from '../../../electron/engine/io/safetensors.ts';
import { buildTextEncoderGraph, buildUNetGraph, buildVaeDecoderGraph } from '../../../electron/engine/nn/models.ts';
import { openModel } from '../../../electron/engine/families/index.ts';
import { loadModel } from '../../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET, randomTensor } from '../nn/helpers.ts';
import { quantizedWeights, weightQuantFor } from '../../../electron/engine/nn/quantize.ts';
import { writeSd1File } from '../families/tiny-sd.ts';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ldm-fp16-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** conv → GroupNorm → SiLU → Gemm → Softmax → Resize, with a scalar shared by a normalisation and an Add. */
function tiny(): Graph {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', [1, 4, 4, 4]);
  const w = g.param('conv.weight', [8, 4, 3, 3], { kind: 'normal', std: 0.2 });
  const gamma = g.param('norm.weight', [8], { kind: 'ones' });
  const beta = g.param('norm.bias', [8], { kind: 'zeros' });
  const lin = g.param('proj.weight', [8, 128], { kind: 'normal', std: 0.1 });
  const h = g.silu(g.groupNorm(g.conv(x, w, undefined, { pads: [1, 1, 1, 1] }), 2, gamma, beta, 1e-5));
  const flat = g.reshape(h, [1, 128]);
  const p = g.softmax(g.gemm(flat, lin, undefined, { transB: true }), -1);
  g.output(g.add(p, 1e-5), 'probs');
  g.output(g.resizeNearest(h, 2), 'up');
  return g;
}

/**
 * Random weights for every param (not the training init, whose zeroed output convolutions would make the
 * outputs 0 whatever the precision): ±1/√fan-in, norm scales 1, biases ±0.01.
 */
function weightMap(g: Graph, seed = 3): Map<string, TensorData> {
  let s = seed;
  const out = new Map<string, TensorData>();
  for (const [name, p] of g.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const norm = name.includes('norm');
    const scale = name.endsWith('.bias') || norm ? 0.01 : 1 / Math.sqrt(n / p.shape[0]!);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = norm && name.endsWith('.weight') ? 1 : ((s / 2 ** 32) * 2 - 1) * scale;
    }
    out.set(name, tensor('float32', [...p.shape], data));
  }
  return out;
}

/** Largest difference relative to the largest magnitude of the float32 output (which must not be all zeros). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  expect(scale).toBeGreaterThan(1e-3);
  return maxDiff(a, b) / scale;
}

async function run(g: Graph, weights: ReadonlyMap<string, TensorData>, feeds: Record<string, TensorData>, half: boolean) {
  const mode = { kind: 'embedded' as const, get: (n: string) => weights.get(n)! };
  const bytes = toModelProto(g, half ? float16Weights(mode, g) : mode);
  const s = await createSession(bytes, { provider: 'cpu', threads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const opOf = (g: Graph, name: string): Node | undefined => g.producer(name);

describe('toFloat16', () => {
  it('keeps the interface float32, stores weights float16, casts once at each boundary', () => {
    const src = tiny();
    const g = toFloat16(src);
    expect(g.inputs.map((v) => [v.name, v.dtype])).toEqual([['x', 'float32']]);
    expect(g.outputs.map((v) => [v.name, v.dtype, [...v.shape]])).toEqual([['probs', 'float32', [1, 8]], ['up', 'float32', [1, 8, 8, 8]]]);
    for (const p of g.params.values()) expect(p.dtype, p.name).toBe('float16');
    // Each output is a Cast from float16; the input is cast once, for the conv.
    for (const o of ['probs', 'up']) expect(opOf(g, o)?.op).toBe('Cast');
    const inputCasts = g.nodes.filter((n) => n.op === 'Cast' && n.inputs[0] === 'x');
    expect(inputCasts.map((n) => g.value(n.outputs[0]!).dtype)).toEqual(['float16']);
    // Every float value that is not a normalisation statistic or a boundary is float16.
    const conv = g.nodes.find((n) => n.op === 'Conv')!;
    expect(g.value(conv.outputs[0]!).dtype).toBe('float16');
    const sm = g.nodes.find((n) => n.op === 'Softmax')!;
    expect(g.value(sm.inputs[0]!).dtype).toBe('float16');
    // Resize's scales keep their own type (float32 by the ONNX spec).
    const resize = g.nodes.find((n) => n.op === 'Resize')!;
    expect(g.value(resize.inputs[0]!).dtype).toBe('float16');
    const scales = resize.inputs.at(-1)!;
    expect(g.value(scales).dtype).toBe('float32');
  });

  it('computes the normalisation statistics in float32 (one cast in, one out) and keeps named ops float32', () => {
    const src = tiny();
    const stats = normalizationStatistics(src);
    expect([...stats].map((n) => n.op).sort()).toEqual(['Add', 'Div', 'Mul', 'ReduceMean', 'ReduceMean', 'Sqrt', 'Sub']);
    const g = toFloat16(src, { keepFloat32: ['Softmax'] });
    const f32Ops = g.nodes.filter((n) => n.op !== 'Cast' && n.outputs.some((o) => g.value(o).dtype === 'float32')).map((n) => n.op).sort();
    expect(f32Ops).toEqual(['Add', 'Div', 'Mul', 'ReduceMean', 'ReduceMean', 'Softmax', 'Sqrt', 'Sub']);
    const sm = g.nodes.find((n) => n.op === 'Softmax')!;
    expect(g.value(sm.inputs[0]!).dtype).toBe('float32');
    // The eps scalar (shared with the Add on the probabilities) stays float32 for the normalisation, and
    // is cast once to float16 for the other Add.
    const adds = g.nodes.filter((n) => n.op === 'Add' && n.inputs[1]!.startsWith('const'));
    expect(adds.map((n) => g.value(n.inputs[1]!).dtype).sort()).toEqual(['float16', 'float32']);
    const eps = adds.find((n) => g.value(n.inputs[1]!).dtype === 'float32')!.inputs[1]!;
    expect(g.constants.get(eps)!.dtype).toBe('float32');
    // Without the option every statistic is float16.
    const all = toFloat16(src, { float32Statistics: false });
    expect(all.nodes.filter((n) => n.op !== 'Cast' && n.outputs.some((o) => all.value(o).dtype === 'float32'))).toEqual([]);
  });

  it('finds every normalisation of the UNet, VAE decoder and text encoder (one per Sqrt)', () => {
    const graphs = [
      buildUNetGraph(TINY_UNET, { batch: 2, height: 8, width: 8, contextLength: 6, fusedAttention: true }),
      buildVaeDecoderGraph({ ...TINY_KL, attnResolutions: [8] }, 1, 4, 4, { fusedAttention: true }),
      buildTextEncoderGraph(TINY_TEXT, 1, 0),
    ];
    for (const g of graphs) {
      const sqrt = g.nodes.filter((n) => n.op === 'Sqrt').length;
      expect(sqrt, g.name).toBeGreaterThan(0);
      expect([...normalizationStatistics(g)].filter((n) => n.op === 'Sqrt').length, g.name).toBe(sqrt);
    }
  });

  it('runs close to float32 on the same weights (tiny graph, UNet, VAE decoder, text encoder)', async () => {
    const g = tiny();
    const w = weightMap(g);
    const feeds = { x: randomTensor([1, 4, 4, 4], 5) };
    const [a, b] = [await run(g, w, feeds, false), await run(toFloat16(g), w, feeds, true)];
    expect(b.probs!.dtype).toBe('float32');
    expect(relDiff(a.probs!.data as Float32Array, b.probs!.data as Float32Array)).toBeLessThan(1e-2);
    expect(relDiff(a.up!.data as Float32Array, b.up!.data as Float32Array)).toBeLessThan(1e-2);

    const unet = buildUNetGraph(TINY_UNET, { batch: 2, height: 8, width: 8, contextLength: 6, fusedAttention: true });
    const uw = weightMap(unet, 4);
    const uf = { sample: randomTensor([2, 4, 8, 8], 1), timestep_embedding: randomTensor([2, 16], 2), encoder_hidden_states: randomTensor([2, 6, 12], 3) };
    const [u32, u16] = [await run(unet, uw, uf, false), await run(toFloat16(unet, float16OptionsFor('cuda')), uw, uf, true)];
    expect(relDiff(u32.out_sample!.data as Float32Array, u16.out_sample!.data as Float32Array)).toBeLessThan(1e-2);

    const vae = buildVaeDecoderGraph({ ...TINY_KL, attnResolutions: [8] }, 1, 4, 4, { fusedAttention: true });
    const vw = weightMap(vae, 5);
    const vf = { latent_sample: randomTensor([1, 4, 4, 4], 6) };
    const [v32, v16] = [await run(vae, vw, vf, false), await run(toFloat16(vae, float16OptionsFor('webgpu')), vw, vf, true)];
    expect(relDiff(v32.sample!.data as Float32Array, v16.sample!.data as Float32Array)).toBeLessThan(1e-2);

    const text = buildTextEncoderGraph({ ...TINY_TEXT, causal: true }, 1, 0);
    const tw = weightMap(text, 6);
    const tf = { input_ids: tensor('int64', [1, 6], BigInt64Array.from([1n, 5n, 9n, 2n, 0n, 0n])) };
    const [t32, t16] = [await run(text, tw, tf, false), await run(toFloat16(text), tw, tf, true)];
    expect(relDiff(t32.last_hidden_state!.data as Float32Array, t16.last_hidden_state!.data as Float32Array)).toBeLessThan(1e-2);
  }, 30_000);

  it('runs quantised weights inside a float16 graph: int4 linear layers (MatMulNBits) stay float32, int8 dequantises to float32 then casts', async () => {
    const opts = { batch: 2, height: 8, width: 8, contextLength: 6, fusedAttention: true };
    const w = weightMap(buildUNetGraph(TINY_UNET, opts), 4);
    const mode = { kind: 'embedded' as const, get: (n: string) => w.get(n)! };
    const feeds = { sample: randomTensor([2, 4, 8, 8], 1), timestep_embedding: randomTensor([2, 16], 2), encoder_hidden_states: randomTensor([2, 6, 12], 3) };
    for (const precision of ['int4', 'int8'] as const) {
      const outs: Float32Array[] = [];
      for (const half of [false, true]) {
        const built = buildUNetGraph(TINY_UNET, { ...opts, weightQuant: weightQuantFor(precision) });
        const g = half ? toFloat16(built) : built;
        const q = quantizedWeights(built, mode);
        if (half) {
          const mm = g.nodes.filter((n) => n.op === 'MatMulNBits');
          if (precision === 'int4') expect(mm.length).toBeGreaterThan(0);
          for (const n of mm) expect(g.value(n.inputs[0]!).dtype).toBe('float32');
          for (const n of g.nodes.filter((n) => n.op === 'DequantizeLinear')) expect(g.value(n.outputs[0]!).dtype).toBe('float32');
        }
        const s = await createSession(toModelProto(g, half ? float16Weights(q, g) : q), { provider: 'cpu', threads: 1 });
        outs.push((await s.run(feeds)).out_sample!.data as Float32Array);
        await s.release();
      }
      expect(relDiff(outs[0]!, outs[1]!)).toBeLessThan(1e-2);
    }
  });

  it('takes float32 external weights (narrowed by a Cast at load) and float16 ones in place', async () => {
    const g = tiny();
    const w = weightMap(g);
    const f32File = path.join(root, 'w32.safetensors');
    const f16File = path.join(root, 'w16.safetensors');
    await saveSafetensors(f32File, w);
    const h = toFloat16(g);
    const half = float16Weights({ kind: 'embedded', get: (n) => w.get(n)! }, h) as { get(n: string): TensorData };
    await saveSafetensors(f16File, new Map([...w.keys()].map((k) => [k, half.get(k)])));
    const feeds = { x: randomTensor([1, 4, 4, 4], 5) };
    const want = await run(h, w, feeds, true);
    for (const file of [f32File, f16File]) {
      const ext = safetensorsWeights(await readSafetensorsHeader(file), path.basename(file));
      const s = await createSession(toModelProto(h, ext), { provider: 'cpu', threads: 1, weightsFile: file });
      const got = await s.run(feeds);
      await s.release();
      expect(maxDiff(want.probs!.data as Float32Array, got.probs!.data as Float32Array), file).toBe(0);
    }
  });
});

describe('precision per provider', () => {
  it('float16 on GPU providers, float32 on the CPU; a ModelFor is built in the precision of the provider that starts', async () => {
    expect(precisionFor('cpu')).toBe('float32');
    for (const p of ['cuda', 'dml', 'coreml', 'webgpu'] as const) expect(precisionFor(p)).toBe('float16');
    expect(float16OptionsFor('webgpu').keepFloat32).toContain('Softmax');
    expect(float16OptionsFor('cuda').keepFloat32).toEqual([]);
    const g = tiny();
    const w = weightMap(g);
    const asked: GraphPrecision[] = [];
    const s = await createSession(async (precision) => {
      asked.push(precision);
      const graph = precision === 'float16' ? toFloat16(g) : g;
      const mode = { kind: 'embedded' as const, get: (n: string) => w.get(n)! };
      return { model: toModelProto(graph, precision === 'float16' ? float16Weights(mode, graph) : mode) };
    }, { provider: 'cpu', threads: 1 });
    expect([s.provider, s.precision, asked]).toEqual(['cpu', 'float32', ['float32']]);
    await s.release();
  });

  it.skipIf(!availableProviders().includes('webgpu'))('a GPU provider is handed the float16 model (webgpu: built in, started only by name)', async () => {
    const g = tiny();
    const w = weightMap(g);
    const asked: GraphPrecision[] = [];
    const started = await createSession(async (precision) => {
      asked.push(precision);
      const graph = precision === 'float16' ? toFloat16(g, float16OptionsFor('webgpu')) : g;
      const mode = { kind: 'embedded' as const, get: (n: string) => w.get(n)! };
      return { model: toModelProto(graph, precision === 'float16' ? float16Weights(mode, graph) : mode) };
    }, { provider: 'webgpu' }).catch((err: Error) => err);
    expect(asked).toEqual(['float16']);
    // Without a GPU adapter (as here) it fails to start, saying so; with one it runs the float16 graph.
    if (started instanceof Error) expect(started.message).toMatch(/execution provider 'webgpu' failed to start/);
    else {
      expect(started.precision).toBe('float16');
      await started.release();
    }
  });

  it('device outputs fall back to host tensors where the provider cannot keep them (the CPU)', async () => {
    const g = tiny();
    const w = weightMap(g);
    const bytes = toModelProto(g, { kind: 'embedded', get: (n) => w.get(n)! });
    const s = await createSession(bytes, { provider: 'cpu', threads: 1, deviceOutputs: ['up'] });
    expect(s.deviceOutputs.size).toBe(0);
    const feeds = { x: randomTensor([1, 4, 4, 4], 5) };
    const a = await s.runOnDevice(feeds);
    const b = await s.run(feeds);
    expect((a.up as TensorData).data).toEqual(b.up!.data);
    await s.release();
  });
});

describe('float16 through the pipelines (forced on the CPU)', () => {
  it('the embedded model samples close to float32', async () => {
    const dir = path.resolve('resources/models/emoji-ldm-32');
    const opts = { prompt: 'a smiling face', seed: 3, steps: 4, width: 32, height: 32 };
    const f32 = await loadModel(dir, { provider: 'cpu', threads: 1 });
    const f16 = await loadModel(dir, { provider: 'cpu', threads: 1, precision: 'float16' });
    const [a] = await txt2img(f32, opts);
    const [b] = await txt2img(f16, opts);
    let sum = 0;
    for (let i = 0; i < a!.image.data.length; i++) sum += Math.abs(a!.image.data[i]! - b!.image.data[i]!);
    // 8-bit pixels: the mean difference is a fraction of a level, no pixel far off.
    expect(sum / a!.image.data.length).toBeLessThan(1);
    expect(maxDiff(a!.image.data, b!.image.data)).toBeLessThanOrEqual(16);
    // What the status bar and the PNG parameters say it ran on.
    expect([await f32.runsOn(), await f16.runsOn()]).toEqual(['cpu', 'cpu fp16']);
    await Promise.all([f32.release(), f16.release()]);
  }, 60_000);

  it('an fp16 SD file is read in place by the float16 graphs (nothing widened into the weights cache)', async () => {
    const file = path.join(root, 'sd1-f16.safetensors');
    await writeSd1File(file, { dtype: 'F16' });
    const cache = path.join(root, 'cache');
    const rt = { provider: 'cpu' as const, threads: 1, weightCache: { dir: cache } };
    const half = await openModel(file, { ...rt, precision: 'float16' });
    const full = await openModel(file, rt);
    const ctx16 = await half.model.encodeText(['']);
    const x = randomTensor([1, 4, 8, 8], 7);
    const eps16 = await half.model.predictNoise(x, 500, ctx16);
    expect(await fsp.readdir(cache).catch(() => [])).toEqual([]);
    const ctx32 = await full.model.encodeText(['']);
    const eps32 = await full.model.predictNoise(x, 500, ctx32);
    expect(maxDiff(ctx16.data, ctx32.data)).toBeLessThan(0.05);
    expect(maxDiff(eps16.data, eps32.data)).toBeLessThan(0.05);
    await Promise.all([half.model.release(), full.model.release()]);
  }, 30_000);
});
