// Weights of one network from files a model family mapped (SD single files, diffusers folders):
// float32 tensors of one file are used in place as ONNX external data; anything else (fp16, bf16, several
// files) is widened to float32 once into a file of the weights cache (weight-cache.ts), tensor by tensor,
// so no JS copy is kept and onnxruntime maps the widened weights instead of converting them at every start.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Param } from '../onnx/graph.ts';
import type { WeightMode } from '../onnx/serialize.ts';
import { bf16ToFloat, halfTable, numel } from '../tensor.ts';
import { PipelineError } from './errors.ts';
import type { SafetensorsEntry } from '../io/safetensors.ts';
import { cachedWeightsFile, type WeightCacheOptions } from './weight-cache.ts';

/** Where one parameter's bytes lie: a byte range inside a safetensors entry (a whole tensor, or rows of a fused one). */
export interface TensorSlice {
  readonly file: string;
  readonly entry: SafetensorsEntry;
  /** Byte offset inside the entry, and length. */
  readonly start: number;
  readonly length: number;
}

export type NetworkName = 'unet' | 'autoencoder' | 'textEncoder';

/** graph parameter name → its bytes in a file (a family's name mapping), or undefined when the file lacks it. */
export type Locate = (name: string) => TensorSlice | undefined;

export interface ResolvedWeights {
  readonly mode: WeightMode;
  readonly weightsFile?: string;
  /** A temporary folder holding spilled weights, removed on release. */
  readonly tempDir?: string;
}


const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** Where every parameter of the network lies; a clear error for the first one the file lacks or sizes wrongly. */
export function locateAll(model: string, params: ReadonlyMap<string, Param>, locate: Locate, network: string): Map<string, TensorSlice> {
  const out = new Map<string, TensorSlice>();
  for (const [name, p] of params) {
    const s = locate(name);
    if (!s) throw new PipelineError(`model ${model}: the ${network} weights have no tensor for '${name}'; the file does not match the inferred architecture`);
    const bytes = BYTES[s.entry.dtype];
    if (bytes === undefined) {
      throw new PipelineError(`model ${model}: tensor ${s.entry.name} is ${s.entry.dtype}; only F32, F16 and BF16 weights can be used`);
    }
    if (s.length !== numel(p.shape) * bytes) {
      throw new PipelineError(
        `model ${model}: tensor ${s.entry.name} has ${s.length / bytes} values where '${name}' [${p.shape.join(', ')}] needs ${numel(p.shape)}`,
      );
    }
    out.set(name, s);
  }
  return out;
}

/**
 * The network's weights as ONNX external data: in place when they are float32 in one file, else from
 * the weights cache (widened to float32 on first use, reused by later starts, sizes and processes).
 */
export async function resolveFileWeights(
  model: string,
  params: ReadonlyMap<string, Param>,
  locate: Locate,
  network: string,
  cache: WeightCacheOptions = {},
): Promise<ResolvedWeights> {
  const slices = locateAll(model, params, locate, network);
  const inPlace = weightsInPlace(slices, 'F32');
  if (inPlace) return inPlace;
  const { file, where } = await cachedWeightsFile(slices, cache);
  const mode: WeightMode = {
    kind: 'external',
    file: path.basename(file),
    locate: (name) => ({ ...where.get(name)!, dtype: 'float32' }),
  };
  return { mode, weightsFile: file };
}

/** The weights as ONNX external data in place in their file when all are `dtype` in one file, else null. */
export function weightsInPlace(slices: ReadonlyMap<string, TensorSlice>, dtype: 'F32' | 'F16'): ResolvedWeights | null {
  const files = new Set([...slices.values()].map((s) => s.file));
  if (files.size !== 1 || ![...slices.values()].every((s) => s.entry.dtype === dtype)) return null;
  const file = [...files][0]!;
  const type = dtype === 'F32' ? 'float32' : 'float16';
  const mode: WeightMode = {
    kind: 'external',
    file: path.basename(file),
    locate(name) {
      const s = slices.get(name)!;
      return { offset: s.entry.offset + s.start, length: s.length, dtype: type };
    },
  };
  return { mode, weightsFile: file };
}

/** One slice's values widened to float32. */
export async function readSliceAsFloat32(fh: fsp.FileHandle, s: TensorSlice): Promise<Float32Array> {
  const raw = new Uint8Array(s.length);
  const { bytesRead } = await fh.read(raw, 0, s.length, s.entry.offset + s.start);
  if (bytesRead !== s.length) throw new PipelineError(`${s.file}: the file ends inside tensor ${s.entry.name}; it is truncated`);
  return widenSlice(raw, s);
}

/** A slice's raw little-endian bytes as float32 values (F32 as is; F16 through the table; BF16). */
export function widenSlice(raw: Uint8Array, s: TensorSlice): Float32Array {
  switch (s.entry.dtype) {
    case 'F32':
      return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    case 'F16': {
      const bits = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
      const t = halfTable();
      const v = new Float32Array(bits.length);
      for (let i = 0; i < v.length; i++) v[i] = t[bits[i]!]!;
      return v;
    }
    case 'BF16': {
      const bits = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
      const v = new Float32Array(bits.length);
      for (let i = 0; i < v.length; i++) v[i] = bf16ToFloat(bits[i]!);
      return v;
    }
    default:
      throw new PipelineError(`tensor ${s.entry.name} is ${s.entry.dtype}; only F32, F16 and BF16 weights can be used`);
  }
}

/** Every parameter of a 'files' source as float32 arrays (for merging adapters in memory). */
export async function readAllAsFloat32(slices: ReadonlyMap<string, TensorSlice>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  const handles = new Map<string, fsp.FileHandle>();
  try {
    for (const [name, s] of slices) {
      let fh = handles.get(s.file);
      if (!fh) handles.set(s.file, (fh = await fsp.open(s.file, 'r')));
      out.set(name, await readSliceAsFloat32(fh, s));
    }
  } finally {
    for (const fh of handles.values()) await fh.close();
  }
  return out;
}
