// A1111's "stealth" PNG info (the sd_webui_stealth_pnginfo extension; NovelAI writes the same): the
// parameters hidden in the lowest bit of each pixel's alpha ("stealth_pnginfo" / "stealth_pngcomp"), or
// of its R, G and B ("stealth_rgbinfo" / "stealth_rgbcomp"). Pixels are read column by column (x outer,
// y inner), bits most significant first: a 15-byte signature, a 32-bit count of payload bits, the
// payload (UTF-8 text; gzip-compressed for the *comp signatures). RGB mode reads r, g, b of each pixel in
// turn. Only the columns that hold the data are decoded.
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { DEFAULT_IMAGE_LIMITS } from '../image.ts';

const SIGNATURES: Record<string, { mode: 'alpha' | 'rgb'; compressed: boolean }> = {
  stealth_pnginfo: { mode: 'alpha', compressed: false },
  stealth_pngcomp: { mode: 'alpha', compressed: true },
  stealth_rgbinfo: { mode: 'rgb', compressed: false },
  stealth_rgbcomp: { mode: 'rgb', compressed: true },
};
const SIG_BITS = 15 * 8;
const HEADER_BITS = SIG_BITS + 32;
/** Largest hidden payload read (the text it inflates to is capped the same). */
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

export interface StealthInfo {
  text: string;
  mode: 'alpha' | 'rgb';
  compressed: boolean;
}

export class StealthError extends Error {
  override name = 'StealthError';
}

/** Pixels of the leftmost `columns` columns, column by column, 4 (RGBA) or 3 (RGB) channels each. */
async function columns(png: Uint8Array, width: number, height: number, count: number, channels: number): Promise<Uint8Array> {
  const w = Math.min(width, count);
  const { data } = await sharp(png, { limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels })
    .keepIccProfile() // no colour conversion: the low bits must stay as written
    .extract({ left: 0, top: 0, width: w, height })
    .raw()
    .toBuffer({ resolveWithObject: true });
  // row-major [height][w][channels] → column-major
  const out = new Uint8Array(w * height * channels);
  let o = 0;
  for (let x = 0; x < w; x++) for (let y = 0; y < height; y++) for (let c = 0; c < channels; c++) out[o++] = data[(y * w + x) * channels + c]!;
  return out;
}

/** Reads the bit stream of one mode from column-major pixels. */
function bitReader(px: Uint8Array, channels: number, mode: 'alpha' | 'rgb') {
  const total = mode === 'alpha' ? px.length / channels : (px.length / channels) * 3;
  const bit = (i: number): number => (mode === 'alpha' ? px[i * channels + 3]! : px[Math.floor(i / 3) * channels + (i % 3)]!) & 1;
  const bytes = (from: number, n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      let v = 0;
      for (let b = 0; b < 8; b++) v = (v << 1) | bit(from + k * 8 + b);
      out[k] = v;
    }
    return out;
  };
  return { total, bit, bytes };
}

/**
 * The hidden parameters of an 8-bit RGB or RGBA PNG, or null when it carries none. Throws a StealthError
 * when a signature is there but what follows is broken (a length past the picture, bad gzip).
 */
export async function readStealthInfo(png: Uint8Array): Promise<StealthInfo | null> {
  const meta = await sharp(png).metadata();
  const { width = 0, height = 0, channels = 0 } = meta;
  if (meta.format !== 'png' || meta.depth !== 'uchar' || (channels !== 3 && channels !== 4) || width < 1 || height < 1) return null;
  if (width * height > DEFAULT_IMAGE_LIMITS.maxPixels) return null;
  // Enough columns for the header in the slower mode (alpha: one bit per pixel).
  let px = await columns(png, width, height, Math.ceil(HEADER_BITS / height), channels);
  // The extension checks RGB first (its signature completes after 40 pixels), then alpha (120 pixels).
  for (const mode of channels === 4 ? (['rgb', 'alpha'] as const) : (['rgb'] as const)) {
    let r = bitReader(px, channels, mode);
    if (r.total < SIG_BITS) continue;
    const sig = Buffer.from(r.bytes(0, 15)).toString('latin1');
    const kind = SIGNATURES[sig];
    if (!kind || kind.mode !== mode) continue;
    if (r.total < HEADER_BITS) throw new StealthError(`the picture is too small for the ${sig} header`);
    const lenBytes = r.bytes(SIG_BITS, 4);
    const bits = ((lenBytes[0]! << 24) | (lenBytes[1]! << 16) | (lenBytes[2]! << 8) | lenBytes[3]!) >>> 0;
    const capacity = mode === 'alpha' ? width * height : width * height * 3;
    if (bits === 0 || bits % 8 !== 0 || HEADER_BITS + bits > capacity || bits / 8 > MAX_PAYLOAD_BYTES) {
      throw new StealthError(`${sig} claims ${bits} bits of data, which the picture cannot hold`);
    }
    const perColumn = mode === 'alpha' ? height : height * 3;
    const need = Math.ceil((HEADER_BITS + bits) / perColumn);
    if (need * height * channels > px.length) {
      px = await columns(png, width, height, need, channels);
      r = bitReader(px, channels, mode);
    }
    let payload = r.bytes(HEADER_BITS, bits / 8);
    if (kind.compressed) {
      try {
        payload = gunzipSync(payload, { maxOutputLength: MAX_PAYLOAD_BYTES });
      } catch (err) {
        throw new StealthError(`${sig} data is not valid gzip (${(err as Error).message})`);
      }
    }
    return { text: new TextDecoder('utf-8').decode(payload), mode, compressed: kind.compressed };
  }
  return null;
}
