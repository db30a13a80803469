// Graph → ONNX ModelProto bytes (ai.onnx opset 18, IR version 8). Parameters become graph inputs
// (training), embedded initializers, or initializers whose bytes stay in a safetensors file (ONNX
// external data: location + offset + length), so big checkpoints load without conversion or copies.
// float16 weights of float32 params (most SD checkpoints) stay float16 on disk and are widened by a
// Cast that onnxruntime folds at load time.
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { createHash } from 'node:crypto';
import { BYTES_PER_ELEMENT, numel, type DType, type TensorData } from '../tensor.ts';
import type { SafetensorsDType, SafetensorsHeader } from '../io/safetensors.ts';
import { ONNX_DTYPE } from './dtypes.ts';
import { MS_DOMAIN, type Attr, type Graph, type Value } from './graph.ts';

export const OPSET = 18;
export const IR_VERSION = 8;
/** A serialised ModelProto must stay under 2 GiB; leave room for the graph itself. */
const PROTOBUF_LIMIT = 2 ** 31 - 2 ** 26;

export type EmbeddedWeights = { kind: 'embedded'; get(name: string): TensorData };
export type ExternalWeights = { kind: 'external'; file: string; locate(name: string): { offset: number; length: number; dtype: DType } };

export type WeightMode =
  | { kind: 'inputs' }
  | EmbeddedWeights
  | ExternalWeights
  /** Params for which `asInput` is true are graph inputs (trained), the rest come from `rest` (frozen base weights). */
  | { kind: 'mixed'; asInput(name: string): boolean; rest: EmbeddedWeights | ExternalWeights }
  /** Params `get` answers (weights made at load, e.g. quantised: nn/quantize.ts) are embedded; the rest come from `rest`. */
  | { kind: 'overlay'; get(name: string): TensorData | undefined; rest: EmbeddedWeights | ExternalWeights };

export class SerializeError extends Error {
  override name = 'SerializeError';
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

function valueInfo(v: Value): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape: { dim: v.shape.map((d) => ({ dimValue: d })) } } },
  };
}

/** Raw little-endian bytes of a tensor, as a view (no copy). Engine tensors are host-endian; all our hosts are LE. */
function rawBytes(t: TensorData): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function tensorProto(name: string, t: TensorData): onnx.ITensorProto {
  return { name, dataType: ONNX_DTYPE[t.dtype], dims: [...t.shape], rawData: rawBytes(t) };
}

// onnx-proto is CommonJS without named-export hints, so its namespace comes through the default import.
const { AttributeProto, ModelProto, TensorProto } = onnxProto.onnx;
const ATTR_TYPE = AttributeProto.AttributeType;

function attrProto(name: string, a: Attr): onnx.IAttributeProto {
  switch (a.kind) {
    case 'int': return { name, type: ATTR_TYPE.INT, i: a.value };
    case 'ints': return { name, type: ATTR_TYPE.INTS, ints: [...a.value] };
    case 'float': return { name, type: ATTR_TYPE.FLOAT, f: a.value };
    case 'floats': return { name, type: ATTR_TYPE.FLOATS, floats: [...a.value] };
    case 'string': return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor': return { name, type: ATTR_TYPE.TENSOR, t: tensorProto('', a.value) };
  }
}

function checkedWeight(graph: Graph, name: string, t: TensorData | undefined): TensorData {
  const p = graph.params.get(name)!;
  if (!t) throw new SerializeError(`no weight for parameter '${name}'`);
  if (t.dtype !== p.dtype || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
    throw new SerializeError(`weight '${name}' is ${t.dtype}${fmt(t.shape)} but the graph expects ${p.dtype}${fmt(p.shape)}`);
  }
  return t;
}

/**
 * Stored-as-float16 weights of a float32 param are widened by a Cast at load time (SD checkpoints are mostly
 * fp16); float32 weights of a float16 param (float16.ts graphs) are narrowed the same way.
 */
const CONVERTS = (stored: DType, wanted: DType): boolean =>
  (stored === 'float16' && wanted === 'float32') || (stored === 'float32' && wanted === 'float16');

function externalInitializer(graph: Graph, name: string, weights: ExternalWeights,
  casts: onnx.INodeProto[]): onnx.ITensorProto {
  const p = graph.params.get(name)!;
  const loc = weights.locate(name);
  if (loc.dtype !== p.dtype && !CONVERTS(loc.dtype, p.dtype)) {
    throw new SerializeError(`weight '${name}' is stored as ${loc.dtype} in ${weights.file} but the graph expects ${p.dtype}; `
      + `build the graph with that dtype or use embedded weights converted on load`);
  }
  const want = numel(p.shape) * BYTES_PER_ELEMENT[loc.dtype];
  if (loc.length !== want) {
    throw new SerializeError(`weight '${name}' spans ${loc.length} bytes in ${weights.file}; ${loc.dtype}${fmt(p.shape)} needs ${want}`);
  }
  let stored = name;
  if (loc.dtype !== p.dtype) {
    stored = `${name}::${loc.dtype}`;
    if (graph.has(stored)) throw new SerializeError(`cannot convert '${name}': the graph already has a value named '${stored}'`);
    casts.push({ opType: 'Cast', name: `Cast_${stored}`, input: [stored], output: [name], attribute: [{ name: 'to', type: ATTR_TYPE.INT, i: ONNX_DTYPE[p.dtype] }] });
  }
  return {
    name: stored,
    dataType: ONNX_DTYPE[loc.dtype],
    dims: [...p.shape],
    dataLocation: TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: weights.file },
      { key: 'offset', value: String(loc.offset) },
      { key: 'length', value: String(loc.length) },
    ],
  };
}

export function toModelProto(graph: Graph, weights: WeightMode): Uint8Array {
  if (graph.outputs.length === 0) throw new SerializeError(`graph '${graph.name}' has no outputs; call graph.output(...)`);
  const initializer: onnx.ITensorProto[] = [];
  let embeddedBytes = 0;
  const embed = (name: string, t: TensorData) => {
    embeddedBytes += t.data.byteLength;
    // checked before each copy so an oversized model fails fast, before protobuf runs out of room
    if (embeddedBytes <= PROTOBUF_LIMIT) initializer.push(tensorProto(name, t));
  };
  for (const [name, t] of graph.constants) embed(name, t);
  const inputs = graph.inputs.map(valueInfo);
  const casts: onnx.INodeProto[] = [];
  for (const name of graph.params.keys()) {
    const made = weights.kind === 'overlay' ? weights.get(name) : undefined;
    if (made) {
      embed(name, checkedWeight(graph, name, made));
      continue;
    }
    const source = weights.kind === 'mixed' ? (weights.asInput(name) ? { kind: 'inputs' as const } : weights.rest)
      : weights.kind === 'overlay' ? weights.rest : weights;
    if (source.kind === 'inputs') inputs.push(valueInfo(graph.value(name)));
    else if (source.kind === 'embedded') embed(name, checkedWeight(graph, name, source.get(name)));
    else initializer.push(externalInitializer(graph, name, source, casts));
  }
  if (embeddedBytes > PROTOBUF_LIMIT) {
    throw new SerializeError(`graph '${graph.name}' would embed ${(embeddedBytes / 2 ** 30).toFixed(2)} GiB of tensors, over protobuf's 2 GiB limit; `
      + `serialise its params as external data (safetensorsWeights) instead`);
  }
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    producerName: 'latent-diffusion-studio',
    opsetImport: [
      { domain: '', version: OPSET },
      ...(graph.nodes.some((n) => n.domain === MS_DOMAIN) ? [{ domain: MS_DOMAIN, version: 1 }] : []),
    ],
    graph: {
      name: graph.name,
      node: [...casts, ...graph.nodes.map((n) => ({
        opType: n.op,
        name: n.name,
        ...(n.domain ? { domain: n.domain } : {}),
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
      }))],
      initializer,
      input: inputs,
      output: graph.outputs.map(valueInfo),
    },
  };
  return ModelProto.encode(model).finish();
}

const SAFETENSORS_DTYPE: Partial<Record<SafetensorsDType, DType>> = {
  F32: 'float32', F16: 'float16', F64: 'float64', I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/**
 * External weights from a safetensors header. `location` is what the model records: ONNX Runtime
 * resolves it relative to the model file's folder (or the working folder when loaded from bytes),
 * so pass the file's name and put the .onnx beside it, or see createSession's externalData handling.
 */
export function safetensorsWeights(header: SafetensorsHeader, location: string): ExternalWeights {
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  return {
    kind: 'external',
    file: location,
    locate(name) {
      const e = byName.get(name);
      if (!e) throw new SerializeError(`safetensors file ${location} has no tensor '${name}'`);
      const dtype = SAFETENSORS_DTYPE[e.dtype];
      if (!dtype) throw new SerializeError(`tensor '${name}' in ${location} is ${e.dtype}, which ONNX Runtime cannot use in place`);
      return { offset: e.offset, length: e.length, dtype };
    },
  };
}

/** Stable key for session caches: a hash of the serialised model. */
export function modelHash(model: Uint8Array): string {
  return createHash('sha256').update(model).digest('hex');
}
