// A small, strict ZIP reader for PyTorch archives (torch.save since 1.6 writes a zip of stored entries:
// `<name>/data.pkl`, `<name>/data/<key>` per storage, `<name>/version`, and from 2.x `<name>/byteorder`).
//
// Only the central directory is read up front (bounded: its size is checked against a cap and the file).
// Entries are read by position on demand, so a 7 GB checkpoint is never held in memory at once.
// Refused: names that are absolute, contain `..`, backslashes or NUL, duplicates, entries whose data
// lie outside the file or overlap another entry's, encrypted entries, methods other than stored/deflate,
// and deflate entries whose declared size is over the caller's cap (inflate stops at the declared size).

import { promises as fsp } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  readonly name: string;
  readonly method: 0 | 8;
  readonly compressedSize: number;
  readonly size: number;
  /** Absolute file offset of the entry's data (after its local header). */
  readonly dataOffset: number;
}

export const MAX_ENTRIES = 1_000_000;
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;
const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

async function readAt(fh: fsp.FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new ZipError(`the file ended at byte ${position + got} while reading ${length} bytes at ${position} (truncated?)`);
    got += bytesRead;
  }
  return buf;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what} ${x} is too large`);
  return Number(x);
}

/** Why a stored name may not be used, or null. */
export function unsafeEntryName(name: string): string | null {
  if (name.length === 0) return 'an empty name';
  if (name.includes('\0')) return 'a NUL character';
  if (name.includes('\\')) return 'a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'an absolute path';
  if (name.split('/').some((p) => p === '..' || p === '.')) return 'a ".." or "." path segment';
  return null;
}

export class ZipArchive {
  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly file: string,
    readonly fileSize: number,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  static async open(file: string): Promise<ZipArchive> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      throw new ZipError(`cannot open ${file}: ${(err as Error).message}`);
    }
    try {
      const size = (await fh.stat()).size;
      return new ZipArchive(fh, file, size, await readDirectory(fh, size));
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  get(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** The whole (uncompressed) entry; refused when larger than maxBytes. */
  async read(name: string, maxBytes: number): Promise<Uint8Array> {
    const e = this.mustGet(name);
    if (e.size > maxBytes) throw new ZipError(`entry ${name} is ${e.size} bytes, over the ${maxBytes}-byte limit for it`);
    const raw = await readAt(this.fh, e.dataOffset, e.compressedSize);
    if (e.method === 0) return raw;
    let out: Buffer;
    try {
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      throw new ZipError(`entry ${name}: deflate data is corrupt or inflates past its declared ${e.size} bytes (${(err as Error).message})`);
    }
    if (out.length !== e.size) throw new ZipError(`entry ${name}: inflated to ${out.length} bytes, not the declared ${e.size}`);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** `length` bytes of the uncompressed entry from `start` (by position for stored entries). */
  async readRange(name: string, start: number, length: number, maxInflate: number): Promise<Uint8Array> {
    const e = this.mustGet(name);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > e.size) {
      throw new ZipError(`entry ${name}: bytes [${start}, ${start + length}) lie outside its ${e.size} bytes`);
    }
    if (e.method === 0) return readAt(this.fh, e.dataOffset + start, length);
    return (await this.read(name, maxInflate)).subarray(start, start + length);
  }

  private mustGet(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`the archive has no entry ${name}`);
    return e;
  }
}

async function readDirectory(fh: fsp.FileHandle, size: number): Promise<Map<string, ZipEntry>> {
  if (size < 22) throw new ZipError(`not a zip archive: ${size} bytes is shorter than an end-of-central-directory record`);
  const tailLen = Math.min(size, 22 + 65535);
  const tail = await readAt(fh, size - tailLen, tailLen);
  const tv = view(tail);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG && i + 22 + tv.getUint16(i + 20, true) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('not a zip archive (no end-of-central-directory record)');
  if (tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) throw new ZipError('multi-disk zip archives are not supported');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  const eocdPos = size - tailLen + eocd;

  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (eocdPos < 20) throw new ZipError('zip64 archive without its locator');
    const loc = view(await readAt(fh, eocdPos - 20, 20));
    if (loc.getUint32(0, true) !== ZIP64_LOCATOR_SIG) throw new ZipError('zip64 fields without a zip64 locator');
    const recPos = u64(loc, 8, 'zip64 record offset');
    if (recPos + 56 > eocdPos) throw new ZipError('zip64 end record lies outside the file');
    const rec = view(await readAt(fh, recPos, 56));
    if (rec.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new ZipError('bad zip64 end-of-central-directory record');
    count = u64(rec, 32, 'entry count');
    cdSize = u64(rec, 40, 'central directory size');
    cdOffset = u64(rec, 48, 'central directory offset');
  }
  if (count > MAX_ENTRIES) throw new ZipError(`the archive declares ${count} entries, over the ${MAX_ENTRIES} limit`);
  if (cdSize > MAX_CENTRAL_DIRECTORY) throw new ZipError(`central directory of ${cdSize} bytes is over the limit`);
  if (cdOffset + cdSize > size) throw new ZipError('the central directory lies outside the file (truncated?)');

  const cd = await readAt(fh, cdOffset, cdSize);
  const v = view(cd);
  const entries = new Map<string, ZipEntry>();
  const spans: { name: string; begin: number; end: number }[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  for (let n = 0; n < count; n++) {
    if (at + 46 > cdSize || v.getUint32(at, true) !== CENTRAL_SIG) throw new ZipError(`central directory entry ${n} is malformed`);
    const flags = v.getUint16(at + 8, true);
    const method = v.getUint16(at + 10, true);
    let compressedSize = v.getUint32(at + 20, true);
    let uncompressedSize = v.getUint32(at + 24, true);
    const nameLen = v.getUint16(at + 28, true);
    const extraLen = v.getUint16(at + 30, true);
    const commentLen = v.getUint16(at + 32, true);
    let localOffset = v.getUint32(at + 42, true);
    const end = at + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) throw new ZipError(`central directory entry ${n} runs past the directory`);
    let name: string;
    try {
      name = decoder.decode(cd.subarray(at + 46, at + 46 + nameLen));
    } catch {
      throw new ZipError(`entry ${n}: its name is not valid UTF-8`);
    }
    const bad = unsafeEntryName(name);
    if (bad) throw new ZipError(`refused: entry name ${JSON.stringify(name.slice(0, 200))} has ${bad}`);
    if (entries.has(name)) throw new ZipError(`refused: the archive holds ${JSON.stringify(name.slice(0, 200))} twice`);
    if (flags & 1) throw new ZipError(`entry ${name} is encrypted`);
    if (method !== 0 && method !== 8) throw new ZipError(`entry ${name} uses compression method ${method}; only stored and deflate are read`);

    // zip64 extra field: the 64-bit values appear in this order, only for fields saturated above.
    let e = at + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) throw new ZipError(`entry ${name}: extra field runs past its end`);
      if (id === 0x0001) {
        let p = e + 4;
        const take = (what: string): number => {
          if (p + 8 > e + 4 + len) throw new ZipError(`entry ${name}: zip64 extra field too short for ${what}`);
          const x = u64(v, p, what);
          p += 8;
          return x;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localOffset === 0xffffffff) localOffset = take('offset');
      }
      e += 4 + len;
    }
    if (method === 0 && compressedSize !== uncompressedSize) throw new ZipError(`stored entry ${name} declares ${compressedSize} bytes stored but ${uncompressedSize} uncompressed`);
    // Deflate cannot expand more than ~1032:1; a larger claim is a bomb or a lie.
    if (method === 8 && uncompressedSize > compressedSize * 1032 + 1024) throw new ZipError(`refused: entry ${name} claims ${uncompressedSize} bytes from ${compressedSize} compressed (zip bomb?)`);
    if (localOffset + 30 > size) throw new ZipError(`entry ${name}: local header lies outside the file`);
    const lh = view(await readAt(fh, localOffset, 30));
    if (lh.getUint32(0, true) !== LOCAL_SIG) throw new ZipError(`entry ${name}: no local header at offset ${localOffset}`);
    const lNameLen = lh.getUint16(26, true);
    const lExtraLen = lh.getUint16(28, true);
    const localName = await readAt(fh, localOffset + 30, Math.min(lNameLen, Math.max(0, size - localOffset - 30)));
    if (lNameLen !== nameLen || !localName.every((b, i) => b === cd[at + 46 + i])) {
      throw new ZipError(`entry ${name}: the local header names another file`);
    }
    const dataOffset = localOffset + 30 + lNameLen + lExtraLen;
    if (dataOffset + compressedSize > size) throw new ZipError(`entry ${name}: its ${compressedSize} bytes run past the end of the file`);
    entries.set(name, { name, method, compressedSize, size: uncompressedSize, dataOffset });
    spans.push({ name, begin: localOffset, end: dataOffset + compressedSize });
    at = end;
  }
  spans.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]!.begin < spans[i - 1]!.end) throw new ZipError(`refused: entries ${spans[i - 1]!.name} and ${spans[i]!.name} overlap in the file`);
  }
  if (spans.length && spans[spans.length - 1]!.end > cdOffset) throw new ZipError('refused: entry data overlaps the central directory');
  return entries;
}
