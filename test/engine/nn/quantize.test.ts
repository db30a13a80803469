// Weight-only quantisation (issue 13): linear layers through onnxruntime's MatMulNBits compute exactly
// x · dequant(W)ᵀ for our blockwise codes, stay close to the float layer, and the UNet/text encoder run
// from the same float weights (in memory or from a file) with no float copy of the quantised matrices.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveSafetensors, readSafetensorsHeader } from '../../../electron/engine/io/safetensors.ts';
import { conv2d, linear } from '../../../electron/engine/nn/layers.ts';
import { buildTextEncoderGraph, buildUNetGraph } from '../../../electron/engine/nn/models.ts';
import {
  dequantizeBlockwise,
  quantizeBlockwise,
  quantizePerChannel,
  quantizedParams,
  quantizedWeights,
  weightQuantFor,
  type WeightQuant,
} from '../../../electron/engine/nn/quantize.ts';
import { timestepEmbedding } from '../../../electron/engine/nn/unet.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { safetensorsWeights, toModelProto, type WeightMode } from '../../../electron/engine/onnx/serialize.ts';
import { floatToHalf, type TensorData } from '../../../electron/engine/tensor.ts';
import { ids, randomTensor, TINY_TEXT, TINY_UNET, weightsFor, type Weights } from './helpers.ts';

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);

function memoryMode(g: Graph, w: Weights): WeightMode {
  return {
    kind: 'embedded',
    get: (name) => ({ dtype: 'float32', shape: g.params.get(name)?.shape ?? [w.get(name)!.length], data: w.get(name)! }),
  };
}

async function run(g: Graph, mode: WeightMode, feeds: Record<string, TensorData>, weightsFile?: string): Promise<Record<string, TensorData>> {
  const session = await createSession(toModelProto(g, quantizedWeights(g, mode, weightsFile)), { provider: 'cpu', threads: 1, weightsFile });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function linearGraph(q: WeightQuant | null, k: number, n: number): Graph {
  const g = new Graph('lin');
  g.weightQuant = q;
  g.output(linear(g, 'fc', g.input('x', 'float32', [3, 2, k]), k, n), 'y');
  return g;
}

/** x [m, k] · Wᵀ + b in float64. */
function reference(x: Float32Array, w: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = b[j]!;
      for (let c = 0; c < k; c++) s += x[i * k + c]! * w[j * k + c]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

describe('blockwise quantisation', () => {
  it('packs codes low bits first with one scale per block and rounds to the nearest code', () => {
    const q4 = { bits: 4, blockSize: 16 } as const;
    const w = Float32Array.from({ length: 2 * 20 }, (_, i) => ((i * 7) % 13) - 6); // k = 20: the second block is padded
    const qz = quantizeBlockwise(w, 2, 20, q4);
    expect(qz.blocks).toBe(2);
    expect(qz.data.length).toBe(2 * 2 * 8);
    expect(qz.scales[0]).toBeCloseTo(6 / 7, 6);
    // first two values of row 0: -6 → code 8 + round(-7) = 1, then 1 → round(1·7/6) + 8 = 9
    expect(qz.data[0]).toBe(1 | (9 << 4));
    const back = dequantizeBlockwise(qz, 2, 20, q4);
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i]! - w[i]!)).toBeLessThanOrEqual(qz.scales[Math.floor(i / 20) * 2 + Math.floor((i % 20) / 16)]! / 2 + 1e-6);
    const q8 = quantizeBlockwise(w, 2, 20, { bits: 8, blockSize: 16 });
    expect(maxDiff(dequantizeBlockwise(q8, 2, 20, { bits: 8, blockSize: 16 }), w)).toBeLessThan(6 / 127 / 2 + 1e-6);
  });

  it('an all-zero block has scale 0 and decodes to zeros', () => {
    const qz = quantizeBlockwise(new Float32Array(32), 1, 32, { bits: 8, blockSize: 32 });
    expect([...qz.scales]).toEqual([0]);
    expect(maxDiff(dequantizeBlockwise(qz, 1, 32, { bits: 8, blockSize: 32 }), new Float32Array(32))).toBe(0);
  });

  it('names the precisions it knows', () => {
    expect(weightQuantFor('fp32')).toBeNull();
    expect(weightQuantFor('int8')?.bits).toBe(8);
    expect(weightQuantFor('int4')?.bits).toBe(4);
    expect(() => weightQuantFor('int3' as never)).toThrow(/fp32, int8, int4/);
  });
});

describe('int8 per-channel convolutions (DequantizeLinear → Conv)', () => {
  it('codes each output channel with its own scale max|w|/127, zero stays zero', () => {
    const w = Float32Array.from([0.5, -1, 0.25, 0, 0, 0, 3, -0.03, 1.5]);
    const { data, scales } = quantizePerChannel(w, 3, 3);
    expect([...scales].map((s) => s * 127)).toEqual([expect.closeTo(1, 6), 0, expect.closeTo(3, 6)]);
    expect([...data]).toEqual([64, -127, 32, 0, 0, 0, 127, -1, 64]); // 0.5·127 = 63.5 rounds up; −0.03·127/3 = −1.27
  });

  it('onnxruntime computes the conv with the dequantised kernel, within 1% of the float conv', async () => {
    const [cin, cout] = [6, 10];
    const build = (q: WeightQuant | null) => {
      const g = new Graph('conv');
      g.weightQuant = q;
      g.output(conv2d(g, 'c', g.input('x', 'float32', [2, cin, 7, 5]), cin, cout, { kernel: 3, padding: 1 }), 'y');
      return g;
    };
    const g = build(weightQuantFor('int4'));
    expect(g.nodes.map((n) => n.op).slice(0, 2)).toEqual(['DequantizeLinear', 'Conv']);
    expect(g.params.has('c.weight')).toBe(false);
    expect(g.params.get('c.weight#c8')?.dtype).toBe('int8');
    const plain = build(null);
    const w = weightsFor(plain, 7);
    const x = randomTensor([2, cin, 7, 5], 8);
    const exact = (await run(plain, memoryMode(plain, w), { x })).y!.data as Float32Array;
    const y = (await run(g, memoryMode(g, w), { x })).y!.data as Float32Array;
    const { data, scales } = quantizePerChannel(w.get('c.weight')!, cout, cin * 9);
    const deq = new Map(w).set('c.weight', Float32Array.from(data, (v, i) => v * scales[Math.floor(i / (cin * 9))]!));
    const want = (await run(plain, memoryMode(plain, deq), { x })).y!.data as Float32Array;
    expect(maxDiff(y, want)).toBeLessThan(1e-5);
    const rel = rms(y.map((v, i) => v - exact[i]!)) / rms(exact);
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.01);
  });
});

describe('quantised linear layers', () => {
  for (const bits of [8, 4] as const) {
    it(`int${bits}: onnxruntime computes x · dequant(W)ᵀ + b (K not a whole number of blocks)`, async () => {
      const [k, n] = [80, 24];
      const q = { bits, blockSize: 32 } as const;
      const g = linearGraph(q, k, n);
      expect(g.nodes.filter((x) => x.op === 'MatMulNBits').length).toBe(1);
      expect(g.params.has('fc.weight')).toBe(false);
      expect([...quantizedParams(g).keys()]).toEqual([`fc.weight#q${bits}`, 'fc.weight#scales']);
      const w = weightsFor(linearGraph(null, k, n), 3);
      const x = randomTensor([3, 2, k], 5);
      const y = (await run(g, memoryMode(g, w), { x })).y!.data as Float32Array;
      const deq = dequantizeBlockwise(quantizeBlockwise(w.get('fc.weight')!, n, k, q), n, k, q);
      const want = reference(x.data, deq, w.get('fc.bias')!, 6, k, n);
      expect(maxDiff(y, want)).toBeLessThan(1e-4);
      // and close to the float layer: int8 to ~1%, int4 to ~15% of the output's size
      const exact = reference(x.data, w.get('fc.weight')!, w.get('fc.bias')!, 6, k, n);
      const rel = rms(y.map((v, i) => v - exact[i]!)) / rms(exact);
      expect(rel).toBeLessThan(bits === 8 ? 0.01 : 0.15);
      expect(rel).toBeGreaterThan(0);
    });
  }

  it('hoisting refuses a node that reads more than weights', () => {
    const g = new Graph('h');
    const y = g.mul(g.input('x', 'float32', [2]), 2);
    expect(() => g.hoist(y)).toThrow(/reads x, not only params and constants/);
  });

  it('training graphs cannot be quantised: parameters as inputs are refused', () => {
    const g = linearGraph({ bits: 8, blockSize: 32 }, 32, 8);
    expect(() => quantizedWeights(g, { kind: 'inputs' })).toThrow(/never quantised/);
  });

  it('UNet (int8) from fp16 weights in a file and text encoder (int4) from memory stay near fp32', async () => {
    const opts = { batch: 1, height: 8, width: 8, contextLength: 3 };
    const plain = buildUNetGraph(TINY_UNET, opts);
    const w = weightsFor(plain, 11);
    // zero-initialised layers (the UNet's last conv, proj_out) would hide everything after them
    let seed = 100;
    for (const [k, v] of w) if (v.every((x) => x === 0)) w.set(k, randomTensor([v.length], seed++).data.map((x) => x * 0.2));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ldm-quant-'));
    try {
      // the file stores every weight as fp16, as most SD checkpoints do
      const file = path.join(dir, 'w.safetensors');
      const half = new Map<string, TensorData>([...w].map(([k, v]) => {
        const h = Uint16Array.from(v, floatToHalf);
        return [k, { dtype: 'float16', shape: [...plain.params.get(k)!.shape], data: h }];
      }));
      await saveSafetensors(file, half);
      const ext = safetensorsWeights(await readSafetensorsHeader(file), path.basename(file));
      const feeds = {
        sample: randomTensor([1, 4, 8, 8], 1),
        timestep_embedding: timestepEmbedding([300], 16),
        encoder_hidden_states: randomTensor([1, 3, 12], 2),
      };
      const base = (await run(plain, ext, feeds, file)).out_sample!.data as Float32Array;
      const qg = buildUNetGraph(TINY_UNET, { ...opts, weightQuant: weightQuantFor('int8') });
      // int8: linear layers and convolutions hold int8 codes per output row / channel, dequantised right
      // before a float Gemm / Conv; no float weight matrix or kernel is left in the graph
      const gemms = qg.nodes.filter((x) => x.op === 'Gemm').length;
      const convs = qg.nodes.filter((x) => x.op === 'Conv').length;
      expect(gemms).toBeGreaterThan(10);
      expect(qg.nodes.filter((x) => x.op === 'MatMulNBits').length).toBe(0);
      expect(qg.nodes.filter((x) => x.op === 'DequantizeLinear').length).toBe(convs + gemms);
      expect([...qg.params.values()].filter((p) => p.dtype === 'float32' && p.shape.length >= 2)).toEqual([]);
      // and every DequantizeLinear comes first, so onnxruntime dequantises each weight right before its node
      // (placed beside it, all of them ran before the first layer: a float copy of every weight at once)
      expect(qg.nodes.slice(0, convs + gemms).every((x) => x.op === 'DequantizeLinear')).toBe(true);
      const out = (await run(qg, ext, feeds, file)).out_sample!.data as Float32Array;
      expect(rms(out.map((v, i) => v - base[i]!)) / rms(base)).toBeLessThan(0.02);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const tp = buildTextEncoderGraph(TINY_TEXT, 2);
    const tw = weightsFor(tp, 4);
    const tokens = { input_ids: ids([2, TINY_TEXT.maxLength], Array.from({ length: 2 * TINY_TEXT.maxLength }, (_, i) => (i * 5) % TINY_TEXT.vocabSize)) };
    const tb = (await run(tp, memoryMode(tp, tw), tokens)).last_hidden_state!.data as Float32Array;
    const tq = buildTextEncoderGraph(TINY_TEXT, 2, 0, { weightQuant: weightQuantFor('int4') });
    expect(tq.nodes.filter((x) => x.op === 'MatMulNBits').length).toBeGreaterThan(4); // int4: blockwise MatMulNBits
    const to = (await run(tq, memoryMode(tq, tw), tokens)).last_hidden_state!.data as Float32Array;
    const rel = rms(to.map((v, i) => v - tb[i]!)) / rms(tb);
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.2);
  });
});
