// What every metadata reader shares: the error type, JSON as Python writes it, and number parsing that
// refuses what it cannot read rather than guessing.

export class GenerationParamsError extends Error {
  override name = 'GenerationParamsError';
}

export type Json = unknown;

export function isObj(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON.parse that also reads the NaN and ±Infinity Python's json.dumps writes (as null). */
export function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(pythonNonFinite(text)) as Json;
  } catch (err) {
    throw new GenerationParamsError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function pythonNonFinite(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const word = /^(-?Infinity|NaN)(?![\w])/.exec(text.slice(i, i + 10));
    if (word) {
      out += 'null';
      i += word[1]!.length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** A whole number written as text ('20', ' -3 '), or undefined. */
export function toInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\s*-?\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A finite number written as text, or undefined. */
export function toNum(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** A JSON value as a finite number (numbers, or numeric strings as Python tools sometimes write them). */
export function jsonNum(v: Json): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') return toNum(v);
  return undefined;
}

export function jsonInt(v: Json): number | undefined {
  const n = jsonNum(v);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

export function jsonStr(v: Json): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A JSON value as extras text: strings as they are, anything else as compact JSON. */
export function jsonText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/** `512x768` → [512, 768]. */
export function parseSize(v: string | undefined): [number, number] | undefined {
  const m = v?.trim().match(/^(\d+)\s*x\s*(\d+)$/);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}
