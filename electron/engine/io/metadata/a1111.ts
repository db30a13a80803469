// AUTOMATIC1111's infotext (modules/infotext_utils.py parse_generation_parameters): the prompt lines,
// `Negative prompt:` and the lines after it, and a last line of `key: value` pairs when it holds at least
// three. Linear in the text's length (see infotext-scan.ts).
import type { GenerationParams } from './params.ts';
import { GenerationParamsError, parseSize, toInt, toNum } from './common.ts';
import { FIELD_BY_KEY, parseHashes } from './fields.ts';
import { scanInfotextPairs } from './infotext-scan.ts';

/** A1111's unquote: a value in double quotes is JSON; if it does not parse, it stays as written. */
function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      const s = JSON.parse(v) as unknown;
      if (typeof s === 'string') return s;
    } catch {
      // not JSON after all: keep as written, as A1111 does
    }
  }
  return v;
}

/** Parses infotext by key, not position, as A1111's parse_generation_parameters does. */
export function parseParameters(text: string): GenerationParams {
  if (typeof text !== 'string') throw new GenerationParamsError('parameters text must be a string');
  const lines = text.trim().split('\n');
  let last = lines.pop() ?? '';
  let pairs = scanInfotextPairs(last);
  if (pairs.length < 3) {
    lines.push(last);
    last = '';
    pairs = [];
  }
  let prompt = '';
  let negative = '';
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    if (inNegative) negative += (negative === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const raw = new Map<string, string>();
  for (const { key, value } of pairs) raw.set(key.trim(), unquote(value.trim()));
  return fromInfotextPairs(prompt, negative, raw, 'a1111');
}

/**
 * Prompt, negative prompt and `key → text` pairs (A1111's names) as GenerationParams: each key with a field
 * is converted; a value that does not convert (`Steps: many`) stays in extras as written, with every
 * other key.
 */
export function fromInfotextPairs(
  prompt: string,
  negative: string,
  raw: ReadonlyMap<string, string>,
  source?: GenerationParams['source'],
): GenerationParams {
  const p: GenerationParams = { prompt, negative, extras: {} };
  if (source) p.source = source;
  const out = p as unknown as Record<string, unknown>;
  for (const [key, v] of raw) {
    const f = FIELD_BY_KEY.get(key);
    let done = false;
    if (f?.kind === 'size') {
      const s = parseSize(v);
      if (s) {
        if (key === 'Size') [p.width, p.height] = s;
        else out[f.field] = { width: s[0], height: s[1] };
        done = true;
      }
    } else if (f) {
      const value = f.kind === 'int' ? toInt(v) : f.kind === 'num' ? toNum(v) : f.kind === 'hashes' ? parseHashes(v) : v;
      if (value !== undefined) {
        out[f.field] = value;
        done = true;
      }
    }
    if (!done) p.extras[key] = v;
  }
  return p;
}
