// Shared pieces of the nn tests: tiny configs, and running a graph in a real onnxruntime session with
// weights embedded as initializers.
import type { Graph } from '../../../electron/engine/onnx/graph.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import type { AutoencoderConfig, TextEncoderConfig, UNetConfig } from '../../../electron/engine/nn/config.ts';
import { initWeights } from '../../../electron/engine/nn/init.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';

export const TINY_UNET: UNetConfig = {
  inChannels: 4,
  outChannels: 4,
  modelChannels: 16,
  channelMult: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [2],
  numHeadChannels: 8,
  transformerDepth: 1,
  contextDim: 12,
  normGroups: 4,
};

export const TINY_KL: AutoencoderConfig = {
  kind: 'kl',
  ch: 8,
  chMult: [1, 2],
  numResBlocks: 1,
  attnResolutions: [],
  resolution: 16,
  inChannels: 3,
  outCh: 3,
  zChannels: 4,
  embedDim: 4,
  normGroups: 4,
};

export const TINY_TEXT: TextEncoderConfig = {
  vocabSize: 40,
  maxLength: 6,
  width: 12,
  layers: 2,
  heads: 2,
  mlpWidth: 24,
  activation: 'gelu',
  causal: false,
};

export type Weights = Map<string, Float32Array>;

export function weightsFor(g: Graph, seed = 1): Weights {
  return initWeights(g.params, seed);
}

export async function runGraph(
  g: Graph,
  weights: Weights,
  feeds: Record<string, TensorData>,
): Promise<Record<string, TensorData>> {
  const bytes = toModelProto(g, {
    kind: 'embedded',
    get: (name) => {
      const w = weights.get(name);
      if (!w) throw new Error(`test has no weights for ${name}`);
      return { dtype: 'float32', shape: g.params.get(name)!.shape, data: w };
    },
  });
  const session = await createSession(bytes, { provider: 'cpu', threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Deterministic pseudo-random float32 data in [−1, 1). */
export function randomTensor(shape: number[], seed: number): TensorData<'float32'> {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return { dtype: 'float32', shape, data };
}

export function ids(shape: number[], values: number[]): TensorData<'int64'> {
  return { dtype: 'int64', shape, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

export function allFinite(t: TensorData): boolean {
  for (const v of t.data as Float32Array) if (!Number.isFinite(v)) return false;
  return true;
}

export function maxAbs(t: TensorData | Float32Array): number {
  let m = 0;
  for (const v of (t instanceof Float32Array ? t : t.data) as Float32Array) m = Math.max(m, Math.abs(v));
  return m;
}
