// A1111's emphasis syntax for models with a word tokenizer (one window of maxLength ids, no chunks):
// "(red:1.6) apple" is read as the words "red apple" with weight 1.6 on "red", and the text encoder's
// output is then weighted as for CLIP prompts (emphasis.ts). BREAK has no meaning with one window and is
// dropped. A prompt without brackets is tokenized whole, exactly as before.

import { BREAK_WEIGHT, parsePromptAttention } from './attention.ts';

export interface WeightedIds {
  /** Exactly maxLength ids: start, words, end, padding (as `tokenize` frames them). */
  ids: number[];
  /** One multiplier per id (1 for start, end and padding); null when every word has weight 1. */
  weights: Float32Array | null;
}

/** `tokenize`: a prompt → exactly `length` ids framed <start> … <end> <pad>… (the word tokenizer's encode). */
export function weightedWordIds(prompt: string, tokenize: (text: string) => ArrayLike<number>, length: number): WeightedIds {
  const pieces = parsePromptAttention(prompt).filter((p) => p.weight !== BREAK_WEIGHT);
  if (pieces.every((p) => p.weight === 1)) return { ids: Array.from(tokenize(pieces.map((p) => p.text).join(' '))), weights: null };
  const empty = tokenize('');
  const [start, end, pad] = [empty[0]!, empty[1]!, empty[2] ?? empty[1]!];
  const ids = [start];
  const weights = [1];
  for (const p of pieces) {
    const t = tokenize(p.text);
    for (let i = 1; i < t.length && t[i] !== end && ids.length < length - 1; i++) {
      ids.push(t[i]!);
      weights.push(p.weight);
    }
  }
  ids.push(end);
  weights.push(1);
  while (ids.length < length) {
    ids.push(pad);
    weights.push(1);
  }
  return { ids, weights: Float32Array.from(weights) };
}
