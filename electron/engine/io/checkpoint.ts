// PyTorch checkpoints (.ckpt / .pt / .pth) read safely: the zip archive torch.save writes, its pickle
// interpreted by the restricted machine in pickle.ts, and every tensor checked against its storage
// entry before a byte is read. Tensors are read one at a time by position, so a 7 GB checkpoint is
// converted without holding it in memory.

import { promises as fsp } from 'node:fs';
import { writeAll, writeFileAtomic } from './atomic.ts';
import { isTensor, isTuple, numpyArrayValue, PickleError, readPickle, STORAGE_BYTES } from './pickle.ts';
import type { PickleValue, StorageDType, TensorRef } from './pickle.ts';
import { readSafetensorsHeader } from './safetensors.ts';
import { ZipArchive, ZipError } from './zip.ts';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** data.pkl of real checkpoints is well under this (a few MB for SD with optimizer state). */
const MAX_PICKLE_BYTES = 512 * 1024 * 1024;
/** Views may repeat storage bytes (broadcast, overlapping strides) up to 4× the file plus this. */
const MAX_EXPANSION_SLACK = 64 * 1024 * 1024;
/** A deflated storage is inflated whole to be read; beyond this it is refused. */
const MAX_INFLATE_BYTES = 1024 * 1024 * 1024;

export interface CheckpointTensor {
  readonly name: string;
  readonly dtype: StorageDType;
  readonly shape: number[];
  readonly byteLength: number;
  readonly ref: TensorRef;
}

export interface Checkpoint {
  readonly file: string;
  /** In the order the pickle lists them. */
  readonly tensors: CheckpointTensor[];
  /** Non-tensor entries (global_step, epoch, …) as JSON text. */
  readonly metadata: Record<string, string>;
  /** Where the state dict was found: '' for the top level, or e.g. 'state_dict'. */
  readonly stateDictKey: string;
  /** Things left out, in words (optimizer state, EMA duplicates are kept, …). */
  readonly notes: string[];
  readTensor(t: CheckpointTensor): Promise<Uint8Array>;
  close(): Promise<void>;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

async function sniff(file: string): Promise<Uint8Array> {
  const fh = await fsp.open(file, 'r').catch((err: Error) => {
    throw new CheckpointError(`cannot open ${file}: ${err.message}`);
  });
  try {
    const b = new Uint8Array(8);
    const { bytesRead } = await fh.read(b, 0, 8, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Opens a PyTorch zip checkpoint and validates its pickle and every tensor's storage span. */
export async function openCheckpoint(file: string): Promise<Checkpoint> {
  const head = await sniff(file);
  if (!ZIP_MAGIC.every((b, i) => head[i] === b)) {
    if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) {
      throw new CheckpointError(
        `${file} is a legacy PyTorch checkpoint (a bare pickle, written before torch 1.6 or with _use_new_zipfile_serialization=False); it is refused because it cannot be read safely. Re-save it with a current torch.save, or convert it to .safetensors.`,
      );
    }
    throw new CheckpointError(`${file} is not a PyTorch checkpoint (no zip archive and no pickle header)`);
  }
  let zip: ZipArchive;
  try {
    zip = await ZipArchive.open(file);
  } catch (err) {
    throw new CheckpointError(`${file}: ${(err as Error).message}`);
  }
  try {
    return await readArchive(file, zip);
  } catch (err) {
    await zip.close();
    if (err instanceof ZipError || err instanceof PickleError) throw new CheckpointError(`${file}: ${err.message}`);
    throw err;
  }
}

async function readArchive(file: string, zip: ZipArchive): Promise<Checkpoint> {
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new CheckpointError(`${file}: expected one <name>/data.pkl in the archive, found ${pkls.length}`);
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  const stray = [...zip.entries.keys()].find((n) => !n.startsWith(prefix));
  if (stray) throw new CheckpointError(`${file}: entry ${stray} lies outside the archive's folder ${prefix}`);
  const byteorder = zip.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await zip.read(byteorder.name, 16)).trim();
    if (order !== 'little') throw new CheckpointError(`${file} was saved on a ${order}-endian machine; only little-endian checkpoints are read`);
  }
  const root = readPickle(await zip.read(pkls[0]!, MAX_PICKLE_BYTES));

  const { dict, key } = findStateDict(root);
  const tensors: CheckpointTensor[] = [];
  const metadata: Record<string, string> = {};
  const notes: string[] = [];
  for (const [k, v] of dict) {
    if (typeof k !== 'string') continue;
    if (isTensor(v)) tensors.push(checkTensor(zip, prefix, k, v));
    else {
      const json = plainJson(v);
      if (json !== undefined) metadata[k] = json;
      else notes.push(`left out ${k} (not a tensor or plain value)`);
    }
  }
  if (key !== '' && root instanceof Map) {
    for (const [k, v] of root) {
      if (typeof k !== 'string' || k === key) continue;
      if (TRAINING_STATE.has(k)) {
        notes.push(`left out ${k} (training state)`);
        continue;
      }
      const json = plainJson(v);
      if (json !== undefined) metadata[k] = json;
      else notes.push(`left out ${k} (${describe(v)})`);
    }
  }
  if (tensors.length === 0) throw new CheckpointError(`${file} holds no tensors in its state dict`);
  // Views can repeat a storage's bytes (stride 0, overlapping strides): bound what reading them produces.
  const total = tensors.reduce((a, t) => a + t.byteLength, 0);
  const limit = 4 * zip.fileSize + MAX_EXPANSION_SLACK;
  if (total > limit) {
    const worst = tensors.reduce((a, t) => (t.byteLength > a.byteLength ? t : a));
    throw new CheckpointError(
      `refused: the tensors' views expand the ${zip.fileSize}-byte file to ${total} bytes (e.g. ${worst.name} [${worst.shape.join(', ')}] with strides [${worst.ref.stride.join(', ')}]): a decompression bomb?`,
    );
  }

  return {
    file,
    tensors,
    metadata,
    stateDictKey: key,
    notes,
    readTensor: (t) => readTensorBytes(zip, prefix, t),
    close: () => zip.close(),
  };
}

/** Lightning's resume state: not part of the model. */
const TRAINING_STATE = new Set(['optimizer_states', 'lr_schedulers', 'callbacks', 'loops', 'optimizer', 'scheduler']);

function describe(v: PickleValue): string {
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return 'not plain data';
}

/** The dict holding the tensors: the top level, or a nested `state_dict` (Lightning) / `model` / `module`. */
function findStateDict(root: PickleValue): { dict: Map<PickleValue, PickleValue>; key: string } {
  if (!(root instanceof Map)) throw new CheckpointError('the checkpoint is not a dict of tensors');
  for (const key of ['state_dict', 'model', 'module', 'model_state_dict']) {
    const inner = root.get(key);
    if (inner instanceof Map && [...inner.values()].some(isTensor)) return { dict: inner, key };
  }
  return { dict: root, key: '' };
}

/** JSON for plain values (numbers, strings, bools, lists/dicts of them, small depth); undefined otherwise. */
function plainJson(v: PickleValue): string | undefined {
  const seen = new Set<unknown>();
  const conv = (x: PickleValue, depth: number): unknown => {
    if (depth > 8) throw new Error('deep');
    if (x === null || typeof x === 'boolean' || typeof x === 'string') return x;
    if (typeof x === 'number') return Number.isFinite(x) ? x : String(x);
    if (typeof x === 'bigint') return x.toString();
    if (seen.has(x)) throw new Error('cycle');
    seen.add(x);
    if (Array.isArray(x)) return x.map((y) => conv(y, depth + 1));
    if (isTuple(x)) return x.items.map((y) => conv(y, depth + 1));
    const array = numpyArrayValue(x); // a small numeric numpy array (a loss history, a grid): its values
    if (array) return array.value;
    if (x instanceof Map) {
      const o: Record<string, unknown> = {};
      for (const [k, y] of x) {
        if (typeof k !== 'string' && typeof k !== 'number') throw new Error('key');
        o[String(k)] = conv(y, depth + 1);
      }
      return o;
    }
    throw new Error('not plain');
  };
  if (typeof v === 'string') return v.length <= 65536 ? v : undefined;
  try {
    const s = JSON.stringify(conv(v, 0));
    return s.length <= 65536 ? s : undefined;
  } catch {
    return undefined;
  }
}

function checkedMul(a: number, b: number, what: string): number {
  const x = a * b;
  if (!Number.isSafeInteger(x)) throw new CheckpointError(`${what} overflows`);
  return x;
}

/** Validates a tensor view against its storage entry (numel, strides, offset) before anything is read. */
function checkTensor(zip: ZipArchive, prefix: string, name: string, ref: TensorRef): CheckpointTensor {
  const s = ref.storage;
  const entry = zip.get(`${prefix}data/${s.key}`);
  if (!entry) throw new CheckpointError(`tensor ${name}: its storage ${s.key} is missing from the archive`);
  const elem = STORAGE_BYTES[s.dtype];
  const storageBytes = checkedMul(s.numel, elem, `tensor ${name}: storage size`);
  if (storageBytes > entry.size) {
    throw new CheckpointError(`tensor ${name}: storage ${s.key} claims ${s.numel} × ${elem} bytes but its entry holds ${entry.size}`);
  }
  let numel = 1;
  let last = ref.offset; // index of the last element
  for (let i = 0; i < ref.shape.length; i++) {
    numel = checkedMul(numel, ref.shape[i]!, `tensor ${name}: element count`);
    if (ref.shape[i]! > 0) last += checkedMul(ref.shape[i]! - 1, ref.stride[i]!, `tensor ${name}: view extent`);
  }
  if (numel > 0 && last >= s.numel) {
    throw new CheckpointError(`tensor ${name}: view [${ref.shape.join(', ')}] with strides [${ref.stride.join(', ')}] at offset ${ref.offset} reaches element ${last} of a ${s.numel}-element storage`);
  }
  if (entry.method !== 0 && entry.size > MAX_INFLATE_BYTES) throw new CheckpointError(`tensor ${name}: compressed storage of ${entry.size} bytes is over the limit`);
  return { name, dtype: s.dtype, shape: ref.shape, byteLength: checkedMul(numel, elem, `tensor ${name}: byte size`), ref };
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** The tensor's elements in row-major order, as raw little-endian bytes of its dtype. */
async function readTensorBytes(zip: ZipArchive, prefix: string, t: CheckpointTensor): Promise<Uint8Array> {
  const { storage, offset, shape, stride } = t.ref;
  const elem = STORAGE_BYTES[storage.dtype];
  const entry = `${prefix}data/${storage.key}`;
  const n = t.byteLength / elem;
  if (n === 0) return new Uint8Array(0);
  if (isContiguous(shape, stride)) return zip.readRange(entry, offset * elem, n * elem, MAX_INFLATE_BYTES);
  // A strided view: read the span it covers once, then gather.
  let last = offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
  const span = await zip.readRange(entry, offset * elem, (last - offset + 1) * elem, MAX_INFLATE_BYTES);
  const out = new Uint8Array(n * elem);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d]! * stride[d]!;
    out.set(span.subarray(src * elem, src * elem + elem), k * elem);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Conversion to safetensors, streamed tensor by tensor.

export interface ConvertResult {
  readonly tensors: number;
  readonly bytes: number;
  readonly metadata: Record<string, string>;
  readonly stateDictKey: string;
  readonly notes: string[];
  readonly dtypes: Record<string, number>;
}

/**
 * Writes the checkpoint's state dict as a safetensors file (atomic). Tensors keep their dtype; views are
 * written as their own contiguous copies. Non-tensor entries go into `__metadata__` (JSON text each),
 * plus `format: pt` and `converted_from`.
 */
export async function convertCheckpoint(input: string, output: string, extraMetadata: Record<string, string> = {}): Promise<ConvertResult> {
  const ckpt = await openCheckpoint(input);
  try {
    const metadata: Record<string, string> = { format: 'pt', ...ckpt.metadata, ...extraMetadata };
    const planned = [...ckpt.tensors].sort((a, b) => STORAGE_BYTES[b.dtype] - STORAGE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const names = new Set<string>();
    const header: Record<string, unknown> = { __metadata__: metadata };
    let at = 0;
    const dtypes: Record<string, number> = {};
    for (const t of planned) {
      if (t.name === '' || t.name === '__metadata__' || names.has(t.name)) throw new CheckpointError(`${input}: tensor name ${JSON.stringify(t.name)} cannot be written to safetensors`);
      names.add(t.name);
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.byteLength] };
      at += t.byteLength;
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const padded = Math.ceil(json.length / 8) * 8;
    const head = new Uint8Array(8 + padded).fill(0x20, 8);
    new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
    head.set(json, 8);
    await writeFileAtomic(output, async (fh) => {
      await writeAll(fh, head);
      for (const t of planned) await writeAll(fh, await ckpt.readTensor(t));
    });
    await readSafetensorsHeader(output); // the file we wrote passes the strict reader
    return { tensors: planned.length, bytes: head.length + at, metadata, stateDictKey: ckpt.stateDictKey, notes: ckpt.notes, dtypes };
  } finally {
    await ckpt.close();
  }
}
