// What the prompt chunker (electron/engine/text) needs from a sub-word tokenizer.

// One error class for every tokenizer (defined beside the word tokenizer, which came first).
export { TokenizerError } from '../tokenizer.ts';

export interface TextTokenizer {
  /** Positions a text encoder takes, start and end tokens included (77 for CLIP and LDM's BERT). */
  readonly maxLength: number;
  /** Start token (CLIP <|startoftext|> 49406, BERT [CLS] 101). */
  readonly start: number;
  /** End token (CLIP <|endoftext|> 49407, BERT [SEP] 102). */
  readonly end: number;
  /** Padding after the end token (SD 1.x: the end token; SD 2.x / OpenCLIP: 0; BERT [PAD] 0). */
  readonly pad: number;
  /** The id of ',' as a word of its own, where A1111 prefers to cut long prompts; null when there is none. */
  readonly comma: number | null;
  /** The ids of a text, without start, end or padding. */
  textIds(text: string): number[];
  /** The vocabulary entry of an id, for display. */
  tokenText(id: number): string;
}

/** [start, ids… (at most maxLength − 2), end, pad…]: exactly maxLength ids. */
export function frame(tok: TextTokenizer, ids: readonly number[]): Int32Array {
  const out = new Int32Array(tok.maxLength).fill(tok.pad);
  out[0] = tok.start;
  const n = Math.min(ids.length, tok.maxLength - 2);
  for (let i = 0; i < n; i++) out[1 + i] = ids[i]!;
  out[1 + n] = tok.end;
  return out;
}
