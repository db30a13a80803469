// Writes files in the exact layout torch.save (PyTorch 1.13, zip serialisation, pickle protocol 2) gives:
// a zip of stored entries aligned to 64 bytes with "FB" padding fields, data descriptors and zip64 end
// records, holding <name>/data.pkl, <name>/data/<key> per storage (keys sorted as strings) and
// <name>/version. The pickle memoises as CPython's Pickler does. Checked byte for byte against real
// torch.save files in test/engine/io/ckpt-writer.test.ts. Also writes hostile variants for the security tests.
import { crc32 } from 'node:zlib';
import type { StorageDType } from '../../../electron/engine/io/pickle.ts';

export interface Storage {
  readonly dtype: StorageDType;
  readonly bytes: Uint8Array;
  /** Elements as written into the persistent id (default: bytes / element size). */
  readonly numel?: number;
}

export type Py =
  | null
  | boolean
  | number
  | string
  | Py[]
  | { readonly $float: number }
  | { readonly $tuple: readonly Py[] }
  | { readonly $dict: readonly (readonly [Py, Py])[] }
  | { readonly $odict: readonly (readonly [string, Py])[] }
  | { readonly $tensor: TensorSpec }
  | { readonly $global: string } // "module name"
  | { readonly $reduce: { readonly global: string; readonly args: readonly Py[] } }
  | { readonly $raw: Uint8Array }; // bytes spliced into the pickle as they are

export interface TensorSpec {
  readonly storage: Storage;
  readonly offset?: number;
  readonly shape: readonly number[];
  readonly stride?: readonly number[];
  readonly requiresGrad?: boolean;
}

const ELEM: Record<StorageDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const STORAGE_CLASS: Record<StorageDType, string> = {
  F64: 'DoubleStorage', F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage',
  I32: 'IntStorage', I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};

export function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function f32Storage(values: readonly number[]): Storage {
  return { dtype: 'F32', bytes: new Uint8Array(Float32Array.from(values).buffer) };
}

export function f32Tensor(values: readonly number[], shape: readonly number[] = [values.length]): { $tensor: TensorSpec } {
  return { $tensor: { storage: f32Storage(values), shape } };
}

class Out {
  private chunks: Uint8Array[] = [];
  private small: number[] = [];
  private size = 0;
  byte(...b: number[]): void {
    for (const x of b) this.small.push(x & 0xff);
    this.size += b.length;
  }
  u16(x: number): void {
    this.byte(x, x >> 8);
  }
  u32(x: number): void {
    this.byte(x, x >>> 8, x >>> 16, x >>> 24);
  }
  u64(x: number): void {
    this.u32(x % 2 ** 32);
    this.u32(Math.floor(x / 2 ** 32));
  }
  bytes(b: Uint8Array): void {
    this.flush();
    this.chunks.push(b);
    this.size += b.length;
  }
  private flush(): void {
    if (this.small.length) this.chunks.push(Uint8Array.from(this.small));
    this.small = [];
  }
  get length(): number {
    return this.size;
  }
  done(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** CPython's protocol-2 Pickler, for the values above, with torch's persistent ids for storages. */
class Pickler {
  readonly out = new Out();
  private memo = new Map<unknown, number>();
  readonly storageKeys = new Map<Storage, string>();
  private interned = new Map<string, object>(); // strings that are one object in CPython

  dump(v: Py): Uint8Array {
    this.out.byte(0x80, 2);
    this.save(v);
    this.out.byte(0x2e);
    return this.out.done();
  }

  private put(obj: unknown): void {
    const i = this.memo.size;
    this.memo.set(obj, i);
    if (i < 256) this.out.byte(0x71, i);
    else {
      this.out.byte(0x72);
      this.out.u32(i);
    }
  }

  private got(obj: unknown): boolean {
    const i = this.memo.get(obj);
    if (i === undefined) return false;
    if (i < 256) this.out.byte(0x68, i);
    else {
      this.out.byte(0x6a);
      this.out.u32(i);
    }
    return true;
  }

  private str(s: string, identity: unknown = {}): void {
    if (this.got(identity)) return;
    const b = new TextEncoder().encode(s);
    this.out.byte(0x58);
    this.out.u32(b.length);
    this.out.bytes(b);
    this.put(identity);
  }

  /** A string CPython would hold as one object (literals, torch's storage keys). */
  private sharedStr(s: string): void {
    let id = this.interned.get(s);
    if (!id) this.interned.set(s, (id = {}));
    this.str(s, id);
  }

  private global(name: string): void {
    const key = `global:${name}`;
    if (this.got(key)) return;
    const [module, attr] = name.split(' ');
    this.out.byte(0x63);
    this.out.bytes(new TextEncoder().encode(`${module}\n${attr}\n`));
    this.put(key);
  }

  private int(x: number): void {
    if (x >= 0 && x <= 0xff) this.out.byte(0x4b, x);
    else if (x >= 0 && x <= 0xffff) {
      this.out.byte(0x4d);
      this.out.u16(x);
    } else if (x >= -0x80000000 && x <= 0x7fffffff) {
      this.out.byte(0x4a);
      this.out.u32(x >>> 0);
    } else {
      // LONG1: minimal two's complement, little-endian
      let v = BigInt(x);
      const bytes: number[] = [];
      for (;;) {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
        const sign = bytes[bytes.length - 1]! & 0x80;
        if ((v === 0n && !sign) || (v === -1n && sign)) break;
      }
      this.out.byte(0x8a, bytes.length, ...bytes);
    }
  }

  private tuple(items: readonly Py[], identity: unknown, saveItem: (x: Py) => void = (x) => this.save(x)): void {
    if (items.length === 0) {
      this.out.byte(0x29);
      return;
    }
    if (items.length <= 3) {
      for (const x of items) saveItem(x);
      this.out.byte([0x85, 0x86, 0x87][items.length - 1]!);
    } else {
      this.out.byte(0x28);
      for (const x of items) saveItem(x);
      this.out.byte(0x74);
    }
    this.put(identity);
  }

  private setItems(items: readonly (readonly [Py, Py])[]): void {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length > 1) {
        this.out.byte(0x28);
        for (const [k, v] of batch) {
          this.save(k);
          this.save(v);
        }
        this.out.byte(0x75);
      } else {
        this.save(batch[0]![0]);
        this.save(batch[0]![1]);
        this.out.byte(0x73);
      }
    }
  }

  private emptyOrderedDict(): void {
    this.global('collections OrderedDict');
    this.out.byte(0x29, 0x52);
    this.put({});
  }

  save(v: Py): void {
    if (v === null) return this.out.byte(0x4e);
    if (v === true) return this.out.byte(0x88);
    if (v === false) return this.out.byte(0x89);
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error('write floats as {$float}');
      return this.int(v);
    }
    if (typeof v === 'string') return this.str(v);
    if (Array.isArray(v)) {
      if (this.got(v)) return;
      this.out.byte(0x5d);
      this.put(v);
      for (let i = 0; i < v.length; i += 1000) {
        const batch = v.slice(i, i + 1000);
        if (batch.length > 1) {
          this.out.byte(0x28);
          for (const x of batch) this.save(x);
          this.out.byte(0x65);
        } else {
          this.save(batch[0]!);
          this.out.byte(0x61);
        }
      }
      return;
    }
    if (this.got(v)) return;
    if ('$float' in v) {
      this.out.byte(0x47);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v.$float, false);
      return this.out.bytes(b);
    }
    if ('$tuple' in v) return this.tuple(v.$tuple, v);
    if ('$dict' in v) {
      this.out.byte(0x7d);
      this.put(v);
      return this.setItems(v.$dict);
    }
    if ('$odict' in v) {
      this.global('collections OrderedDict');
      this.out.byte(0x29, 0x52);
      this.put(v);
      return this.setItems(v.$odict);
    }
    if ('$global' in v) return this.global(v.$global);
    if ('$reduce' in v) {
      this.global(v.$reduce.global);
      this.tuple(v.$reduce.args, {});
      this.out.byte(0x52);
      return this.put(v);
    }
    if ('$raw' in v) return this.out.bytes(v.$raw);
    return this.tensor(v.$tensor, v);
  }

  private tensor(t: TensorSpec, identity: unknown): void {
    this.global('torch._utils _rebuild_tensor_v2');
    this.out.byte(0x28);
    // the storage's persistent id: ('storage', storage type, key, location, numel) + BINPERSID
    const s = t.storage;
    let key = this.storageKeys.get(s);
    if (key === undefined) this.storageKeys.set(s, (key = String(this.storageKeys.size)));
    this.out.byte(0x28);
    this.sharedStr('storage');
    this.global(`torch ${STORAGE_CLASS[s.dtype]}`);
    this.str(key, `key:${key}`); // torch's id_map hands out one string object per key
    this.sharedStr('cpu');
    this.int(s.numel ?? s.bytes.length / ELEM[s.dtype]);
    this.out.byte(0x74);
    this.put({});
    this.out.byte(0x51);
    this.int(t.offset ?? 0);
    this.tuple(t.shape, {}, (x) => this.int(x as number));
    this.tuple(t.stride ?? contiguousStride(t.shape), {}, (x) => this.int(x as number));
    this.out.byte(t.requiresGrad ? 0x88 : 0x89);
    this.emptyOrderedDict();
    this.out.byte(0x74);
    this.put({});
    this.out.byte(0x52);
    this.put(identity);
  }
}

export interface ZipRecord {
  readonly name: string;
  readonly data: Uint8Array;
}

/** A zip as PyTorch's stream writer (miniz) lays it out. */
export function torchZip(records: readonly ZipRecord[]): Uint8Array {
  const out = new Out();
  const enc = new TextEncoder();
  const central: { name: Uint8Array; crc: number; size: number; offset: number }[] = [];
  for (const r of records) {
    const name = enc.encode(r.name);
    const offset = out.length;
    const crc = crc32(r.data) >>> 0;
    out.u32(0x04034b50);
    out.u16(0); // version needed
    out.u16(0x0808); // data descriptor, UTF-8
    out.u16(0); // stored
    out.u32(0); // time, date
    out.u32(0); // crc (in the descriptor)
    out.u32(0);
    out.u32(0);
    const unpadded = offset + 30 + name.length + 4;
    const pad = (64 - (unpadded % 64)) % 64;
    out.u16(name.length);
    out.u16(4 + pad);
    out.bytes(name);
    out.byte(0x46, 0x42);
    out.u16(pad);
    for (let i = 0; i < pad; i++) out.byte(0x5a);
    out.bytes(r.data);
    out.u32(0x08074b50);
    out.u32(crc);
    out.u32(r.data.length);
    out.u32(r.data.length);
    central.push({ name, crc, size: r.data.length, offset });
  }
  const cdOffset = out.length;
  for (const c of central) {
    out.u32(0x02014b50);
    out.u16(0); // made by
    out.u16(0); // needed
    out.u16(0x0808);
    out.u16(0);
    out.u32(0);
    out.u32(c.crc);
    out.u32(c.size);
    out.u32(c.size);
    out.u16(c.name.length);
    out.u16(0);
    out.u16(0);
    out.u16(0);
    out.u16(0);
    out.u32(0);
    out.u32(c.offset);
    out.bytes(c.name);
  }
  const cdSize = out.length - cdOffset;
  const z64 = out.length;
  out.u32(0x06064b50);
  out.u64(44);
  out.u16(0x031e);
  out.u16(0x002d);
  out.u32(0);
  out.u32(0);
  out.u64(central.length);
  out.u64(central.length);
  out.u64(cdSize);
  out.u64(cdOffset);
  out.u32(0x07064b50);
  out.u32(0);
  out.u64(z64);
  out.u32(1);
  out.u32(0x06054b50);
  out.u16(0);
  out.u16(0);
  out.u16(central.length);
  out.u16(central.length);
  out.u32(cdSize);
  out.u32(cdOffset);
  out.u16(0);
  return out.done();
}

/** The bytes torch.save(obj, "<archive>.ckpt") writes. */
export function torchSave(obj: Py, archive = 'archive'): Uint8Array {
  const p = new Pickler();
  const pkl = p.dump(obj);
  const storages = [...p.storageKeys].map(([s, key]) => ({ key, s })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return torchZip([
    { name: `${archive}/data.pkl`, data: pkl },
    ...storages.map(({ key, s }) => ({ name: `${archive}/data/${key}`, data: s.bytes })),
    { name: `${archive}/version`, data: new TextEncoder().encode('3\n') },
  ]);
}

/** Only the pickle (for tests that splice opcodes). */
export function picklePy(obj: Py): Uint8Array {
  return new Pickler().dump(obj);
}
