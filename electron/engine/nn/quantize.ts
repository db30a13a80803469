// Weight-only quantisation of linear layers for sampling: each weight W [N, K] (torch.nn.Linear's
// [out, in]) is cut along K into blocks of `blockSize` values; a block keeps one float scale
// s = max|w| / (2^(bits−1) − 1) and codes q = round(w / s) + 2^(bits−1) in [0, 2^bits − 1], so
// w ≈ (q − 2^(bits−1))·s: symmetric, the zero point MatMulNBits assumes when none is given. The
// graph runs them with onnxruntime's com.microsoft MatMulNBits (Graph.matMulNBits); the codes are
// made at load from the float (fp32/fp16) weights, embedded in the model, and the floats dropped.
// Convolutions (most of a UNet's weights) keep one scale per output channel, codes int8 at every
// precision (q = round(w / s), s = max|w| / 127 over the channel), and run as DequantizeLinear → Conv:
// onnxruntime dequantises each kernel just before its Conv and frees it after (optimisation 'disabled'
// folds nothing), so only the int8 codes stay resident.
import { closeSync, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import type { EmbeddedWeights, ExternalWeights, WeightMode } from '../onnx/serialize.ts';
import { halfTable, tensor, type TensorData } from '../tensor.ts';
import { ModelInputError } from './config.ts';

/** How a model's linear-layer weights are held for sampling. */
export type WeightPrecision = 'fp32' | 'int8' | 'int4';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'int8', 'int4'];

export interface WeightQuant {
  readonly bits: 4 | 8;
  readonly blockSize: number;
  /** MatMulNBits' accuracy_level: 0 computes in float; 4 also quantises the activations to int8 (faster kernels, more error). */
  readonly accuracyLevel?: number;
  /** Whether the convolutions' kernels are int8 too (per output channel, DequantizeLinear → Conv); default true. */
  readonly convs?: boolean;
  /**
   * How linear layers run: 'nbits' (default), onnxruntime's MatMulNBits on the blockwise codes; 'channel', int8
   * codes per output row dequantised right before a float Gemm, as the convolutions are.
   */
  readonly linears?: 'nbits' | 'channel';
}

/** Values per scale. 32 keeps int4's error low; MatMulNBits takes powers of two ≥ 16. */
export const QUANT_BLOCK_SIZE = 32;

export function weightQuantFor(p: WeightPrecision | undefined): WeightQuant | null {
  if (p === undefined || p === 'fp32') return null;
  // int8: every weight per output row / channel, dequantised right before a float Gemm/Conv. MatMulNBits
  // at 8 bits (accuracy level 4) made an SD 1.x step 2.2× slower than fp32 on a quiet machine; this ran
  // ×0.86 of fp32 in the same run, PSNR 46.9 dB against 44.4 (bench/sd.bench.ts)
  if (p === 'int8') return { bits: 8, blockSize: QUANT_BLOCK_SIZE, linears: 'channel' };
  if (p === 'int4') return { bits: 4, blockSize: QUANT_BLOCK_SIZE };
  throw new ModelInputError(`unknown weight precision '${String(p)}'; use one of ${WEIGHT_PRECISIONS.join(', ')}`);
}

export interface Quantized {
  /** uint8 [N, blocks, blockSize·bits/8], codes packed low bits first. */
  readonly data: Uint8Array;
  /** [N·blocks], row-major (row n, then block). */
  readonly scales: Float32Array;
  readonly blocks: number;
}

/** Blockwise symmetric quantisation of a row-major [n, k] matrix (k padded with zeros to whole blocks). */
export function quantizeBlockwise(w: ArrayLike<number>, n: number, k: number, q: WeightQuant): Quantized {
  if (w.length !== n * k) throw new ModelInputError(`quantize: ${w.length} values given for a [${n}, ${k}] weight`);
  const { bits, blockSize } = q;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const data = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zero = 1 << (bits - 1);
  const top = zero - 1;
  const codes = new Uint8Array(blockSize);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * k + b * blockSize;
      const len = Math.min(blockSize, k - b * blockSize);
      let max = 0;
      for (let i = 0; i < len; i++) max = Math.max(max, Math.abs(w[start + i]!));
      const scale = max / top;
      scales[r * blocks + b] = scale;
      const inv = scale > 0 ? 1 / scale : 0;
      codes.fill(zero);
      for (let i = 0; i < len; i++) codes[i] = Math.max(0, Math.min(2 * top + 1, Math.round(w[start + i]! * inv) + zero));
      const out = (r * blocks + b) * blob;
      if (bits === 8) data.set(codes, out);
      else for (let i = 0; i < blob; i++) data[out + i] = codes[2 * i]! | (codes[2 * i + 1]! << 4);
    }
  }
  return { data, scales, blocks };
}

/** The float matrix [n, k] that quantised weights stand for (tests and error figures). */
export function dequantizeBlockwise(qz: Quantized, n: number, k: number, q: WeightQuant): Float32Array {
  const { bits, blockSize } = q;
  const blob = (blockSize * bits) / 8;
  const zero = 1 << (bits - 1);
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const b = Math.floor(c / blockSize);
      const i = c % blockSize;
      const at = (r * qz.blocks + b) * blob;
      const code = bits === 8 ? qz.data[at + i]! : (qz.data[at + (i >> 1)]! >> ((i & 1) * 4)) & 15;
      out[r * k + c] = (code - zero) * qz.scales[r * qz.blocks + b]!;
    }
  }
  return out;
}

/** Per-output-channel symmetric int8 codes of a row-major [n, k] matrix (a conv kernel [O, I·kh·kw]): scales [n]. */
export function quantizePerChannel(w: ArrayLike<number>, n: number, k: number): { data: Int8Array; scales: Float32Array } {
  if (w.length !== n * k) throw new ModelInputError(`quantize: ${w.length} values given for a [${n}, ${k}] weight`);
  const data = new Int8Array(n * k);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let max = 0;
    for (let i = r * k; i < (r + 1) * k; i++) max = Math.max(max, Math.abs(w[i]!));
    const scale = max / 127;
    scales[r] = scale;
    const inv = scale > 0 ? 1 / scale : 0;
    for (let i = r * k; i < (r + 1) * k; i++) data[i] = Math.max(-127, Math.min(127, Math.round(w[i]! * inv)));
  }
  return { data, scales };
}

interface QuantizedParam {
  /** The float weight [n, k] it is made from (the checkpoint's name). */
  readonly source: string;
  readonly n: number;
  readonly k: number;
  /** Blockwise (MatMulNBits), or 'channel': int8 per output channel (convolutions, shape `shape`). */
  readonly quant: WeightQuant | 'channel';
  readonly part: 'data' | 'scales';
  /** The codes' shape (per-channel: the kernel's [O, I, kh, kw]). */
  readonly shape?: readonly number[];
}

const quantizedOf = new WeakMap<Graph, Map<string, QuantizedParam>>();

/** The graph's params made by quantisation at load, by param name. */
export function quantizedParams(g: Graph): ReadonlyMap<string, QuantizedParam> {
  return quantizedOf.get(g) ?? new Map();
}

/**
 * x [M, K] · Wᵀ for the linear weight `weightName` [N, K], through MatMulNBits with the graph's
 * weightQuant: declares the codes and scales as frozen params made from `weightName` at load.
 */
export function quantizedMatMul(g: Graph, weightName: string, x: Value, n: number, q: WeightQuant): Value {
  const k = x.shape[x.shape.length - 1]!;
  const blocks = Math.ceil(k / q.blockSize);
  let table = quantizedOf.get(g);
  if (!table) quantizedOf.set(g, (table = new Map()));
  const dataName = `${weightName}#q${q.bits}`;
  const scalesName = `${weightName}#scales`;
  const b = g.param(dataName, [n, blocks, (q.blockSize * q.bits) / 8], { kind: 'zeros' }, { trainable: false, dtype: 'uint8' });
  const s = g.param(scalesName, [n * blocks], { kind: 'zeros' }, { trainable: false });
  table.set(dataName, { source: weightName, n, k, quant: q, part: 'data' });
  table.set(scalesName, { source: weightName, n, k, quant: q, part: 'scales' });
  return g.matMulNBits(x, b, s, n, q.bits, q.blockSize, q.accuracyLevel);
}

/**
 * The kernel `weightName` [O, I, kh, kw] of a convolution as int8 codes per output channel, dequantised
 * by DequantizeLinear right before the Conv: declares the codes and scales as frozen params made from
 * `weightName` at load. Answers the float kernel value the Conv takes.
 */
export function quantizedConvWeight(g: Graph, weightName: string, shape: readonly number[]): Value {
  const [n, ...rest] = shape as [number, ...number[]];
  const k = rest.reduce((a, b) => a * b, 1);
  let table = quantizedOf.get(g);
  if (!table) quantizedOf.set(g, (table = new Map()));
  const dataName = `${weightName}#c8`;
  const scalesName = `${weightName}#cscales`;
  const codes = g.param(dataName, shape, { kind: 'zeros' }, { trainable: false, dtype: 'int8' });
  const s = g.param(scalesName, [n], { kind: 'zeros' }, { trainable: false });
  table.set(dataName, { source: weightName, n, k, quant: 'channel', part: 'data', shape });
  table.set(scalesName, { source: weightName, n, k, quant: 'channel', part: 'scales', shape });
  const kernel = g.dequantizeLinear(codes, s, 0);
  g.hoist(kernel); // dequantised right before its Conv, not all kernels before the first layer (Graph.hoist)
  return kernel;
}

/**
 * The weights of a graph built with weightQuant: its quantised params are made from their float
 * sources (read from `mode` one weight at a time: in memory, or from `weightsFile` for external
 * weights) and embedded; every other param comes from `mode` as before.
 */
export function quantizedWeights(g: Graph, mode: WeightMode, weightsFile?: string): WeightMode {
  const table = quantizedParams(g);
  if (table.size === 0) return mode;
  if (mode.kind !== 'embedded' && mode.kind !== 'external') {
    throw new ModelInputError(`quantised weights need frozen weights (embedded or external), not '${mode.kind}': training graphs are never quantised`);
  }
  const made = new Map<string, { data: Uint8Array | Int8Array; scales: Float32Array; blocks?: number }>();
  const quantized = (p: QuantizedParam) => {
    let qz = made.get(p.source);
    if (!qz) {
      const w = readFloat(mode, p.source, weightsFile);
      qz = p.quant === 'channel' ? quantizePerChannel(w, p.n, p.k) : quantizeBlockwise(w, p.n, p.k, p.quant);
      made.set(p.source, qz);
    }
    return qz;
  };
  return {
    kind: 'overlay',
    get(name) {
      const p = table.get(name);
      if (!p) return undefined;
      const qz = quantized(p);
      if (p.part === 'data') {
        if (p.quant === 'channel') return tensor('int8', p.shape!, qz.data as Int8Array);
        return tensor('uint8', [p.n, qz.blocks!, (p.quant.blockSize * p.quant.bits) / 8], qz.data as Uint8Array);
      }
      // the codes are declared (so serialised) first: both halves are taken now, drop the cache entry
      made.delete(p.source);
      return tensor('float32', [qz.scales.length], qz.scales);
    },
    rest: mode,
  };
}

/** One float weight as float32, from memory or from its byte range in the weights file (fp16 widened). */
export function readFloat(mode: EmbeddedWeights | ExternalWeights, name: string, weightsFile: string | undefined): Float32Array {
  if (mode.kind === 'embedded') {
    const t: TensorData = mode.get(name);
    if (t.dtype === 'float32') return t.data as Float32Array;
    if (t.dtype === 'float16') return widenHalf(t.data as Uint16Array);
    throw new ModelInputError(`cannot quantise weight '${name}': it is ${t.dtype}, not a float tensor`);
  }
  if (!weightsFile) throw new ModelInputError(`cannot quantise weight '${name}': its file ${mode.file} was not given`);
  if (path.basename(weightsFile) !== mode.file) throw new ModelInputError(`weights file ${weightsFile} is not ${mode.file}`);
  const loc = mode.locate(name);
  const bytes = Buffer.alloc(loc.length);
  const fd = openSync(weightsFile, 'r');
  try {
    let done = 0;
    while (done < loc.length) {
      const n = readSync(fd, bytes, done, loc.length - done, loc.offset + done);
      if (n === 0) throw new ModelInputError(`weights file ${weightsFile} ends inside weight '${name}'`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  if (loc.dtype === 'float32') return new Float32Array(bytes.buffer, bytes.byteOffset, loc.length / 4);
  if (loc.dtype === 'float16') return widenHalf(new Uint16Array(bytes.buffer, bytes.byteOffset, loc.length / 2));
  throw new ModelInputError(`cannot quantise weight '${name}': it is stored as ${loc.dtype}`);
}

/** fp16 → fp32 through a 65,536-entry table (SD weights are mostly fp16; a call per value is slow). */
function widenHalf(h: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = t[h[i]!]!;
  return out;
}
