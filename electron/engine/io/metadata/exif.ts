// EXIF (a TIFF structure) as JPEG APP1 segments, WebP EXIF chunks and PNG eXIf chunks carry it: the few
// tags image tools write parameters into. A1111 (modules/images.py) writes its infotext into the Exif
// IFD's UserComment with piexif: an 8-byte character-code prefix, "UNICODE\0" then UTF-16 big-endian
// (piexif.helper.UserComment), in a big-endian ("MM") TIFF. Fooocus puts its JSON there without a
// prefix and its scheme in MakerNote; ComfyUI's WebP saver writes "prompt:{…}" / "workflow:{…}" into
// IFD0's Model and Make.

export interface ExifText {
  userComment?: string;
  makerNote?: string;
  imageDescription?: string;
  make?: string;
  model?: string;
  software?: string;
}

const TAGS = { imageDescription: 0x010e, make: 0x010f, model: 0x0110, software: 0x0131, exifIfd: 0x8769, userComment: 0x9286, makerNote: 0x927c };
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };
const MAX_ENTRIES = 1000;

export class ExifError extends Error {
  override name = 'ExifError';
}

/** The raw bytes of each tag in one IFD (tag → value bytes), bounds-checked. */
function readIfd(tiff: Uint8Array, view: DataView, le: boolean, offset: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  if (offset < 8 || offset + 2 > tiff.length) throw new ExifError(`an IFD offset (${offset}) points outside the EXIF data`);
  const count = view.getUint16(offset, le);
  if (count > MAX_ENTRIES || offset + 2 + count * 12 > tiff.length) throw new ExifError(`an IFD claims ${count} entries, more than the EXIF data holds`);
  for (let i = 0; i < count; i++) {
    const e = offset + 2 + i * 12;
    const tag = view.getUint16(e, le);
    const type = view.getUint16(e + 2, le);
    const n = view.getUint32(e + 4, le);
    const size = (TYPE_SIZE[type] ?? 0) * n;
    if (size === 0 || !Number.isSafeInteger(size)) continue;
    const at = size <= 4 ? e + 8 : view.getUint32(e + 8, le);
    if (at + size > tiff.length) throw new ExifError(`tag 0x${tag.toString(16)} points past the end of the EXIF data`);
    out.set(tag, tiff.subarray(at, at + size));
  }
  return out;
}

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const utf8 = (b: Uint8Array): string => new TextDecoder('utf-8').decode(b);
const trimNul = (s: string): string => s.replace(/\0+$/, '');

/** UTF-16 without a byte-order mark: the order whose high bytes are more often zero (A1111's text is mostly ASCII). */
function utf16(b: Uint8Array, fallbackLe: boolean): string {
  let body = b.subarray(0, b.length & ~1);
  let le = fallbackLe;
  if (body[0] === 0xfe && body[1] === 0xff) [le, body] = [false, body.subarray(2)];
  else if (body[0] === 0xff && body[1] === 0xfe) [le, body] = [true, body.subarray(2)];
  else {
    let evenZero = 0;
    let oddZero = 0;
    for (let i = 0; i < body.length; i += 2) {
      if (body[i] === 0) evenZero++;
      if (body[i + 1] === 0) oddZero++;
    }
    if (evenZero !== oddZero) le = oddZero > evenZero;
  }
  return new TextDecoder(le ? 'utf-16le' : 'utf-16be').decode(body);
}

/** EXIF UserComment: an 8-byte character code, then the text (piexif.helper.UserComment; A1111 falls back to UTF-8). */
export function decodeUserComment(b: Uint8Array, littleEndianTiff = false): string {
  const prefix = latin1(b.subarray(0, 8));
  const body = b.subarray(8);
  if (prefix === 'UNICODE\0') return trimNul(utf16(body, littleEndianTiff));
  if (prefix === 'ASCII\0\0\0') return trimNul(latin1(body));
  if (prefix === 'JIS\0\0\0\0\0') return trimNul(new TextDecoder('shift_jis').decode(body));
  if (prefix === '\0\0\0\0\0\0\0\0') return trimNul(utf8(body));
  return trimNul(utf8(b));
}

/** The text tags of an EXIF block ("Exif\0\0" prefix optional). Throws an ExifError saying what is wrong. */
export function readExifText(exif: Uint8Array): ExifText {
  let tiff = exif;
  if (latin1(tiff.subarray(0, 6)) === 'Exif\0\0') tiff = tiff.subarray(6);
  const order = latin1(tiff.subarray(0, 2));
  if ((order !== 'II' && order !== 'MM') || tiff.length < 8) throw new ExifError('the EXIF data does not start with a TIFF header');
  const le = order === 'II';
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  if (view.getUint16(2, le) !== 42) throw new ExifError('the EXIF data does not start with a TIFF header');
  const ifd0 = readIfd(tiff, view, le, view.getUint32(4, le));
  const out: ExifText = {};
  const ascii = (b: Uint8Array | undefined): string | undefined => (b ? trimNul(utf8(b)) : undefined);
  const set = (k: keyof ExifText, v: string | undefined): void => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  set('imageDescription', ascii(ifd0.get(TAGS.imageDescription)));
  set('make', ascii(ifd0.get(TAGS.make)));
  set('model', ascii(ifd0.get(TAGS.model)));
  set('software', ascii(ifd0.get(TAGS.software)));
  // UserComment and MakerNote belong in the Exif IFD; Pillow's Image.Exif (Fooocus) writes them into IFD0.
  const ptr = ifd0.get(TAGS.exifIfd);
  const sub = ptr && ptr.length === 4 ? readIfd(tiff, view, le, new DataView(ptr.buffer, ptr.byteOffset, 4).getUint32(0, le)) : new Map<number, Uint8Array>();
  const uc = sub.get(TAGS.userComment) ?? ifd0.get(TAGS.userComment);
  if (uc) set('userComment', decodeUserComment(uc, le));
  set('makerNote', ascii(sub.get(TAGS.makerNote) ?? ifd0.get(TAGS.makerNote)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Containers.

export interface ContainerMetadata {
  exif: Uint8Array | null;
  /** JPEG COM segments. */
  comments: string[];
  problems: string[];
}

export function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

export function isWebp(b: Uint8Array): boolean {
  return b.length >= 12 && latin1(b.subarray(0, 4)) === 'RIFF' && latin1(b.subarray(8, 12)) === 'WEBP';
}

/** JPEG segments up to the image data: the first APP1 "Exif" block and any COM text. */
export function scanJpegMetadata(b: Uint8Array): ContainerMetadata {
  const out: ContainerMetadata = { exif: null, comments: [], problems: [] };
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) {
      out.problems.push(`the JPEG's segments are damaged at byte ${pos}`);
      return out;
    }
    const marker = b[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return out; // end of image, start of scan: no metadata after this
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    const len = (b[pos + 2]! << 8) | b[pos + 3]!;
    if (len < 2 || pos + 2 + len > b.length) {
      out.problems.push(`a JPEG segment at byte ${pos} runs past the end of the file`);
      return out;
    }
    const data = b.subarray(pos + 4, pos + 2 + len);
    if (marker === 0xe1 && latin1(data.subarray(0, 6)) === 'Exif\0\0') out.exif ??= data;
    else if (marker === 0xfe) out.comments.push(trimNul(utf8(data)));
    pos += 2 + len;
  }
  out.problems.push('the JPEG is truncated before its image data');
  return out;
}

/** WebP (RIFF) chunks: the EXIF chunk. */
export function scanWebpMetadata(b: Uint8Array): ContainerMetadata {
  const out: ContainerMetadata = { exif: null, comments: [], problems: [] };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = Math.min(b.length, 8 + view.getUint32(4, true));
  let pos = 12;
  while (pos + 8 <= end) {
    const type = latin1(b.subarray(pos, pos + 4));
    const len = view.getUint32(pos + 4, true);
    if (pos + 8 + len > end) {
      out.problems.push(`WebP chunk "${type}" at byte ${pos} runs past the end of the file`);
      return out;
    }
    if (type === 'EXIF') out.exif ??= b.subarray(pos + 8, pos + 8 + len);
    pos += 8 + len + (len & 1);
  }
  return out;
}
