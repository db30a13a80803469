// safetensors reader and writer (format: huggingface/safetensors, validation as its tensor.rs; see
// shared/reference/ldm-facts.md §6). Layout: u64 LE header length N, N bytes of UTF-8 JSON, data buffer.
//
// Everything read from a file is validated before anything is allocated from it: the header length
// against a cap and the file length, every entry's span against its dtype and shape, and the spans
// together (sorted, contiguous from 0, ending exactly at the end of the file). So a malformed file
// gives a SafetensorsError, never a crash or an allocation larger than the file.

import { promises as fsp } from 'node:fs';
import { writeAll, writeFileAtomic } from './atomic.ts';
import { floatToHalf, halfTable, halfToFloat, numel } from '../tensor.ts';
import type { DType, Shape, TensorData } from '../tensor.ts';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Header length cap of the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_JSON_DEPTH = 64;

export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64'
  | 'F8_E4M3' | 'F8_E5M2';

const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
};

/** One tensor as it lies in a file. `offset` is absolute (from the start of the file). */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: Shape;
  readonly offset: number;
  readonly length: number;
}

export interface SafetensorsHeader {
  /** N, the JSON length. The data buffer starts at 8 + N. */
  readonly headerBytes: number;
  readonly dataStart: number;
  /** In file order (sorted by offset). */
  readonly entries: SafetensorsEntry[];
  readonly metadata: Record<string, string>;
}

export interface LoadedSafetensors {
  readonly tensors: Map<string, TensorData>;
  readonly metadata: Record<string, string>;
  /** The dtype each tensor had on disk (F16/BF16/F8 load as float32, I16/U16 as int32, U32/U64 as int64). */
  readonly storedDtypes: Map<string, SafetensorsDType>;
}

export interface EncodeOptions {
  /** Storage dtype for floating-point tensors (float32 and float16); float64 stays F64. Default: keep each tensor's own. */
  dtype?: 'F32' | 'F16';
}

export type TensorMap = ReadonlyMap<string, TensorData> | Readonly<Record<string, TensorData>>;

// ---------------------------------------------------------------------------------------------
// The header JSON: JSON.parse for its syntax and values, then one scan for what JSON.parse lets through
// (test/engine/io/safetensors-json.test.ts): a key given twice, of which JSON.parse silently keeps the
// last while another reader may take the first; a string escaping a lone surrogate, which is not
// Unicode (the reference's serde_json refuses it, and our writer never writes one); nesting deeper
// than MAX_JSON_DEPTH.

/** Lone UTF-16 surrogates cannot be written as UTF-8; TextEncoder would silently replace them. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function headerError(msg: string): SafetensorsError {
  return new SafetensorsError(`invalid safetensors header: ${msg}`);
}

/** `text` is valid JSON: a `"` starts a string, which ends at the next `"` not escaped by a backslash. */
function stringEnd(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

const COLON = /\s*:/y; // after a string in an object: it was a key

function checkHeaderJson(text: string): void {
  const structure = /[{}[\]"]/g;
  const keysOf: (Set<string> | null)[] = []; // each open container's keys (null: an array)
  for (let m = structure.exec(text); m; m = structure.exec(text)) {
    const c = m[0];
    if (c === '{' || c === '[') {
      keysOf.push(c === '{' ? new Set() : null);
      if (keysOf.length > MAX_JSON_DEPTH) throw headerError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels (at JSON offset ${m.index})`);
    } else if (c === '}' || c === ']') {
      keysOf.pop();
    } else {
      const end = stringEnd(text, m.index);
      structure.lastIndex = end + 1;
      const raw = text.slice(m.index, end + 1);
      const s = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1); // UTF-8 text has no lone surrogate unescaped
      if (LONE_SURROGATE.test(s)) throw headerError(`the string ${raw.slice(0, 200)} is not valid Unicode (a lone surrogate)`);
      const keys = keysOf.at(-1);
      COLON.lastIndex = end + 1;
      if (keys && COLON.test(text)) {
        if (keys.has(s)) throw headerError(`duplicate key ${JSON.stringify(s.slice(0, 200))} (at JSON offset ${m.index})`);
        keys.add(s);
      }
    }
  }
}

function parseJsonObject(text: string): Record<string, unknown> {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw headerError(`the JSON does not parse: ${(err as Error).message}`);
  }
  checkHeaderJson(text);
  return root as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Header validation (shared by the in-memory parser and the file readers).

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function nonNegInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new SafetensorsError(`invalid safetensors header: ${what} must be a non-negative integer below 2^53, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** numel · bytes with every product checked against 2^53, as the reference checks for overflow. */
function checkedByteSize(shape: readonly number[], bytes: number, name: string): number {
  let n = bytes;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) {
      throw new SafetensorsError(`tensor "${name}": shape [${shape.join(', ')}] overflows the size arithmetic`);
    }
  }
  return n;
}

function readHeaderLength(first8: Uint8Array, fileLength: number): number {
  if (fileLength < 8 || first8.length < 8) {
    throw new SafetensorsError(`not a safetensors file: ${fileLength} bytes is shorter than the 8-byte header length`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`safetensors header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or hostile file)`);
  }
  const len = Number(n);
  if (8 + len > fileLength) {
    throw new SafetensorsError(`safetensors header length ${len} runs past the end of the ${fileLength}-byte file (truncated or corrupt)`);
  }
  if (len < 2) throw new SafetensorsError(`safetensors header length ${len} is too short to hold a JSON object`);
  return len;
}

function parseHeaderJson(json: Uint8Array, fileLength: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError('invalid safetensors header: the JSON is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('invalid safetensors header: the JSON must start with "{"');
  const root = parseJsonObject(text);

  const headerBytes = json.length;
  const dataStart = 8 + headerBytes;
  let metadata: Record<string, string> = {};
  const raw: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];

  for (const name of Object.keys(root)) {
    const v = root[name];
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        throw new SafetensorsError('invalid safetensors header: __metadata__ must be an object of strings');
      }
      metadata = {};
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new SafetensorsError(`invalid safetensors header: __metadata__["${k}"] is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new SafetensorsError(`invalid safetensors header: entry "${name}" is not an object`);
    }
    const e = v as Record<string, unknown>;
    if (!isDType(e.dtype)) {
      throw new SafetensorsError(`tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(e.shape)) throw new SafetensorsError(`tensor "${name}": shape must be an array`);
    const shape = e.shape.map((d, k) => nonNegInt(d, `tensor "${name}" shape[${k}]`));
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2) {
      throw new SafetensorsError(`tensor "${name}": data_offsets must be [begin, end]`);
    }
    const begin = nonNegInt(off[0], `tensor "${name}" data_offsets[0]`);
    const end = nonNegInt(off[1], `tensor "${name}" data_offsets[1]`);
    if (end < begin) throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
    const size = checkedByteSize(shape, DTYPE_BYTES[e.dtype], name);
    if (size !== end - begin) {
      throw new SafetensorsError(
        `tensor "${name}": ${e.dtype} [${shape.join(', ')}] needs ${size} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    raw.push({ name, dtype: e.dtype, shape, begin, end });
  }

  raw.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const r of raw) {
    if (r.begin !== at) {
      throw new SafetensorsError(
        r.begin < at
          ? `tensor "${r.name}": data_offsets [${r.begin}, ${r.end}] overlap the previous tensor (ends at ${at})`
          : `tensor "${r.name}": data_offsets [${r.begin}, ${r.end}] leave a hole after byte ${at} of the data buffer`,
      );
    }
    at = r.end;
  }
  if (dataStart + at !== fileLength) {
    throw new SafetensorsError(
      `safetensors data buffer is ${fileLength - dataStart} bytes but the tensors cover ${at} (truncated file or trailing data)`,
    );
  }
  const entries = raw.map((r) => ({
    name: r.name, dtype: r.dtype, shape: r.shape, offset: dataStart + r.begin, length: r.end - r.begin,
  }));
  return { headerBytes, dataStart, entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// Decoding raw bytes to TensorData.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f8e4m3ToFloat(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0x0f;
  const m = b & 0x07;
  if (e === 0x0f && m === 0x07) return NaN; // E4M3FN: no infinities, one NaN pattern
  return s * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
}

function f8e5m2ToFloat(b: number): number {
  return halfToFloat(b << 8);
}

/** Copies (the data may be unaligned for a typed array) and widens to a TensorData dtype. */
function decodeTensor(dtype: SafetensorsDType, shape: Shape, bytes: Uint8Array, name: string): TensorData {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('safetensors loading needs a little-endian host');
  const n = numel(shape);
  const own = (): ArrayBuffer => bytes.slice().buffer as ArrayBuffer;
  const view = (): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: new Float32Array(own()) };
    case 'F64':
      return { dtype: 'float64', shape, data: new Float64Array(own()) };
    case 'I64':
      return { dtype: 'int64', shape, data: new BigInt64Array(own()) };
    case 'I32':
      return { dtype: 'int32', shape, data: new Int32Array(own()) };
    case 'I8':
      return { dtype: 'int8', shape, data: new Int8Array(own()) };
    case 'U8':
      return { dtype: 'uint8', shape, data: new Uint8Array(own()) };
    case 'BOOL':
      return { dtype: 'bool', shape, data: new Uint8Array(own()) };
    case 'F16': {
      const h = new Uint16Array(own());
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[h[i]!]!;
      return { dtype: 'float32', shape, data: out };
    }
    case 'BF16': {
      // bf16 is the top half of a float32: widen by shifting the bits.
      const h = new Uint16Array(own());
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i]! << 16;
      return { dtype: 'float32', shape, data: new Float32Array(bits.buffer) };
    }
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const conv = dtype === 'F8_E4M3' ? f8e4m3ToFloat : f8e5m2ToFloat;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = conv(bytes[i]!);
      return { dtype: 'float32', shape, data: out };
    }
    case 'I16':
      return { dtype: 'int32', shape, data: Int32Array.from(new Int16Array(own())) };
    case 'U16':
      return { dtype: 'int32', shape, data: Int32Array.from(new Uint16Array(own())) };
    case 'U32': {
      const v = view();
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(v.getUint32(i * 4, true));
      return { dtype: 'int64', shape, data: out };
    }
    case 'U64': {
      const v = view();
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const x = v.getBigUint64(i * 8, true);
        if (x > 0x7fffffffffffffffn) throw new SafetensorsError(`tensor "${name}": U64 value ${x} does not fit in int64`);
        out[i] = x;
      }
      return { dtype: 'int64', shape, data: out };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public readers.

/** Parses a whole safetensors file held in memory. */
export function parseSafetensors(bytes: Uint8Array): LoadedSafetensors {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length);
  const header = parseHeaderJson(bytes.subarray(8, 8 + n), bytes.length);
  return decodeAll(header, (e) => bytes.subarray(e.offset, e.offset + e.length));
}

function decodeAll(header: SafetensorsHeader, bytesOf: (e: SafetensorsEntry) => Uint8Array): LoadedSafetensors {
  const tensors = new Map<string, TensorData>();
  const storedDtypes = new Map<string, SafetensorsDType>();
  for (const e of header.entries) {
    tensors.set(e.name, decodeTensor(e.dtype, e.shape, bytesOf(e), e.name));
    storedDtypes.set(e.name, e.dtype);
  }
  return { tensors, metadata: header.metadata, storedDtypes };
}

async function readExactly(fh: fsp.FileHandle, length: number, position: number, file: string): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new SafetensorsError(`${file}: file ended early (changed while reading?)`);
    got += bytesRead;
  }
  return buf;
}

async function openForReading(file: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, 'r');
  } catch (err) {
    throw new SafetensorsError(`cannot open safetensors file ${file}: ${(err as Error).message}`);
  }
}

async function headerOf(fh: fsp.FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  const first8 = await readExactly(fh, Math.min(8, size), 0, file);
  const n = readHeaderLength(first8, size);
  return parseHeaderJson(await readExactly(fh, n, 8, file), size);
}

function withFile(file: string, err: unknown): never {
  if (err instanceof SafetensorsError && !err.message.startsWith(file)) {
    throw new SafetensorsError(`${file}: ${err.message}`);
  }
  throw err;
}

/**
 * Reads and validates only the header. Entry offsets are absolute file offsets, e.g. for pointing
 * ONNX external data into the file.
 */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const fh = await openForReading(file);
  try {
    return await headerOf(fh, file);
  } catch (err) {
    withFile(file, err);
  } finally {
    await fh.close();
  }
}

/** Loads every tensor (reading tensor by tensor, so files beyond the 2 GiB Buffer limit work). */
export async function loadSafetensors(file: string): Promise<LoadedSafetensors> {
  const fh = await openForReading(file);
  try {
    const header = await headerOf(fh, file);
    const tensors = new Map<string, TensorData>();
    const storedDtypes = new Map<string, SafetensorsDType>();
    for (const e of header.entries) {
      tensors.set(e.name, decodeTensor(e.dtype, e.shape, await readExactly(fh, e.length, e.offset, file), e.name));
      storedDtypes.set(e.name, e.dtype);
    }
    return { tensors, metadata: header.metadata, storedDtypes };
  } catch (err) {
    withFile(file, err);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Writer.

interface PlannedTensor {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: Shape;
  readonly byteLength: number;
  bytes(): Uint8Array;
}

const NATIVE: Record<DType, SafetensorsDType> = {
  float32: 'F32', float16: 'F16', float64: 'F64', int64: 'I64', int32: 'I32', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

function rawBytes(t: TensorData): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function planTensor(name: string, t: TensorData, opts: EncodeOptions): PlannedTensor {
  if (name === '' || name === '__metadata__' || LONE_SURROGATE.test(name)) {
    throw new SafetensorsError(`invalid tensor name ${JSON.stringify(name)}: use a non-empty string of valid Unicode other than __metadata__`);
  }
  if (!t || !(t.dtype in NATIVE)) throw new SafetensorsError(`tensor "${name}": not a TensorData`);
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new SafetensorsError(`tensor "${name}": ${t.data.length} elements do not match shape [${t.shape.join(', ')}]`);
  }
  const shape = [...t.shape];
  let target = NATIVE[t.dtype];
  if (opts.dtype && (t.dtype === 'float32' || t.dtype === 'float16')) target = opts.dtype;
  if (target === NATIVE[t.dtype]) {
    return { name, dtype: target, shape, byteLength: t.data.byteLength, bytes: () => rawBytes(t) };
  }
  if (target === 'F16') {
    const src = t.data as Float32Array;
    return {
      name, dtype: 'F16', shape, byteLength: n * 2,
      bytes: () => {
        const h = new Uint16Array(n);
        for (let i = 0; i < n; i++) h[i] = floatToHalf(src[i]!);
        return new Uint8Array(h.buffer);
      },
    };
  }
  const src = t.data as Uint16Array; // float16 bits widened to F32
  return {
    name, dtype: 'F32', shape, byteLength: n * 4,
    bytes: () => {
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = halfToFloat(src[i]!);
      return new Uint8Array(f.buffer);
    },
  };
}

function plan(tensors: TensorMap, metadata: Record<string, string> | undefined, opts: EncodeOptions) {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('safetensors writing needs a little-endian host');
  if (opts.dtype !== undefined && opts.dtype !== 'F32' && opts.dtype !== 'F16') {
    throw new SafetensorsError(`unsupported storage dtype ${JSON.stringify(opts.dtype)}: use 'F32' or 'F16'`);
  }
  const entries: [string, TensorData][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorData>);
  // Larger elements first, then by name (as the reference writer): with the header padded to 8 bytes,
  // every tensor starts aligned to its element size in the file.
  const planned = entries
    .map(([name, t]) => planTensor(name, t, opts))
    .sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata "${k}" must be a string, got ${typeof v}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) throw new SafetensorsError(`metadata "${k}" is not valid Unicode`);
    }
    header.__metadata__ = metadata;
  }
  let at = 0;
  for (const p of planned) {
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [at, at + p.byteLength] };
    at += p.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new SafetensorsError(`safetensors header would be ${padded} bytes, over the limit`);
  const head = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, planned, total: head.length + at };
}

/** Encodes tensors (+ optional string metadata) as safetensors bytes. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Record<string, string>, opts: EncodeOptions = {}): Uint8Array {
  const { head, planned, total } = plan(tensors, metadata, opts);
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  for (const p of planned) {
    out.set(p.bytes(), at);
    at += p.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically: temp file in the same folder, fsync, rename, fsync folder. */
export async function saveSafetensors(
  file: string,
  tensors: TensorMap,
  metadata?: Record<string, string>,
  opts: EncodeOptions = {},
): Promise<void> {
  const { head, planned } = plan(tensors, metadata, opts);
  await writeFileAtomic(file, async (fh) => {
    await writeAll(fh, head);
    for (const p of planned) await writeAll(fh, p.bytes());
  });
}
