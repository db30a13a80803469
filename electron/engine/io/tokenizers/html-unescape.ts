// Python's html.unescape, which CLIP's reference tokenizer runs twice over each prompt: named character
// references of the HTML standard (with or without the ';' where HTML allows it, longest name first),
// decimal and hex references, with HTML's replacements for invalid numbers. The tables are in
// resources/tokenizers/html-unescape.json (written by scripts/reference/clip_tokenizer_entities.py).

import fs from 'node:fs';
import { tokenizerResource } from './resources.ts';

interface Tables {
  named: Record<string, string>;
  invalidCharrefs: Record<string, string>;
  invalidCodepoints: number[];
}

let tables: { named: Map<string, string>; invalidCharrefs: Map<number, string>; invalidCodepoints: Set<number> } | null = null;

function load(): NonNullable<typeof tables> {
  if (tables) return tables;
  const file = tokenizerResource('html-unescape.json');
  let raw: Tables;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Tables;
  } catch (e) {
    throw new Error(`cannot read the HTML entity table ${file} (${(e as Error).message}); reinstall the app or set LDM_TOKENIZERS_DIR`);
  }
  tables = {
    named: new Map(Object.entries(raw.named)),
    invalidCharrefs: new Map(Object.entries(raw.invalidCharrefs).map(([k, v]) => [Number(k), v])),
    invalidCodepoints: new Set(raw.invalidCodepoints),
  };
  return tables;
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function numeric(ref: string): string {
  const t = load();
  const hex = ref[1] === 'x' || ref[1] === 'X';
  const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
  const big = BigInt(hex ? `0x${digits}` : digits);
  if (big > 0x10ffffn) return '\ufffd';
  const num = Number(big);
  const replaced = t.invalidCharrefs.get(num);
  if (replaced !== undefined) return replaced;
  if (num >= 0xd800 && num <= 0xdfff) return '\ufffd';
  if (t.invalidCodepoints.has(num)) return '';
  return String.fromCodePoint(num);
}

function named(ref: string): string {
  const { named } = load();
  const whole = named.get(ref);
  if (whole !== undefined) return whole;
  const chars = [...ref];
  for (let x = chars.length - 1; x > 1; x--) {
    const head = chars.slice(0, x).join('');
    const value = named.get(head);
    if (value !== undefined) return value + chars.slice(x).join('');
  }
  return '&' + ref;
}

/** html.unescape(text) of Python 3.11. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (_m, ref: string) => (ref[0] === '#' ? numeric(ref) : named(ref)));
}
