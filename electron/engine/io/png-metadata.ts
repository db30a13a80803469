// PNG text chunks (PNG spec §11.3.4: tEXt, zTXt, iTXt): read all of them with length and CRC checks,
// and write ours right after IHDR, where every reader (sharp included) sees them before IDAT.
// scanPngMetadata reads them leniently (damaged chunks become problems, not errors) for metadata/,
// where the generation-parameter formats carried in them are read.

import * as zlib from 'node:zlib';

export class PngMetadataError extends Error {
  override name = 'PngMetadataError';
}

export const PNG_SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** Largest text a single chunk may inflate to (guards against zip bombs in zTXt/iTXt). */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;
const MAX_CHUNK_LENGTH = 0x7fffffff; // PNG spec: lengths are at most 2^31 − 1

export type TextChunkType = 'tEXt' | 'zTXt' | 'iTXt';

export interface PngTextChunk {
  readonly type: TextChunkType;
  readonly keyword: string;
  readonly text: string;
  /** iTXt only. */
  readonly languageTag?: string;
  readonly translatedKeyword?: string;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (ISO 3309, as PNG uses): node:zlib's when this Node has it (20.15+), else a table.

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Table(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const zlibCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
export const crc32: (bytes: Uint8Array) => number = typeof zlibCrc === 'function' ? (b) => zlibCrc(b) >>> 0 : crc32Table;
/** The portable implementation, exported so tests can check both agree. */
export { crc32Table };

// ---------------------------------------------------------------------------------------------
// Chunk walking.

interface RawChunk {
  readonly type: string;
  readonly start: number; // offset of the length field
  readonly end: number; // offset after the CRC
  readonly data: Uint8Array;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Every chunk up to and including IEND, with lengths, types and CRCs checked. */
function walkChunks(bytes: Uint8Array): RawChunk[] {
  if (!isPng(bytes)) throw new PngMetadataError('not a PNG file (the 8-byte PNG signature is missing)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: RawChunk[] = [];
  let pos = 8;
  for (;;) {
    if (pos + 12 > bytes.length) {
      throw new PngMetadataError(`truncated PNG: ${chunks.length ? 'no IEND chunk; ' : ''}a chunk at byte ${pos} runs past the end of the file`);
    }
    const len = view.getUint32(pos);
    const typeBytes = bytes.subarray(pos + 4, pos + 8);
    const type = String.fromCharCode(...typeBytes);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new PngMetadataError(`corrupt PNG: invalid chunk type at byte ${pos}`);
    if (len > MAX_CHUNK_LENGTH) throw new PngMetadataError(`corrupt PNG: chunk "${type}" at byte ${pos} claims ${len} bytes (over 2^31 − 1)`);
    const end = pos + 12 + len;
    if (end > bytes.length) {
      throw new PngMetadataError(`truncated PNG: chunk "${type}" at byte ${pos} claims ${len} bytes, more than the file holds`);
    }
    if (chunks.length === 0 && type !== 'IHDR') throw new PngMetadataError(`corrupt PNG: the first chunk is "${type}", not IHDR`);
    const crc = view.getUint32(pos + 8 + len);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + len)) !== crc) {
      throw new PngMetadataError(`corrupt PNG: the CRC of chunk "${type}" at byte ${pos} does not match its contents`);
    }
    chunks.push({ type, start: pos, end, data: bytes.subarray(pos + 8, pos + 8 + len) });
    pos = end;
    if (type === 'IEND') return chunks;
  }
}

// ---------------------------------------------------------------------------------------------
// Text chunk decoding.

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Not TextDecoder('latin1'): that is windows-1252 per the Encoding standard, PNG means ISO 8859-1.
function decodeLatin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function inflate(data: Uint8Array, type: string, keyword: string): Uint8Array {
  try {
    return zlib.inflateSync(data, { maxOutputLength: MAX_TEXT_BYTES });
  } catch (err) {
    const why = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? `inflates to more than ${MAX_TEXT_BYTES} bytes` : 'is not valid zlib data';
    throw new PngMetadataError(`corrupt PNG: the compressed text of ${type} "${keyword}" ${why}`);
  }
}

function readKeyword(data: Uint8Array, type: string): [string, number] {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) throw new PngMetadataError(`corrupt PNG: ${type} chunk without a 1–79 byte keyword`);
  return [decodeLatin1(data.subarray(0, nul)), nul + 1];
}

function decodeText(type: TextChunkType, data: Uint8Array): PngTextChunk {
  const [keyword, at] = readKeyword(data, type);
  if (type === 'tEXt') return { type, keyword, text: decodeLatin1(data.subarray(at)) };
  if (type === 'zTXt') {
    if (at >= data.length || data[at] !== 0) throw new PngMetadataError(`corrupt PNG: zTXt "${keyword}" has an unknown compression method`);
    return { type, keyword, text: decodeLatin1(inflate(data.subarray(at + 1), type, keyword)) };
  }
  if (at + 2 > data.length) throw new PngMetadataError(`corrupt PNG: iTXt "${keyword}" is truncated`);
  const compressed = data[at]!;
  const method = data[at + 1]!;
  if (compressed > 1 || (compressed === 1 && method !== 0)) {
    throw new PngMetadataError(`corrupt PNG: iTXt "${keyword}" has an invalid compression flag or method`);
  }
  const langEnd = data.indexOf(0, at + 2);
  const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw new PngMetadataError(`corrupt PNG: iTXt "${keyword}" is missing its language or translated keyword`);
  let body = data.subarray(transEnd + 1);
  if (compressed) body = inflate(body, type, keyword);
  try {
    return {
      type,
      keyword,
      text: utf8.decode(body),
      languageTag: decodeLatin1(data.subarray(at + 2, langEnd)),
      translatedKeyword: utf8.decode(data.subarray(langEnd + 1, transEnd)),
    };
  } catch {
    throw new PngMetadataError(`corrupt PNG: iTXt "${keyword}" is not valid UTF-8`);
  }
}

/** Every tEXt, zTXt and iTXt chunk, in file order. Malformed files throw a PngMetadataError saying what is wrong. */
export function readPngTextChunks(png: Uint8Array): PngTextChunk[] {
  const out: PngTextChunk[] = [];
  for (const c of walkChunks(png)) {
    if (c.type === 'tEXt' || c.type === 'zTXt' || c.type === 'iTXt') out.push(decodeText(c.type, c.data));
  }
  return out;
}

/** keyword → text; when a keyword repeats, the first chunk wins (as most readers do). */
export function readPngText(png: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of readPngTextChunks(png)) if (!out.has(c.keyword)) out.set(c.keyword, c.text);
  return out;
}

/** What a lenient read of a PNG's metadata found: the text chunks that are intact, an eXIf chunk, and what was wrong. */
export interface PngMetadataScan {
  readonly text: PngTextChunk[];
  readonly exif: Uint8Array | null;
  /** Each problem that cost a chunk ("the CRC of tEXt \"parameters\" at byte 33 does not match its contents"). */
  readonly problems: string[];
}

/**
 * The metadata of a PNG whose chunks may be damaged: a text chunk with a bad CRC, or one that does not
 * decode, is left out with a problem saying why; a broken chunk structure stops the walk there. Never throws
 * for a file that starts with the PNG signature.
 */
export function scanPngMetadata(png: Uint8Array): PngMetadataScan {
  if (!isPng(png)) throw new PngMetadataError('not a PNG file (the 8-byte PNG signature is missing)');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const text: PngTextChunk[] = [];
  const problems: string[] = [];
  let exif: Uint8Array | null = null;
  let pos = 8;
  while (pos + 12 <= png.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    if (!/^[A-Za-z]{4}$/.test(type) || len > MAX_CHUNK_LENGTH || pos + 12 + len > png.length) {
      problems.push(`the PNG's chunks are damaged from byte ${pos} on (${/^[A-Za-z]{4}$/.test(type) ? `chunk "${type}" runs past the end of the file` : 'invalid chunk type'})`);
      return { text, exif, problems };
    }
    const data = png.subarray(pos + 8, pos + 8 + len);
    const isText = type === 'tEXt' || type === 'zTXt' || type === 'iTXt';
    if (isText || type === 'eXIf') {
      const nul = isText ? data.indexOf(0) : -1;
      const name = nul > 0 && nul < 80 ? `${type} "${decodeLatin1(data.subarray(0, nul))}"` : type;
      if (crc32(png.subarray(pos + 4, pos + 8 + len)) !== view.getUint32(pos + 8 + len)) {
        problems.push(`the CRC of ${name} at byte ${pos} does not match its contents`);
      } else if (isText) {
        try {
          text.push(decodeText(type, data));
        } catch (err) {
          problems.push(`${name} at byte ${pos}: ${(err as Error).message.replace(/^corrupt PNG: /, '')}`);
        }
      } else exif ??= data;
    }
    pos += 12 + len;
    if (type === 'IEND') return { text, exif, problems };
  }
  problems.push('the PNG is truncated (no IEND chunk)');
  return { text, exif, problems };
}

// ---------------------------------------------------------------------------------------------
// Writing.

function checkKeyword(k: string): void {
  if (k.length < 1 || k.length > 79 || !/^[\x20-\x7e\xa1-\xff]+$/.test(k) || k.startsWith(' ') || k.endsWith(' ') || k.includes('  ')) {
    throw new PngMetadataError(
      `invalid PNG text keyword ${JSON.stringify(k)}: use 1–79 printable Latin-1 characters without leading, trailing or double spaces`,
    );
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** tEXt when the text is Latin-1 (without NUL), otherwise uncompressed iTXt in UTF-8. */
export function encodeTextChunk(keyword: string, text: string): Uint8Array {
  checkKeyword(keyword);
  const k = latin1Bytes(keyword);
  if (/^[\x01-\xff]*$/.test(text)) {
    const t = latin1Bytes(text);
    const data = new Uint8Array(k.length + 1 + t.length);
    data.set(k, 0);
    data.set(t, k.length + 1);
    return chunk('tEXt', data);
  }
  const t = new TextEncoder().encode(text);
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, text
  const data = new Uint8Array(k.length + 5 + t.length);
  data.set(k, 0);
  data.set(t, k.length + 5);
  return chunk('iTXt', data);
}

/**
 * A copy of the PNG with the given text chunks placed right after IHDR. Text chunks already there with
 * the same keywords are dropped, so writing `parameters` twice leaves one.
 */
export function writePngText(png: Uint8Array, entries: Readonly<Record<string, string>> | ReadonlyMap<string, string>): Uint8Array {
  const list = entries instanceof Map ? [...entries.entries()] : Object.entries(entries);
  const fresh = list.map(([k, v]) => {
    if (typeof v !== 'string') throw new PngMetadataError(`PNG text "${k}" must be a string`);
    return encodeTextChunk(k, v);
  });
  const replaced = new Set(list.map(([k]) => k));
  const chunks = walkChunks(png);
  const parts: Uint8Array[] = [PNG_SIGNATURE];
  for (const c of chunks) {
    if ((c.type === 'tEXt' || c.type === 'zTXt' || c.type === 'iTXt') && replaced.has(decodeText(c.type, c.data).keyword)) continue;
    parts.push(png.subarray(c.start, c.end));
    if (c.type === 'IHDR') parts.push(...fresh);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
