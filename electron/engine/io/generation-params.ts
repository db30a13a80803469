// Generation parameters as image tools store them, read into one normalised shape, and written as
// AUTOMATIC1111's `parameters` infotext (ldm-facts.md §8). The readers, one module per tool, live in
// metadata/; readImageParameters (metadata/index.ts) reads any PNG/JPEG/WebP.

import { GenerationParamsError } from './metadata/common.ts';
import { INFOTEXT_FIELDS, formatHashes } from './metadata/fields.ts';
import { paramsFromTextChunks } from './metadata/text-chunks.ts';
import { readPngText } from './png-metadata.ts';

export { GenerationParamsError } from './metadata/common.ts';
export { parseParameters } from './metadata/a1111.ts';
export { parseComfyUI } from './metadata/comfyui.ts';
export { parseInvokeAI } from './metadata/invokeai.ts';

export type { GenerationParams, ParamsSource, Size } from './metadata/params.ts';
import type { GenerationParams, Size } from './metadata/params.ts';

// ---------------------------------------------------------------------------------------------
// Writing A1111's infotext.

const KEY_RE = /^\w[\w \-/]+$/;

/** A1111's quote(): values containing , : or a newline are written as JSON strings. */
function quote(v: string): string {
  return /[,:\n]/.test(v) ? JSON.stringify(v) : v;
}

function num(v: unknown, what: string, integer: boolean): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new GenerationParamsError(`${what} must be a finite ${integer ? 'whole ' : ''}number, got ${String(v)}`);
  }
  return String(v);
}

function sizeText(s: unknown, what: string): string {
  const { width, height } = (s ?? {}) as Partial<Size>;
  return `${num(width, `${what} width`, true)}x${num(height, `${what} height`, true)}`;
}

/** The text of one field as A1111 writes it, or undefined when the field is unset. */
function fieldText(p: GenerationParams, key: string, field: keyof GenerationParams, kind: string): string | undefined {
  if (key === 'Size') {
    if (p.width === undefined && p.height === undefined) return undefined;
    if (p.width === undefined || p.height === undefined) throw new GenerationParamsError('width and height go together: give both or neither');
    return sizeText(p, 'Size');
  }
  const v = p[field];
  if (v === undefined) return undefined;
  switch (kind) {
    case 'int':
      return num(v, key, true);
    case 'num':
      return num(v, key, false);
    case 'size':
      return sizeText(v, key);
    case 'hashes':
      return formatHashes(v as Record<string, string>);
    default:
      return String(v);
  }
}

/**
 * The `parameters` text: prompt, `Negative prompt: …` (left out when empty), one line of `Key: value` pairs
 * in A1111's order, extras after the known keys and Version last. An extras entry may carry a known key
 * (e.g. 'Lora hashes' as text) when its field is unset.
 */
export function formatParameters(p: GenerationParams): string {
  const extras = { ...(p.extras ?? {}) };
  for (const k of Object.keys(extras)) {
    if (!KEY_RE.test(k) || k.endsWith(' ')) {
      throw new GenerationParamsError(`parameter name ${JSON.stringify(k)} must be 2+ letters, digits, spaces, - or /, starting with a letter or digit`);
    }
  }
  const pairs: [string, string][] = [];
  const known = (key: string, field: keyof GenerationParams, kind: string): void => {
    const text = fieldText(p, key, field, kind);
    if (text !== undefined && key in extras) throw new GenerationParamsError(`parameter "${key}" has its own field; do not pass it in extras as well`);
    const v = text ?? extras[key];
    delete extras[key];
    if (v !== undefined) pairs.push([key, v]);
  };
  for (const f of INFOTEXT_FIELDS) if (f.key !== 'Version') known(f.key, f.field, f.kind);
  for (const [k, v] of Object.entries(extras)) if (k !== 'Version') pairs.push([k, String(v)]);
  known('Version', 'version', 'text');
  const line = pairs.map(([k, v]) => `${k}: ${quote(v)}`).join(', ');
  const lines = [p.prompt];
  if (p.negative) lines.push(`Negative prompt: ${p.negative}`);
  if (line) lines.push(line);
  return lines.join('\n');
}

/** Every field that is set, as A1111 key → text in A1111's order, extras after the known keys, Version last. */
export function infotextEntries(p: GenerationParams): [string, string][] {
  const out: [string, string][] = [];
  for (const f of INFOTEXT_FIELDS) {
    if (f.key === 'Version') continue;
    const t = fieldText(p, f.key, f.field, f.kind);
    if (t !== undefined) out.push([f.key, t]);
  }
  for (const [k, v] of Object.entries(p.extras ?? {})) out.push([k, String(v)]);
  if (p.version !== undefined) out.push(['Version', p.version]);
  return out;
}

const CORE_KEYS = new Set(['Steps', 'Sampler', 'CFG scale', 'Seed', 'Size', 'Model hash', 'Model', 'Denoising strength']);

/**
 * Every fact beyond prompt, negative prompt, steps, sampler, CFG scale, seed, size, model, model hash and
 * denoising strength, as A1111 key → text (what the history keeps as a generation's extra facts).
 */
export function extraFacts(p: GenerationParams): Record<string, string> {
  return Object.fromEntries(infotextEntries(p).filter(([k]) => !CORE_KEYS.has(k)));
}

// ---------------------------------------------------------------------------------------------

/**
 * The generation parameters of a PNG (bytes, or its text chunks as read by readPngText), from whichever
 * tool wrote them. Null when there are none; a GenerationParamsError when they are there but unreadable.
 * For any PNG/JPEG/WebP, with warnings instead of errors, use readImageParameters (metadata/index.ts).
 */
export function readGenerationParams(png: Uint8Array | ReadonlyMap<string, string>): GenerationParams | null {
  const t = png instanceof Uint8Array ? readPngText(png) : png;
  const found = paramsFromTextChunks(t);
  if (!found) return null;
  if (!found.params) throw new GenerationParamsError(found.warnings.join('; '));
  return found.params;
}
