// The strict zip reader: torch's layout, deflate with an output cap, zip64 fields, and refusals of names
// that escape, duplicates, overlapping or out-of-file entries and zip bombs.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { unsafeEntryName, ZipArchive, ZipError } from '../../../electron/engine/io/zip.ts';
import { torchZip } from './ckpt-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldm-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(bytes: Uint8Array): string {
  const f = join(dir, `z${n++}.zip`);
  writeFileSync(f, bytes);
  return f;
}
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Entry {
  name: string;
  data: Uint8Array;
  method?: 0 | 8;
  /** Override the sizes written in the central directory. */
  size?: number;
  compressedSize?: number;
  offset?: number;
  zip64?: boolean;
}

/** A plain zip (local headers with sizes, no descriptors), with knobs for hostile variants. */
function plainZip(entries: Entry[]): Uint8Array {
  const parts: number[] = [];
  const push = (...b: number[]): void => void parts.push(...b.map((x) => x & 0xff));
  const u16 = (x: number): void => push(x, x >> 8);
  const u32 = (x: number): void => push(x, x >>> 8, x >>> 16, x >>> 24);
  const u64 = (x: number): void => { u32(x % 2 ** 32); u32(Math.floor(x / 2 ** 32)); };
  const offsets: number[] = [];
  const stored: Uint8Array[] = [];
  for (const e of entries) {
    const body = e.method === 8 ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    stored.push(body);
    offsets.push(parts.length);
    const name = text(e.name);
    u32(0x04034b50); u16(20); u16(0); u16(e.method ?? 0); u32(0); u32(crc32(e.data)); u32(body.length); u32(e.data.length);
    u16(name.length); u16(0); push(...name); push(...body);
  }
  const cd = parts.length;
  entries.forEach((e, i) => {
    const name = text(e.name);
    const z64 = e.zip64 === true;
    u32(0x02014b50); u16(45); u16(45); u16(0); u16(e.method ?? 0); u32(0); u32(crc32(e.data));
    u32(z64 ? 0xffffffff : e.compressedSize ?? stored[i]!.length);
    u32(z64 ? 0xffffffff : e.size ?? e.data.length);
    u16(name.length); u16(z64 ? 28 : 0); u16(0); u16(0); u16(0); u32(0);
    u32(z64 ? 0xffffffff : e.offset ?? offsets[i]!);
    push(...name);
    if (z64) { u16(1); u16(24); u64(e.size ?? e.data.length); u64(e.compressedSize ?? stored[i]!.length); u64(e.offset ?? offsets[i]!); }
  });
  const cdSize = parts.length - cd;
  u32(0x06054b50); u16(0); u16(0); u16(entries.length); u16(entries.length); u32(cdSize); u32(cd); u16(0);
  return Uint8Array.from(parts);
}

describe('ZipArchive', () => {
  it("reads torch's layout (64-byte aligned data, descriptors, zip64 end records) by entry and by range", async () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const z = await ZipArchive.open(file(torchZip([{ name: 'a/data.pkl', data: text('pkl') }, { name: 'a/data/0', data }])));
    try {
      expect([...z.entries.keys()]).toEqual(['a/data.pkl', 'a/data/0']);
      expect(z.get('a/data/0')!.dataOffset % 64).toBe(0);
      expect(await z.read('a/data/0', 1000)).toEqual(data);
      expect(await z.readRange('a/data/0', 10, 5, 0)).toEqual(data.subarray(10, 15));
      await expect(z.readRange('a/data/0', 299, 2, 0)).rejects.toThrow(/outside/);
      await expect(z.read('a/data/0', 100)).rejects.toThrow(/over the 100-byte limit/);
      await expect(z.read('a/nope', 100)).rejects.toThrow(/no entry/);
    } finally {
      await z.close();
    }
  });

  it('inflates deflate entries, and reads zip64 extra fields', async () => {
    const data = text('hello '.repeat(500));
    const z = await ZipArchive.open(file(plainZip([{ name: 'x/d', data, method: 8 }, { name: 'x/e', data: text('zip64'), zip64: true }])));
    expect(new TextDecoder().decode(await z.read('x/d', 10_000))).toBe('hello '.repeat(500));
    expect(new TextDecoder().decode(await z.read('x/e', 100))).toBe('zip64');
    expect(new TextDecoder().decode(await z.readRange('x/d', 6, 5, 10_000))).toBe('hello');
    await z.close();
  });

  it.each([
    ['../evil', /"\.\." or "\." path segment/],
    ['a/../../evil', /"\.\." or "\." path segment/],
    ['/etc/passwd', /absolute path/],
    ['C:/Windows/x', /absolute path/],
    ['a\\..\\b', /backslash/],
    ['a\0b', /NUL/],
  ])('refuses the entry name %j', async (name, why) => {
    expect(unsafeEntryName(name)).not.toBeNull();
    await expect(ZipArchive.open(file(plainZip([{ name, data: text('x') }])))).rejects.toThrow(why);
  });

  it('refuses duplicate names', async () => {
    await expect(ZipArchive.open(file(plainZip([{ name: 'a/x', data: text('1') }, { name: 'a/x', data: text('2') }])))).rejects.toThrow(/twice/);
  });

  it('refuses entries that overlap (one entry hidden inside another) or run past the file', async () => {
    // The second entry's local header lies inside the first entry's data.
    const inner = plainZip([{ name: 'a/y', data: text('inner') }]);
    const innerLocal = inner.subarray(0, 30 + 3 + 5);
    const outer = plainZip([{ name: 'a/x', data: innerLocal }, { name: 'a/y', data: text('inner'), offset: 30 + 3 }]);
    await expect(ZipArchive.open(file(outer))).rejects.toThrow(/overlap/);
    await expect(ZipArchive.open(file(plainZip([{ name: 'a/x', data: text('abc'), size: 1e6, compressedSize: 1e6 }])))).rejects.toThrow(/past the end|outside/);
  });

  it('refuses zip bombs: impossible ratios, and inflation beyond the declared size', async () => {
    const zeros = new Uint8Array(1 << 20);
    await expect(ZipArchive.open(file(plainZip([{ name: 'a/b', data: zeros, method: 8, size: 50 * 2 ** 30 }])))).rejects.toThrow(/zip bomb/);
    // declared 1 KiB but inflates to 1 MiB: inflate stops at the declared size
    const z = await ZipArchive.open(file(plainZip([{ name: 'a/b', data: zeros, method: 8, size: 1024 }])));
    await expect(z.read('a/b', 1 << 30)).rejects.toThrow(ZipError);
    await z.close();
  });

  it('refuses what is not a zip, truncated central directories, encrypted or unknown methods', async () => {
    await expect(ZipArchive.open(file(text('not a zip at all, just some text here')))).rejects.toThrow(/not a zip/);
    const good = plainZip([{ name: 'a/x', data: text('abc') }]);
    await expect(ZipArchive.open(file(good.subarray(0, good.length - 30)))).rejects.toThrow(ZipError);
    const enc = good.slice();
    enc[good.length - 22 - 49 + 8] = 1; // central flags: encrypted
    await expect(ZipArchive.open(file(enc))).rejects.toThrow(/encrypted/);
    const bz = good.slice();
    bz[good.length - 22 - 49 + 10] = 12; // bzip2
    await expect(ZipArchive.open(file(bz))).rejects.toThrow(/method 12/);
  });

  it('reads a zip64 archive with an entry past 4 GiB by position, without reading the entry (sparse file)', async () => {
    const size = 5 * 2 ** 30 + 7;
    const name = text('a/data/0');
    const b: number[] = [];
    const u16 = (x: number): void => void b.push(x & 0xff, (x >> 8) & 0xff);
    const u32 = (x: number): void => { u16(x & 0xffff); u16(Math.floor(x / 65536) & 0xffff); };
    const u64 = (x: number): void => { u32(x % 2 ** 32); u32(Math.floor(x / 2 ** 32)); };
    u32(0x04034b50); u16(45); u16(0); u16(0); u32(0); u32(0); u32(0xffffffff); u32(0xffffffff); u16(name.length); u16(20);
    b.push(...name); u16(1); u16(16); u64(size); u64(size);
    const dataOffset = b.length;
    const local = Uint8Array.from(b);
    b.length = 0;
    const cdOffset = dataOffset + size;
    u32(0x02014b50); u16(45); u16(45); u16(0); u16(0); u32(0); u32(0); u32(0xffffffff); u32(0xffffffff);
    u16(name.length); u16(20); u16(0); u16(0); u16(0); u32(0); u32(0); b.push(...name); u16(1); u16(16); u64(size); u64(size);
    const cdSize = b.length;
    u32(0x06064b50); u64(44); u16(45); u16(45); u32(0); u32(0); u64(1); u64(1); u64(cdSize); u64(cdOffset);
    u32(0x07064b50); u32(0); u64(cdOffset + cdSize); u32(1);
    u32(0x06054b50); u16(0); u16(0); u16(1); u16(1); u32(cdSize); u32(0xffffffff); u16(0);
    const f = join(dir, 'huge.zip');
    const fd = openSync(f, 'w');
    try {
      writeSync(fd, local, 0, local.length, 0);
      writeSync(fd, Uint8Array.from([1, 2, 3, 4]), 0, 4, dataOffset + size - 4);
      writeSync(fd, Uint8Array.from(b), 0, b.length, cdOffset);
    } finally {
      closeSync(fd);
    }
    const z = await ZipArchive.open(f);
    try {
      expect(z.get('a/data/0')).toMatchObject({ size, compressedSize: size, dataOffset });
      expect(await z.readRange('a/data/0', size - 4, 4, 0)).toEqual(Uint8Array.from([1, 2, 3, 4]));
      expect(await z.readRange('a/data/0', 2 ** 32, 4, 0)).toEqual(new Uint8Array(4));
      await expect(z.read('a/data/0', 2 ** 30)).rejects.toThrow(/over the 1073741824-byte limit/);
    } finally {
      await z.close();
      rmSync(f);
    }
  });
});
