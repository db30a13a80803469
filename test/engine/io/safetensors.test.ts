import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rng } from '../../rng.ts';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SafetensorsError,
  encodeSafetensors,
  loadSafetensors,
  parseSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  MAX_HEADER_BYTES,
} from '../../../electron/engine/io/safetensors.ts';
import { floatToHalf, halfToFloat, tensor, type TensorData } from '../../../electron/engine/tensor.ts';

/** Builds a file from a raw header string and data bytes, exactly as given (no validation). */
function rawFile(header: string, data: Uint8Array | number[] = [], headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectError(bytes: Uint8Array, pattern: RegExp): void {
  let err: unknown;
  try {
    parseSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  expect((err as Error).message).toMatch(pattern);
}

function sampleTensors(): Map<string, TensorData> {
  return new Map<string, TensorData>([
    ['model.w', tensor('float32', [2, 3], Float32Array.from([1, -2.5, 3.25, 0, 1e-3, -7]))],
    ['model.h', tensor('float16', [3], Uint16Array.from([1, 0.5, -2].map(floatToHalf)))],
    ['model.d', tensor('float64', [2], Float64Array.from([Math.PI, -1e300]))],
    ['step', tensor('int64', [], BigInt64Array.from([123456789012345n]))],
    ['idx', tensor('int32', [4], Int32Array.from([-1, 0, 1, 2147483647]))],
    ['i8', tensor('int8', [2], Int8Array.from([-128, 127]))],
    ['u8', tensor('uint8', [2, 1], Uint8Array.from([0, 255]))],
    ['mask', tensor('bool', [3], Uint8Array.from([1, 0, 1]))],
    ['empty', tensor('float32', [0, 4])],
  ]);
}

describe('safetensors round trip', () => {
  it('keeps every dtype, shape, value and the metadata', () => {
    const t = sampleTensors();
    const bytes = encodeSafetensors(t, { format: 'pt', note: 'ünïcode ✓' });
    const { tensors, metadata, storedDtypes } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect([...tensors.keys()].sort()).toEqual([...t.keys()].sort());
    for (const [name, src] of t) {
      const got = tensors.get(name)!;
      expect(got.shape).toEqual(src.shape);
      if (src.dtype === 'float16') {
        expect(got.dtype).toBe('float32'); // F16 widens on load
        expect(Array.from(got.data as Float32Array)).toEqual([1, 0.5, -2]);
        expect(storedDtypes.get(name)).toBe('F16');
      } else {
        expect(got.dtype).toBe(src.dtype);
        expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(src.data as ArrayLike<unknown>));
      }
    }
  });

  it('pads the header to 8 bytes and aligns every tensor to its element size', () => {
    const bytes = encodeSafetensors(sampleTensors());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: number[] }>;
    const size: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, I8: 1, U8: 1, BOOL: 1 };
    for (const e of Object.values(header)) expect((8 + n + e.data_offsets[0]!) % size[e.dtype]!).toBe(0);
  });

  it('stores float tensors as F16 on request and widens them back', () => {
    const w = tensor('float32', [4], Float32Array.from([1, 0.333333, -65504, 1e-8]));
    const bytes = encodeSafetensors(new Map([['w', w]]), undefined, { dtype: 'F16' });
    expect(bytes.length).toBeLessThan(encodeSafetensors(new Map([['w', w]])).length);
    const back = parseSafetensors(bytes);
    expect(back.storedDtypes.get('w')).toBe('F16');
    const got = back.tensors.get('w')!.data as Float32Array;
    expect(got[0]).toBe(1);
    expect(got[1]).toBeCloseTo(0.333333, 3);
    expect(got[2]).toBe(-65504);
    expect(got[3]).toBe(0); // below the smallest half subnormal
  });

  it('accepts a plain record of tensors', () => {
    const bytes = encodeSafetensors({ a: tensor('int32', [1], Int32Array.from([7])) });
    expect(Array.from(parseSafetensors(bytes).tensors.get('a')!.data as Int32Array)).toEqual([7]);
  });

  it('rejects bad input to the writer with a clear error', () => {
    expect(() => encodeSafetensors({ __metadata__: tensor('float32', [1]) })).toThrow(SafetensorsError);
    expect(() => encodeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } })).toThrow(/do not match shape/);
    expect(() => encodeSafetensors({}, { k: 5 as unknown as string })).toThrow(/must be a string/);
    expect(() => encodeSafetensors({}, {}, { dtype: 'F64' as 'F32' })).toThrow(/storage dtype/);
    expect(() => encodeSafetensors({ ['bad\uD800name']: tensor('float32', [1]) })).toThrow(/valid Unicode/);
    expect(() => encodeSafetensors({}, { k: 'x\uDC00' })).toThrow(/not valid Unicode/);
  });
});

describe('safetensors files written by other tools', () => {
  it('reads the reference example with unaligned data and metadata', () => {
    // The reference's own test header (16 bytes of I32 data) with an odd header length, so the data
    // starts at an unaligned offset.
    let header = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"foo":"bar"}}';
    while ((8 + header.length) % 4 !== 1) header += ' ';
    const data = new Uint8Array(new Int32Array([1, -2, 3, 4]).buffer);
    const bytes = rawFile(header, data);
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ foo: 'bar' });
    expect(Array.from(tensors.get('test')!.data as Int32Array)).toEqual([1, -2, 3, 4]);
  });

  it('decodes BF16, F8, I16, U16, U32 and U64', () => {
    const bf16 = [0x3f80, 0xc040, 0x7f80]; // 1, -3, +inf
    const dv = new DataView(new ArrayBuffer(2 * 3 + 1 * 2 + 1 * 2 + 2 * 2 + 2 * 2 + 4 * 2 + 8 * 2));
    let o = 0;
    for (const b of bf16) { dv.setUint16(o, b, true); o += 2; }
    dv.setUint8(o++, 0x38); dv.setUint8(o++, 0xfe); // E4M3: 1.0, -448
    dv.setUint8(o++, 0x3c); dv.setUint8(o++, 0x7c); // E5M2: 1.0, +inf
    dv.setInt16(o, -300, true); dv.setInt16(o + 2, 300, true); o += 4;
    dv.setUint16(o, 65535, true); dv.setUint16(o + 2, 1, true); o += 4;
    dv.setUint32(o, 4294967295, true); dv.setUint32(o + 4, 0, true); o += 8;
    dv.setBigUint64(o, 2n ** 62n, true); dv.setBigUint64(o + 8, 5n, true); o += 16;
    const header = JSON.stringify({
      b: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] },
      e4: { dtype: 'F8_E4M3', shape: [2], data_offsets: [6, 8] },
      e5: { dtype: 'F8_E5M2', shape: [2], data_offsets: [8, 10] },
      i16: { dtype: 'I16', shape: [2], data_offsets: [10, 14] },
      u16: { dtype: 'U16', shape: [2], data_offsets: [14, 18] },
      u32: { dtype: 'U32', shape: [2], data_offsets: [18, 26] },
      u64: { dtype: 'U64', shape: [2], data_offsets: [26, 42] },
    });
    const t = parseSafetensors(rawFile(header, new Uint8Array(dv.buffer))).tensors;
    expect(Array.from(t.get('b')!.data as Float32Array)).toEqual([1, -3, Infinity]);
    expect(Array.from(t.get('e4')!.data as Float32Array)).toEqual([1, -448]);
    expect(Array.from(t.get('e5')!.data as Float32Array)).toEqual([1, Infinity]);
    expect(t.get('i16')!.dtype).toBe('int32');
    expect(Array.from(t.get('i16')!.data as Int32Array)).toEqual([-300, 300]);
    expect(Array.from(t.get('u16')!.data as Int32Array)).toEqual([65535, 1]);
    expect(Array.from(t.get('u32')!.data as BigInt64Array)).toEqual([4294967295n, 0n]);
    expect(Array.from(t.get('u64')!.data as BigInt64Array)).toEqual([2n ** 62n, 5n]);
  });

  it('widens every F16 bit pattern exactly as halfToFloat', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = parseSafetensors(encodeSafetensors({ h: tensor('float16', [65536], all) })).tensors.get('h')!.data as Float32Array;
    for (let i = 0; i < 65536; i++) {
      const want = halfToFloat(i);
      if (Number.isNaN(want)) expect(got[i]).toBeNaN();
      else expect(got[i]).toBe(Math.fround(want));
    }
  });

  it('accepts an empty file header {}', () => {
    expect(parseSafetensors(rawFile('{}')).tensors.size).toBe(0);
  });
});

describe('safetensors validation (the attacks of ldm-facts.md §6)', () => {
  const t16 = (off: [number, number], dtype = 'F32', shape = [4]) => ({ dtype, shape, data_offsets: off });
  const file = (h: object, dataLen: number) => rawFile(JSON.stringify(h), new Uint8Array(dataLen));

  it('huge header length N', () => {
    const bytes = rawFile('{}', [], BigInt(MAX_HEADER_BYTES) + 1n);
    expectError(bytes, /exceeds the 100000000-byte limit/);
    expectError(rawFile('{}', [], 2n ** 64n - 1n), /exceeds/);
  });

  it('header length past the end of the file', () => {
    expectError(rawFile('{}', [], 1000n), /runs past the end/);
  });

  it('file shorter than 8 bytes', () => {
    expectError(new Uint8Array(5), /shorter than the 8-byte header length/);
    expectError(new Uint8Array(0), /shorter/);
  });

  it('JSON that does not start with {', () => {
    expectError(rawFile(' {}'), /must start with "\{"/);
    expectError(rawFile('[1,2]'), /must start with "\{"/);
  });

  it('invalid UTF-8 and invalid JSON', () => {
    const bytes = rawFile('{"a" }');
    bytes[9] = 0xff;
    expectError(bytes, /not valid UTF-8/);
    expectError(rawFile('{"a": }'), /invalid safetensors header/);
    expectError(rawFile('{"a": 1} x'), /the JSON does not parse/);
    expectError(rawFile('{"a": "\\q"}'), /the JSON does not parse/);
  });

  it('duplicate keys (which JSON.parse would silently merge)', () => {
    const h = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expectError(rawFile(h, new Uint8Array(8)), /duplicate key "w"/);
    const nested = '{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}';
    expectError(rawFile(nested, new Uint8Array(4)), /duplicate key "dtype"/);
    const meta = '{"__metadata__":{"a":"1","a":"2"}}';
    expectError(rawFile(meta), /duplicate key "a"/);
  });

  it('overlapping offsets (aliasing)', () => {
    expectError(file({ a: t16([0, 16]), b: t16([0, 16]) }, 16), /overlap/);
    expectError(file({ a: t16([0, 16]), b: t16([8, 24]) }, 24), /overlap/);
  });

  it('holes between tensors and a buffer that does not start at 0', () => {
    expectError(file({ a: t16([0, 16]), b: t16([20, 36]) }, 36), /hole/);
    expectError(file({ a: t16([4, 20]) }, 20), /hole/);
  });

  it('offsets outside the file', () => {
    expectError(file({ a: t16([0, 16]) }, 8), /truncated file or trailing data/);
    expectError(file({ a: { dtype: 'F32', shape: [2 ** 40], data_offsets: [0, 2 ** 42] } }, 8), /truncated/);
  });

  it('trailing bytes after the last tensor', () => {
    expectError(file({ a: t16([0, 16]) }, 17), /trailing data/);
  });

  it('shape or dtype not matching the span', () => {
    expectError(file({ a: t16([0, 16], 'F32', [5]) }, 16), /needs 20 bytes but data_offsets \[0, 16\] span 16/);
    expectError(file({ a: t16([0, 16], 'F16') }, 16), /needs 8 bytes/);
    expectError(file({ a: t16([16, 0]) }, 16), /end before they begin/);
  });

  it('size arithmetic that overflows', () => {
    expectError(file({ a: { dtype: 'F64', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8), /overflows/);
    expectError(file({ a: { dtype: 'F32', shape: [1e300], data_offsets: [0, 4] } }, 4), /non-negative integer/);
  });

  it('malformed entries', () => {
    expectError(file({ a: t16([0, 16], 'F128') }, 16), /unsupported dtype "F128"/);
    expectError(file({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, 16), /shape\[0\] must be a non-negative integer/);
    expectError(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0.5, 16] } }, 16), /data_offsets\[0\]/);
    expectError(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0] } }, 16), /\[begin, end\]/);
    expectError(file({ a: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, 16), /shape must be an array/);
    expectError(file({ a: 5 }, 0), /is not an object/);
    expectError(file({ __metadata__: { n: 1 } }, 0), /is not a string/);
    expectError(file({ __metadata__: [] }, 0), /__metadata__ must be an object/);
  });

  it('deeply nested JSON', () => {
    const deep = '{"__metadata__":' + '['.repeat(10000) + ']'.repeat(10000) + '}';
    expectError(rawFile(deep), /nested deeper/);
  });
});

/** A well-formed header with one field of one entry set to a hostile value, re-encoded with its true length. */
function structuralMutation(b: Uint8Array, rnd: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T,>(xs: T[]): T => xs[int(xs.length)]!;
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>;
  const data = b.subarray(8 + n);
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = pick(names);
  const e = h[name]!;
  const hostile: unknown[] = [0, 1, 3, -1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 64, 1e308, 0.5, '8', null, [], {}];
  let extra = '';
  switch (int(6)) {
    case 0: {
      const shape = Array.isArray(e.shape) ? [...(e.shape as unknown[])] : [];
      if (shape.length && rnd() < 0.7) shape[int(shape.length)] = pick(hostile);
      else shape.push(pick([2 ** 40, 0, 1, 2 ** 20]));
      e.shape = rnd() < 0.9 ? shape : pick(hostile);
      break;
    }
    case 1: {
      const off = Array.isArray(e.data_offsets) ? [...(e.data_offsets as unknown[])] : [0, 0];
      const k = int(2);
      const d = pick([-8, -1, 1, 4, 8]);
      const r = rnd();
      if (r < 0.4 || typeof off[k] !== 'number') off[k] = pick(hostile);
      else if (r < 0.7) off[k] = (off[k] as number) + d;
      else if (typeof off[0] === 'number' && typeof off[1] === 'number') [off[0], off[1]] = [off[0] + d, off[1] + d]; // same span, moved
      e.data_offsets = off;
      break;
    }
    case 2:
      e.dtype = pick(['F32', 'F16', 'BF16', 'F64', 'U64', 'I16', 'F8_E5M2', 'BOOL', 'Q4_0', 5, null]);
      break;
    case 3: {
      const other = h[pick(names)]!;
      [e.data_offsets, other.data_offsets] = [other.data_offsets, e.data_offsets];
      break;
    }
    case 4:
      if (rnd() < 0.5) delete e[pick(['dtype', 'shape', 'data_offsets'])];
      else if (rnd() < 0.5) e.shape = [2 ** 30, 2 ** 30, 2 ** 30]; // overflows the size arithmetic
      else if (Array.isArray(e.data_offsets) && typeof e.data_offsets[0] === 'number') {
        // consistent but enormous: the span runs far past the file
        e.dtype = 'F32';
        e.shape = [2 ** 28];
        e.data_offsets = [e.data_offsets[0], e.data_offsets[0] + 2 ** 30];
      }
      break;
    default:
      extra = `,${JSON.stringify(name)}:${JSON.stringify(e)}`; // a duplicate key
  }
  const text = new TextEncoder().encode(JSON.stringify(h).slice(0, -1) + extra + '}');
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('safetensors randomised mutation', () => {
  it('gives a SafetensorsError (or a consistent result), never another error or a huge allocation', () => {
    const base = encodeSafetensors(sampleTensors(), { k: 'v' });
    const rnd = rng(12345);
    const int = (n: number) => Math.floor(rnd() * n);
    const interesting = [0, 1, 7, 8, 0x7f, 0x80, 0xff, 0x22, 0x5b, 0x7b, 0x7d, 0x2c, 0x3a, 0x30, 0x39];
    const n = Number(new DataView(base.buffer).getBigUint64(0, true));
    let errors = 0;
    let ok = 0;
    const structural: string[] = [];
    const trials = 7000;
    for (let trial = 0; trial < trials; trial++) {
      let b: Uint8Array = base.slice();
      const kind = trial % 7;
      const muts = 1 + int(4);
      for (let m = 0; m < muts; m++) {
        if (kind === 0 || kind === 1) {
          // bytes inside the header (mostly) or anywhere
          const at = kind === 0 ? 8 + int(n) : int(b.length);
          b[at] = rnd() < 0.5 ? interesting[int(interesting.length)]! : int(256);
        } else if (kind === 2) {
          b = b.slice(0, int(b.length)); // truncation
        } else if (kind === 3) {
          const dv = new DataView(b.buffer);
          const choices = [0n, 1n, BigInt(n - 1), BigInt(n + 1), BigInt(b.length), 2n ** 63n, BigInt(int(2 ** 31))];
          dv.setBigUint64(0, choices[int(choices.length)]!, true);
        } else if (kind === 4) {
          // digits in the header replaced: shapes and offsets change value
          const text = new TextDecoder().decode(b.subarray(8, 8 + n));
          const digits = [...text.matchAll(/\d/g)].map((x) => x.index!);
          if (digits.length) b[8 + digits[int(digits.length)]!] = 0x30 + int(10);
        } else if (kind === 6) {
          b = structuralMutation(b, rnd);
        } else {
          // insertion / deletion of a byte inside the header
          const at = 8 + int(n);
          const c = new Uint8Array(b.length + (rnd() < 0.5 ? 1 : -1));
          if (c.length > b.length) {
            c.set(b.subarray(0, at)); c[at] = interesting[int(interesting.length)]!; c.set(b.subarray(at), at + 1);
          } else {
            c.set(b.subarray(0, at)); c.set(b.subarray(at + 1), at);
          }
          b = c;
        }
      }
      try {
        const r = parseSafetensors(b);
        let bytes = 0;
        for (const t of r.tensors.values()) bytes += t.data.byteLength;
        expect(bytes).toBeLessThanOrEqual(b.length * 4); // widening F16/I16 at most doubles, F8 quadruples
        ok++;
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`trial ${trial}: ${(e as Error).stack}`);
        if (kind === 6) structural.push(e.message);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(trials * 0.75);
    // The structural mutations reach every semantic check, not just the JSON syntax.
    for (const re of [/overlap|hole/, /needs \d+ bytes/, /duplicate key/, /unsupported dtype/, /non-negative integer/, /overflows|truncated/, /must be/]) {
      expect(structural.some((m) => re.test(m)), String(re)).toBe(true);
    }
    expect(ok + errors).toBe(trials);
  });
});

describe('safetensors files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'st-test-'));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('saves atomically and loads back', async () => {
    const f = path.join(dir, 'a.safetensors');
    await saveSafetensors(f, sampleTensors(), { step: '3' });
    const back = await loadSafetensors(f);
    expect(back.metadata).toEqual({ step: '3' });
    expect(Array.from(back.tensors.get('model.w')!.data as Float32Array)).toEqual([1, -2.5, 3.25, 0, 1e-3, -7].map(Math.fround));
    expect(await fsp.readFile(f)).toEqual(Buffer.from(encodeSafetensors(sampleTensors(), { step: '3' })));
    expect((await fsp.readdir(dir)).filter((x) => x.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the old file when a save fails', async () => {
    const f = path.join(dir, 'keep.safetensors');
    await saveSafetensors(f, { a: tensor('int32', [1], Int32Array.from([1])) });
    await expect(saveSafetensors(f, { a: { dtype: 'float32', shape: [2], data: new Float32Array(1) } })).rejects.toThrow(SafetensorsError);
    expect(Array.from((await loadSafetensors(f)).tensors.get('a')!.data as Int32Array)).toEqual([1]);
    expect((await fsp.readdir(dir)).filter((x) => x.endsWith('.tmp'))).toEqual([]);
  });

  it('reads only the header, with absolute offsets that point at the data', async () => {
    const f = path.join(dir, 'h.safetensors');
    await saveSafetensors(f, sampleTensors(), { a: 'b' });
    const h = await readSafetensorsHeader(f);
    expect(h.metadata).toEqual({ a: 'b' });
    const bytes = await fsp.readFile(f);
    const w = h.entries.find((e) => e.name === 'model.w')!;
    expect(w).toMatchObject({ dtype: 'F32', shape: [2, 3], length: 24 });
    expect(w.offset).toBeGreaterThanOrEqual(h.dataStart);
    const view = new Float32Array(bytes.buffer.slice(bytes.byteOffset + w.offset, bytes.byteOffset + w.offset + w.length));
    expect(view[1]).toBe(-2.5);
    const sorted = [...h.entries].sort((a, b) => a.offset - b.offset);
    expect(h.entries).toEqual(sorted);
  });

  it('names the file in errors and refuses a missing or truncated file', async () => {
    const f = path.join(dir, 'bad.safetensors');
    const good = encodeSafetensors(sampleTensors());
    await fsp.writeFile(f, good.subarray(0, good.length - 3));
    await expect(loadSafetensors(f)).rejects.toThrow(new RegExp(`${f.replace(/[.]/g, '\\.')}: .*truncated`));
    await expect(readSafetensorsHeader(f)).rejects.toBeInstanceOf(SafetensorsError);
    await expect(loadSafetensors(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot open/);
  });
});
