// A restricted pickle machine for PyTorch checkpoints. It interprets the opcodes a state dict needs
// (torch.save writes protocol 2) and resolves only an allow-list of globals, each rebuilt as inert
// data: tensors (as references into the archive's storages), ordered dicts, and the few harmless
// objects real Lightning/numpy checkpoints carry. Any other global or opcode stops the read with its
// name ("refused: the file asks to run `os.system`"). Nothing from the file is ever called or executed.
//
// Bounds: the pickle is read from memory (its size capped by the caller); the stack, the memo, container
// sizes, nesting and the number of opcodes are capped, so a hostile file costs at most a few times its size.

export class PickleError extends Error {
  override name = 'PickleError';
}

/** A reference to a storage in the archive (the persistent id torch writes for each storage). */
export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: StorageDType;
  readonly key: string;
  readonly location: string;
  /** Elements, as torch writes them (bytes for an untyped storage). */
  readonly numel: number;
}

export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

export interface Tuple {
  readonly kind: 'tuple';
  readonly items: PickleValue[];
}

/** A global the allow-list knows but that is kept as a name only (e.g. a Lightning callback type used as a dict key). */
export interface GlobalRef {
  readonly kind: 'global';
  readonly name: string;
}

/** An allowed object rebuilt as plain data (its constructor arguments and state, never run). */
export interface InertObject {
  readonly kind: 'object';
  readonly type: string;
  readonly args: PickleValue[];
  state: PickleValue;
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleDictKey, PickleValue>
  | Tuple
  | GlobalRef
  | InertObject
  | StorageRef
  | TensorRef;
export type PickleDictKey = PickleValue;

export type StorageDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const STORAGE_BYTES: Record<StorageDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

const STORAGE_TYPES: Record<string, StorageDType> = {
  'torch.DoubleStorage': 'F64',
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
  // torch ≥ 2 may write dtypes in place of typed storage classes
  'torch.float64': 'F64',
  'torch.float32': 'F32',
  'torch.float16': 'F16',
  'torch.bfloat16': 'BF16',
  'torch.int64': 'I64',
  'torch.int32': 'I32',
  'torch.int16': 'I16',
  'torch.int8': 'I8',
  'torch.uint8': 'U8',
  'torch.bool': 'BOOL',
};

/** Globals that may be called by REDUCE, each with its inert rebuild. */
type Rebuild = (args: PickleValue[]) => PickleValue;

const CALLABLE: Record<string, Rebuild> = {
  'collections.OrderedDict': (args) => {
    if (args.length !== 0) throw new PickleError('collections.OrderedDict is only rebuilt empty (items follow as SETITEMS)');
    return new Map();
  },
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_tensor': rebuildTensor,
  'torch._utils._rebuild_parameter': (args) => {
    const t = args[0];
    if (!isTensor(t)) throw new PickleError('_rebuild_parameter expects a tensor');
    return t;
  },
  'torch._utils._rebuild_parameter_with_state': (args) => {
    const t = args[0];
    if (!isTensor(t)) throw new PickleError('_rebuild_parameter_with_state expects a tensor');
    return t;
  },
  'torch.Size': (args) => {
    const t = args[0];
    if (!isTuple(t) || !t.items.every((x) => typeof x === 'number')) throw new PickleError('torch.Size expects a tuple of ints');
    return t;
  },
  // Protocol 2 writes Python 3 bytes as _codecs.encode(text, 'latin1'): a pure conversion.
  '_codecs.encode': (args) => {
    const [text, enc] = args;
    if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new PickleError("_codecs.encode is only allowed as encode(str, 'latin1')");
    return latin1Bytes(text);
  },
  'builtins.set': (args) => listOf(args[0] ?? [], 'set'),
  '__builtin__.set': (args) => listOf(args[0] ?? [], 'set'),
  'numpy.dtype': (args) => inert('numpy.dtype', args),
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
  // numpy arrays: _reconstruct(ndarray, (0,), b'b') makes an empty array, BUILD then gives its state
  // (version, shape, dtype, fortran order, raw bytes); kept as that data, never constructed.
  'numpy.core.multiarray._reconstruct': numpyReconstruct,
  'numpy._core.multiarray._reconstruct': numpyReconstruct,
  // torch.device('cuda', 0) / ('cpu'): its name as a string ('cuda:0').
  'torch.device': (args) => {
    const [type, index] = args;
    if (typeof type !== 'string' || !/^[a-z_]{1,16}(:\d{1,4})?$/.test(type) || args.length > 2 || (index !== undefined && index !== null && (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0))) {
      throw new PickleError('torch.device expects a device type and an optional index');
    }
    return typeof index === 'number' ? `${type}:${index}` : type;
  },
  'argparse.Namespace': (args) => inert('argparse.Namespace', args),
};

/** Globals allowed only as names (never called). */
const NAME_ONLY = new Set([
  'numpy.ndarray',
  'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint',
  'pytorch_lightning.callbacks.early_stopping.EarlyStopping',
  'lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint',
]);

function inert(type: string, args: PickleValue[]): InertObject {
  return { kind: 'object', type, args, state: null };
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new PickleError('_codecs.encode: text is not latin-1');
    out[i] = c;
  }
  return out;
}

function listOf(v: PickleValue, what: string): PickleValue[] {
  if (Array.isArray(v)) return [...v];
  if (isTuple(v)) return [...v.items];
  throw new PickleError(`${what} expects a list`);
}

export function isTensor(v: PickleValue | undefined): v is TensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'tensor';
}

export function isTuple(v: PickleValue | undefined): v is Tuple {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'tuple';
}

function isStorage(v: PickleValue | undefined): v is StorageRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'storage';
}

function intList(v: PickleValue | undefined, what: string): number[] {
  if (!isTuple(v) && !Array.isArray(v)) throw new PickleError(`${what} must be a tuple of ints`);
  const items = isTuple(v) ? v.items : v;
  if (items.length > 64) throw new PickleError(`${what} has ${items.length} dimensions`);
  return items.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new PickleError(`${what} must hold non-negative ints`);
    return x;
  });
}

function rebuildTensor(args: PickleValue[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!isStorage(storage)) throw new PickleError('_rebuild_tensor_v2: the first argument is not a storage');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new PickleError('_rebuild_tensor_v2: bad storage offset');
  const shape = intList(size, 'tensor size');
  const strides = intList(stride, 'tensor stride');
  if (strides.length !== shape.length) throw new PickleError(`tensor size has ${shape.length} dimensions but stride has ${strides.length}`);
  return { kind: 'tensor', storage, offset, shape, stride: strides };
}

// numpy scalars: scalar(dtype, bytes). Only the little-endian numeric kinds are decoded.
function numpyScalar(args: PickleValue[]): PickleValue {
  const [dt, raw] = args;
  if (typeof dt !== 'object' || dt === null || (dt as InertObject).kind !== 'object' || (dt as InertObject).type !== 'numpy.dtype') {
    throw new PickleError('numpy scalar without a numpy dtype');
  }
  const code = (dt as InertObject).args[0];
  if (!(raw instanceof Uint8Array) || typeof code !== 'string') throw new PickleError('numpy scalar: malformed arguments');
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const need = (n: number): void => {
    if (raw.length !== n) throw new PickleError(`numpy scalar ${code}: ${raw.length} bytes`);
  };
  switch (code) {
    case 'f8': need(8); return v.getFloat64(0, true);
    case 'f4': need(4); return v.getFloat32(0, true);
    case 'i8': need(8); return Number(v.getBigInt64(0, true));
    case 'i4': need(4); return v.getInt32(0, true);
    case 'u8': need(8); return Number(v.getBigUint64(0, true));
    case 'u4': need(4); return v.getUint32(0, true);
    case 'b1': need(1); return raw[0] !== 0;
    default: return inert('numpy.scalar', args);
  }
}

function numpyReconstruct(args: PickleValue[]): InertObject {
  const [cls, shape, tag] = args;
  if (!isGlobal(cls) || cls.name !== 'numpy.ndarray' || !isTuple(shape) || !(tag instanceof Uint8Array)) {
    throw new PickleError('numpy _reconstruct is only allowed as _reconstruct(numpy.ndarray, (0,), b"b")');
  }
  return inert('numpy.ndarray', []);
}

const NUMPY_KINDS: Record<string, { bytes: number; read: (v: DataView, at: number) => number | boolean }> = {
  f8: { bytes: 8, read: (v, at) => v.getFloat64(at, true) },
  f4: { bytes: 4, read: (v, at) => v.getFloat32(at, true) },
  f2: { bytes: 2, read: (v, at) => halfBits(v.getUint16(at, true)) },
  i8: { bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  i4: { bytes: 4, read: (v, at) => v.getInt32(at, true) },
  i2: { bytes: 2, read: (v, at) => v.getInt16(at, true) },
  i1: { bytes: 1, read: (v, at) => v.getInt8(at) },
  u8: { bytes: 8, read: (v, at) => Number(v.getBigUint64(at, true)) },
  u4: { bytes: 4, read: (v, at) => v.getUint32(at, true) },
  u2: { bytes: 2, read: (v, at) => v.getUint16(at, true) },
  u1: { bytes: 1, read: (v, at) => v.getUint8(at) },
  b1: { bytes: 1, read: (v, at) => v.getUint8(at) !== 0 },
};

function halfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * A numpy array read from the file (its BUILD state) as nested lists of numbers (0-dim: the number), when it is a small
 * little-endian numeric one in C order; null otherwise (object arrays, big-endian, over `maxElements`).
 */
export function numpyArrayValue(v: PickleValue, maxElements = 4096): { value: unknown } | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map || v instanceof Uint8Array || v.kind !== 'object' || v.type !== 'numpy.ndarray') return null;
  const st = v.state;
  if (!isTuple(st) || st.items.length !== 5) return null;
  const [, shapeV, dtype, fortran, raw] = st.items;
  if (!isTuple(shapeV) || !shapeV.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) || fortran !== false || !(raw instanceof Uint8Array)) return null;
  if (typeof dtype !== 'object' || dtype === null || Array.isArray(dtype) || dtype instanceof Map || dtype instanceof Uint8Array || dtype.kind !== 'object' || dtype.type !== 'numpy.dtype') return null;
  const code = dtype.args[0];
  const order = isTuple(dtype.state) ? dtype.state.items[1] : '<';
  const kind = typeof code === 'string' ? NUMPY_KINDS[code] : undefined;
  if (!kind || (order !== '<' && order !== '|')) return null;
  const shape = shapeV.items as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > maxElements || raw.length !== n * kind.bytes) return null;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flat = Array.from({ length: n }, (_, i) => kind.read(view, i * kind.bytes));
  const nest = (dims: number[], at: number): unknown[] => {
    if (dims.length <= 1) return flat.slice(at, at + (dims[0] ?? 1));
    const step = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0]! }, (_, i) => nest(dims.slice(1), at + i * step));
  };
  return { value: shape.length === 0 ? flat[0] : nest(shape, 0) };
}

export interface PickleLimits {
  maxOps: number;
  maxStack: number;
  maxMemo: number;
  maxContainer: number;
}

const DEFAULT_LIMITS: PickleLimits = { maxOps: 50_000_000, maxStack: 1_000_000, maxMemo: 10_000_000, maxContainer: 10_000_000 };

const MARK: unique symbol = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Opcode names, for messages. */
const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/**
 * Interprets a pickle. `persistentLoad` turns torch's persistent ids into storage references; the value
 * left by STOP is returned. Throws PickleError for anything outside the allowed subset.
 */
export function readPickle(bytes: Uint8Array, limits: Partial<PickleLimits> = {}): PickleValue {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let ops = 0;

  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) throw new PickleError(`the pickle ends inside an opcode at byte ${pos}`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const x = v.getUint16(pos, true);
    pos += 2;
    return x;
  };
  const u32 = (): number => {
    need(4);
    const x = v.getUint32(pos, true);
    pos += 4;
    return x;
  };
  const u64 = (): number => {
    need(8);
    const x = v.getBigUint64(pos, true);
    pos += 8;
    if (x > BigInt(bytes.length)) throw new PickleError(`a length of ${x} runs past the end of the pickle`);
    return Number(x);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const text = (n: number): string => {
    try {
      return utf8.decode(take(n));
    } catch {
      throw new PickleError(`invalid UTF-8 in a string at byte ${pos}`);
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1000) throw new PickleError(`unterminated GLOBAL name at byte ${pos}`);
    let s = '';
    for (let i = pos; i < end; i++) {
      const c = bytes[i]!;
      if (c < 0x20 || c > 0x7e) throw new PickleError(`GLOBAL name with a non-printable byte at ${i}`);
      s += String.fromCharCode(c);
    }
    pos = end + 1;
    return s;
  };
  const push = (x: PickleValue): void => {
    if (stack.length >= lim.maxStack) throw new PickleError(`the pickle stack grows past ${lim.maxStack} items`);
    stack.push(x);
  };
  const pop = (): PickleValue => {
    const base = marks.length ? marks[marks.length - 1]! : 0;
    if (stack.length <= base) throw new PickleError(`stack underflow at byte ${pos}`);
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    const base = marks.length ? marks[marks.length - 1]! : 0;
    if (stack.length <= base) throw new PickleError(`stack underflow at byte ${pos}`);
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) throw new PickleError(`no MARK to pop at byte ${pos}`);
    const items = stack.splice(m) as PickleValue[];
    return items;
  };
  const put = (i: number): void => {
    if (memo.size >= lim.maxMemo && !memo.has(i)) throw new PickleError(`the pickle memo grows past ${lim.maxMemo} entries`);
    memo.set(i, top());
  };
  const get = (i: number): void => {
    if (!memo.has(i)) throw new PickleError(`memo entry ${i} read before it was written`);
    push(memo.get(i)!);
  };
  const tuple = (items: PickleValue[]): Tuple => ({ kind: 'tuple', items });
  const resolveGlobal = (module: string, name: string): PickleValue => {
    const full = `${module}.${name}`;
    if (Object.prototype.hasOwnProperty.call(CALLABLE, full) || NAME_ONLY.has(full) || Object.prototype.hasOwnProperty.call(STORAGE_TYPES, full)) {
      return { kind: 'global', name: full };
    }
    throw new PickleError(`refused: the file asks to run \`${full}\` (only tensors, ordered dicts and plain data are read from a checkpoint)`);
  };
  const checkContainer = (n: number): void => {
    if (n > lim.maxContainer) throw new PickleError(`a container grows past ${lim.maxContainer} items`);
  };
  const setItems = (target: PickleValue, kv: PickleValue[]): void => {
    if (!(target instanceof Map)) throw new PickleError('SETITEM(S) on something that is not a dict');
    if (kv.length % 2) throw new PickleError('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i]!;
      if (typeof k === 'object' && k !== null && !isGlobal(k) && !isTuple(k)) throw new PickleError('unhashable dict key');
      // Strings and numbers key by value; globals and tuples by identity (they only serve as labels).
      target.set(k, kv[i + 1]!);
    }
    checkContainer(target.size);
  };

  for (;;) {
    if (++ops > lim.maxOps) throw new PickleError(`the pickle runs past ${lim.maxOps} opcodes`);
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) throw new PickleError(`pickle protocol ${p} is not supported`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        const result = pop();
        return result;
      }
      case 0x28: // MARK
        if (marks.length >= 10_000) throw new PickleError('MARKs nested too deep');
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: { need(4); push(v.getInt32(pos, true)); pos += 4; break; } // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        push(littleInt(take(n)));
        break;
      }
      case 0x8b: { // LONG4
        const n = u32();
        if (n > 64) throw new PickleError(`a ${n}-byte integer is not plausible in a checkpoint`);
        push(littleInt(take(n)));
        break;
      }
      case 0x47: { need(8); push(v.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x54: { // BINSTRING (Python 2 str): read as latin-1
        const n = v.getInt32((need(4), pos), true);
        pos += 4;
        push(latin1(take(n)));
        break;
      }
      case 0x55: push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; } // TUPLE3
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { // DICT
        const kv = popMark();
        const m = new Map<PickleDictKey, PickleValue>();
        setItems(m, kv);
        push(m);
        break;
      }
      case 0x61: { // APPEND
        const x = pop();
        const list = top();
        if (!Array.isArray(list)) throw new PickleError('APPEND to something that is not a list');
        list.push(x);
        checkContainer(list.length);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new PickleError('APPENDS to something that is not a list');
        checkContainer(list.length + items.length);
        for (const x of items) list.push(x);
        break;
      }
      case 0x73: { // SETITEM
        const val = pop();
        const key = pop();
        setItems(top(), [key, val]);
        break;
      }
      case 0x75: { // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
        push(resolveGlobal(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!isGlobal(fn)) throw new PickleError(`REDUCE at byte ${at} calls something that is not an allowed global`);
        if (!isTuple(args)) throw new PickleError(`REDUCE of ${fn.name}: the arguments are not a tuple`);
        const rebuild = CALLABLE[fn.name];
        if (!rebuild) throw new PickleError(`refused: the file asks to call \`${fn.name}\`, which is only allowed as a name`);
        push(rebuild(args.items));
        break;
      }
      case 0x62: { // BUILD: sets state on an inert object; tensors and dicts take none that matter
        const state = pop();
        const obj = top();
        if (typeof obj === 'object' && obj !== null && !Array.isArray(obj) && !(obj instanceof Map) && !(obj instanceof Uint8Array) && obj.kind === 'object') {
          obj.state = state;
        } else if (isTensor(obj) || obj instanceof Map) {
          // torch writes BUILD for tensor subclasses' __dict__ and OrderedDict attributes: kept out.
        } else {
          throw new PickleError(`BUILD at byte ${at} on something that takes no state`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        push(persistentStorage(pid));
        break;
      }
      default: {
        const name = OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
        throw new PickleError(`refused: opcode ${name} at byte ${at} is not allowed in a checkpoint`);
      }
    }
  }
}

function isGlobal(v: PickleValue | undefined): v is GlobalRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array) && v.kind === 'global';
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/** Two's-complement little-endian integer (LONG1/LONG4); a number when safe, else a bigint. */
function littleInt(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) x -= 1n << BigInt(8 * b.length);
  return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
}

/** torch's persistent id: ('storage', storage type, key, location, numel). */
function persistentStorage(pid: PickleValue): StorageRef {
  if (!isTuple(pid) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
    throw new PickleError('refused: a persistent id that is not a torch storage reference');
  }
  const [, type, key, location, numel] = pid.items;
  if (!isGlobal(type) || !(type.name in STORAGE_TYPES)) throw new PickleError(`unsupported storage type ${isGlobal(type) ? type.name : typeof type}`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(key)) throw new PickleError('storage key must be a short name');
  if (typeof location !== 'string') throw new PickleError('storage location must be a string');
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new PickleError('storage size must be a non-negative int');
  return { kind: 'storage', dtype: STORAGE_TYPES[type.name]!, key, location, numel };
}
