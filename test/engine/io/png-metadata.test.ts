import { describe, it, expect, beforeAll } from 'vitest';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import {
  PngMetadataError,
  crc32,
  crc32Table,
  encodeTextChunk,
  readPngText,
  readPngTextChunks,
  scanPngMetadata,
  writePngText,
} from '../../../electron/engine/io/png-metadata.ts';

let png: Uint8Array;
beforeAll(async () => {
  png = new Uint8Array(
    await sharp({ create: { width: 4, height: 3, channels: 3, background: { r: 200, g: 10, b: 30 } } }).png().toBuffer(),
  );
});

/** Chunk types in file order. */
function chunkTypes(bytes: Uint8Array): string[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  for (let p = 8; p < bytes.length; ) {
    const len = v.getUint32(p);
    out.push(String.fromCharCode(...bytes.subarray(p + 4, p + 8)));
    p += 12 + len;
  }
  return out;
}

function rawChunk(type: string, data: Uint8Array, badCrc = false): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ (badCrc ? 1 : 0)) >>> 0);
  return out;
}

/** The test PNG with extra chunks inserted after IHDR (IHDR is 8 + 25 bytes into the file). */
function withChunks(...chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);
}

function expectError(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PngMetadataError);
  expect((err as Error).message).toMatch(re);
}

describe('CRC-32', () => {
  it('the table implementation agrees with node:zlib and the check value', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32Table(data)).toBe(0xcbf43926);
    expect(crc32(data)).toBe(0xcbf43926);
    const rnd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255);
    expect(crc32Table(rnd)).toBe(crc32(rnd));
  });
});

describe('writing PNG text', () => {
  it('puts tEXt right after IHDR and reads it back; sharp still decodes the image and sees it', async () => {
    const out = writePngText(png, { parameters: 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7', Software: 'LDS' });
    expect(chunkTypes(out).slice(0, 3)).toEqual(['IHDR', 'tEXt', 'tEXt']);
    expect(readPngText(out).get('parameters')).toBe('a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7');
    const meta = await sharp(out).metadata();
    expect(meta.width).toBe(4);
    expect(meta.comments).toEqual(expect.arrayContaining([{ keyword: 'Software', text: 'LDS' }]));
    const { data } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(Array.from(data.subarray(0, 3))).toEqual([200, 10, 30]);
  });

  it('uses iTXt (UTF-8) when the text is not Latin-1, tEXt for Latin-1', () => {
    const out = writePngText(png, { parameters: 'ein Café 🐱 猫', latin: 'café ß' });
    const chunks = readPngTextChunks(out);
    expect(chunks.find((c) => c.keyword === 'parameters')).toMatchObject({ type: 'iTXt', text: 'ein Café 🐱 猫' });
    expect(chunks.find((c) => c.keyword === 'latin')).toMatchObject({ type: 'tEXt', text: 'café ß' });
  });

  it('replaces chunks with the same keyword instead of adding a second one', () => {
    const once = writePngText(png, { parameters: 'one', other: 'x' });
    const twice = writePngText(once, { parameters: 'two' });
    const chunks = readPngTextChunks(twice);
    expect(chunks.filter((c) => c.keyword === 'parameters').map((c) => c.text)).toEqual(['two']);
    expect(chunks.find((c) => c.keyword === 'other')?.text).toBe('x');
  });

  it('rejects invalid keywords and non-PNG input', () => {
    expectError(() => encodeTextChunk('', 'x'), /invalid PNG text keyword/);
    expectError(() => encodeTextChunk('k'.repeat(80), 'x'), /1–79/);
    expectError(() => encodeTextChunk(' lead', 'x'), /leading/);
    expectError(() => encodeTextChunk('a\nb', 'x'), /printable/);
    expectError(() => writePngText(new Uint8Array(20), { a: 'b' }), /not a PNG/);
  });
});

describe('reading PNG text', () => {
  it('reads zTXt and compressed iTXt', () => {
    const z = rawChunk('zTXt', Buffer.concat([Buffer.from('prompt\0\0', 'latin1'), zlib.deflateSync(Buffer.from('{"1": {}}'))]));
    const i = rawChunk(
      'iTXt',
      Buffer.concat([Buffer.from('workflow\0\x01\x00en\0Arbeitsablauf\0', 'latin1'), zlib.deflateSync(Buffer.from('ünïcode ✓', 'utf8'))]),
    );
    const chunks = readPngTextChunks(withChunks(z, i));
    expect(chunks[0]).toEqual({ type: 'zTXt', keyword: 'prompt', text: '{"1": {}}' });
    expect(chunks[1]).toEqual({ type: 'iTXt', keyword: 'workflow', text: 'ünïcode ✓', languageTag: 'en', translatedKeyword: 'Arbeitsablauf' });
  });

  it('keeps the first of repeated keywords in the map, all of them in the list', () => {
    const bytes = withChunks(rawChunk('tEXt', Buffer.from('k\0first')), rawChunk('tEXt', Buffer.from('k\0second')));
    expect(readPngText(bytes).get('k')).toBe('first');
    expect(readPngTextChunks(bytes).map((c) => c.text)).toEqual(['first', 'second']);
  });

  it('decodes tEXt as ISO 8859-1 (not windows-1252)', () => {
    const bytes = withChunks(rawChunk('tEXt', Uint8Array.from([0x6b, 0, 0x80, 0xe9])));
    expect(readPngText(bytes).get('k')).toBe('\u0080é');
  });
});

describe('malformed PNGs', () => {
  it('bad signature', () => {
    const b = png.slice();
    b[1] = 0;
    expectError(() => readPngText(b), /signature/);
  });

  it('truncated file and missing IEND', () => {
    expectError(() => readPngText(png.subarray(0, png.length - 5)), /truncated PNG/);
    expectError(() => readPngText(png.subarray(0, 33)), /no IEND/);
  });

  it('chunk length past the end or over 2^31 − 1', () => {
    const b = png.slice();
    new DataView(b.buffer).setUint32(8, 1_000_000);
    expectError(() => readPngText(b), /claims 1000000 bytes/);
    new DataView(b.buffer).setUint32(8, 0x80000000);
    expectError(() => readPngText(b), /over 2\^31/);
  });

  it('CRC mismatch, in a text chunk and in IHDR', () => {
    expectError(() => readPngText(withChunks(rawChunk('tEXt', Buffer.from('k\0v'), true))), /CRC of chunk "tEXt"/);
    const b = png.slice();
    b[20] ^= 0xff; // inside IHDR's data
    expectError(() => readPngText(b), /CRC of chunk "IHDR"/);
  });

  it('first chunk not IHDR, invalid chunk type', () => {
    const b = Buffer.concat([png.subarray(0, 8), rawChunk('tEXt', Buffer.from('k\0v')), png.subarray(8)]);
    expectError(() => readPngText(b), /first chunk is "tEXt"/);
    const c = withChunks(rawChunk('t3Xt', Buffer.from('k\0v')));
    expectError(() => readPngText(c), /invalid chunk type/);
  });

  it('text chunks without a valid keyword', () => {
    expectError(() => readPngText(withChunks(rawChunk('tEXt', Buffer.from('no separator')))), /1–79 byte keyword/);
    expectError(() => readPngText(withChunks(rawChunk('tEXt', Buffer.from('\0text')))), /1–79 byte keyword/);
    expectError(() => readPngText(withChunks(rawChunk('tEXt', Buffer.from('k'.repeat(80) + '\0v')))), /1–79 byte keyword/);
  });

  it('zTXt with an unknown method, invalid zlib data, or a zip bomb', () => {
    expectError(() => readPngText(withChunks(rawChunk('zTXt', Buffer.from('k\0\x05abc', 'latin1')))), /unknown compression method/);
    expectError(() => readPngText(withChunks(rawChunk('zTXt', Buffer.from('k\0\0not zlib', 'latin1')))), /not valid zlib/);
    const bomb = zlib.deflateSync(Buffer.alloc(20 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(100_000);
    expectError(() => readPngText(withChunks(rawChunk('zTXt', Buffer.concat([Buffer.from('k\0\0', 'latin1'), bomb])))), /inflates to more than/);
  });

  it('iTXt truncated, with a bad flag, or invalid UTF-8', () => {
    expectError(() => readPngText(withChunks(rawChunk('iTXt', Buffer.from('k\0')))), /truncated/);
    expectError(() => readPngText(withChunks(rawChunk('iTXt', Buffer.from('k\0\x02\0\0\0t', 'latin1')))), /compression flag/);
    expectError(() => readPngText(withChunks(rawChunk('iTXt', Buffer.from('k\0\0\0en', 'latin1')))), /missing its language/);
    expectError(() => readPngText(withChunks(rawChunk('iTXt', Buffer.from('k\0\0\0\0\0\xff\xfe', 'latin1')))), /not valid UTF-8/);
  });
});

describe('lenient metadata scan (scanPngMetadata)', () => {
  it('keeps the intact chunks around a damaged one and says what was lost', () => {
    const t = (k: string, v: string) => rawChunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1'));
    const exif = rawChunk('eXIf', Buffer.from('MM\0*\0\0\0\x08\0\0', 'latin1'));
    const bytes = withChunks(t('a', '1'), rawChunk('tEXt', Buffer.from('b\x002', 'latin1'), true), rawChunk('zTXt', Buffer.from('c\0\0junk', 'latin1')), exif, t('d', '4'));
    const r = scanPngMetadata(bytes);
    expect(r.text.map((c) => [c.keyword, c.text])).toEqual([['a', '1'], ['d', '4']]);
    expect(r.exif && Buffer.from(r.exif).toString('latin1', 0, 4)).toBe('MM\0*');
    expect(r.problems).toEqual([
      'the CRC of tEXt "b" at byte 48 does not match its contents',
      'zTXt "c" at byte 63: the compressed text of zTXt "c" is not valid zlib data',
    ]);
    expect(() => readPngText(bytes)).toThrow(PngMetadataError); // the strict reader still refuses
  });

  it('stops at broken chunk structure, keeping what came before', () => {
    const bytes = withChunks(rawChunk('tEXt', Buffer.from('k\0v', 'latin1')));
    const cut = scanPngMetadata(bytes.subarray(0, bytes.length - 20));
    expect(cut.text).toHaveLength(1);
    expect(cut.problems[0]).toMatch(/^the PNG's chunks are damaged from byte \d+ on \(chunk "IDAT" runs past the end of the file\)$/);
    expect(scanPngMetadata(bytes.subarray(0, bytes.length - 12)).problems).toEqual(['the PNG is truncated (no IEND chunk)']);
    expect(() => scanPngMetadata(new Uint8Array(4))).toThrow(/not a PNG/);
  });
});

describe('randomised PNG mutation', () => {
  it('gives a PngMetadataError or a result, never another error', () => {
    const base = writePngText(png, { parameters: 'a cat, Steps: 20', comment: 'ünïcode ✓ 猫', z: 'x' });
    const withZ = withChunks(
      rawChunk('zTXt', Buffer.concat([Buffer.from('zk\0\0', 'latin1'), zlib.deflateSync(Buffer.from('compressed text'))])),
      rawChunk('iTXt', Buffer.concat([Buffer.from('ik\0\x01\x00en\0t\0', 'latin1'), zlib.deflateSync(Buffer.from('utf8 ✓'))])),
    );
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const int = (n: number) => Math.floor(rnd() * n);
    let errors = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const src = trial % 2 ? base : withZ;
      let b = Uint8Array.from(src);
      const kind = trial % 5;
      for (let m = 0; m < 1 + int(3); m++) {
        if (kind === 0) b[int(b.length)] = int(256);
        else if (kind === 1) b = b.slice(0, int(b.length));
        else if (kind === 2) new DataView(b.buffer).setUint32(8 + 25 * int(2), [0, 1, 13, 0x7fffffff, 0xffffffff][int(5)]!);
        else if (kind === 3) b[8 + int(Math.min(200, b.length - 8))] ^= 1 << int(8);
        else {
          // a chunk body rewritten with a correct CRC, so the text decoders see the damage
          const v = new DataView(b.buffer);
          let p = 8;
          const starts: number[] = [];
          while (p + 12 <= b.length) {
            starts.push(p);
            p += 12 + v.getUint32(p);
          }
          const at = starts[1 + int(Math.max(1, starts.length - 2))] ?? 8;
          const len = v.getUint32(at);
          if (at + 12 + len > b.length || len === 0) continue;
          b[at + 8 + int(len)] = [0, 1, 0xff, 0x78, 0x80][int(5)]!;
          v.setUint32(at + 8 + len, crc32(b.subarray(at + 4, at + 8 + len)));
        }
      }
      try {
        readPngTextChunks(b);
      } catch (e) {
        if (!(e instanceof PngMetadataError)) throw new Error(`trial ${trial}: ${(e as Error).stack}`);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1500);
  });
});
