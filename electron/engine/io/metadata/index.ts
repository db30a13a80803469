// One entry point for "what made this picture": readImageParameters(bytes) looks in every place image
// tools write their parameters (PNG text chunks, EXIF in PNG/JPEG/WebP, JPEG comments, stealth bits)
// and hands back the parameters, the tool, where they were and what was wrong. Damaged metadata is a
// warning ("metadata unreadable: …"), never a reason to refuse the picture.
import type { GenerationParams, ParamsSource } from './params.ts';
import { isPng, scanPngMetadata } from '../png-metadata.ts';
import { parseParameters } from './a1111.ts';
import { isJpeg, isWebp, readExifText, scanJpegMetadata, scanWebpMetadata } from './exif.ts';
import { paramsFromTextChunks, type FoundParams } from './text-chunks.ts';
import { readStealthInfo, StealthError } from './stealth.ts';

export interface ImageParameters {
  format: 'png' | 'jpeg' | 'webp' | null;
  /** Null when the picture carries no parameters we can read (see warnings for why, when it tried). */
  params: GenerationParams | null;
  source: ParamsSource | null;
  /** Where they were found, e.g. 'PNG text "parameters"', 'EXIF UserComment', 'stealth alpha (compressed)'. */
  location: string | null;
  warnings: string[];
}

const unreadable = (why: string): string => `metadata unreadable: ${why}`;

/** The keys a tool's text metadata would have, from EXIF tags (A1111/Fooocus UserComment, ComfyUI WebP Make/Model). */
function exifToText(exif: Uint8Array, warnings: string[]): Map<string, string> {
  const t = new Map<string, string>();
  try {
    const x = readExifText(exif);
    if (x.userComment) t.set('parameters', x.userComment);
    if (x.makerNote && /^(fooocus|a1111)$/i.test(x.makerNote)) t.set('fooocus_scheme', x.makerNote.toLowerCase());
    for (const v of [x.make, x.model, x.imageDescription]) {
      const m = v && /^(prompt|workflow):/.exec(v);
      if (m) t.set(m[1]!, v!.slice(m[0].length));
    }
    if (x.software) t.set('Software', x.software);
  } catch (err) {
    warnings.push(unreadable(`EXIF: ${(err as Error).message}`));
  }
  return t;
}

function result(format: ImageParameters['format'], found: FoundParams | null, where: string, warnings: string[]): ImageParameters {
  if (!found) return { format, params: null, source: null, location: null, warnings };
  return { format, params: found.params, source: found.params ? found.source : null, location: `${where} "${found.location}"`, warnings: [...warnings, ...found.warnings] };
}

export async function readImageParameters(bytes: Uint8Array): Promise<ImageParameters> {
  const warnings: string[] = [];
  if (isPng(bytes)) {
    const scan = scanPngMetadata(bytes);
    warnings.push(...scan.problems.map(unreadable));
    const text = new Map<string, string>();
    for (const c of scan.text) if (!text.has(c.keyword)) text.set(c.keyword, c.text);
    let found = paramsFromTextChunks(text);
    if (found) return result('png', found, 'PNG text', warnings);
    if (scan.exif) {
      found = paramsFromTextChunks(exifToText(scan.exif, warnings));
      if (found) return result('png', found, 'PNG eXIf', warnings);
    }
    try {
      const hidden = await readStealthInfo(bytes);
      if (hidden) {
        const where = `stealth ${hidden.mode}${hidden.compressed ? ' (compressed)' : ''}`;
        found = stealthParams(hidden.text);
        return { format: 'png', params: found.params, source: found.params ? found.source : null, location: where, warnings: [...warnings, ...found.warnings] };
      }
    } catch (err) {
      // A picture that does not decode is the image reader's to report; only broken hidden data is ours.
      if (err instanceof StealthError) warnings.push(unreadable(`stealth PNG info: ${err.message}`));
    }
    return { format: 'png', params: null, source: null, location: null, warnings };
  }
  const jpeg = isJpeg(bytes);
  if (jpeg || isWebp(bytes)) {
    const format = jpeg ? 'jpeg' : 'webp';
    const scan = jpeg ? scanJpegMetadata(bytes) : scanWebpMetadata(bytes);
    warnings.push(...scan.problems.map(unreadable));
    const text = scan.exif ? exifToText(scan.exif, warnings) : new Map<string, string>();
    const fromComment = !text.has('parameters') && scan.comments[0] !== undefined;
    if (fromComment) text.set('parameters', scan.comments[0]!);
    const r = result(format, paramsFromTextChunks(text), 'EXIF', warnings);
    if (r.location === 'EXIF "parameters"') r.location = fromComment ? 'JPEG comment' : 'EXIF UserComment';
    return r;
  }
  return { format: null, params: null, source: null, location: null, warnings: ['not a PNG, JPEG or WebP file'] };
}

/** Stealth text: A1111 infotext, or NovelAI's chunks as JSON. */
function stealthParams(text: string): FoundParams {
  if (text.trimStart().startsWith('{')) {
    try {
      const obj = JSON.parse(text) as unknown;
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const map = new Map<string, string>();
        for (const [k, v] of Object.entries(obj)) map.set(k, typeof v === 'string' ? v : JSON.stringify(v));
        const found = paramsFromTextChunks(map);
        if (found) return found;
      }
    } catch {
      // not JSON: read it as infotext
    }
  }
  return { params: parseParameters(text), source: 'a1111', location: 'stealth', warnings: [] };
}
