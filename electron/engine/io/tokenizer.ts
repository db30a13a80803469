// A word-level tokenizer whose vocabulary ships inside the model (model.json `tokenizer`), for text
// encoders trained from scratch as the paper's τθ. Text is lower-cased and split into runs of letters
// and digits (any script); each prompt becomes exactly maxLength ids: <start>, words, <end>, <pad>….
//
// Spec fields: type 'word', maxLength, vocabulary (special tokens first), and
// punctuation: 'drop' (default for vocabularies built here) or 'keep' (each punctuation mark is a
// token). Specs without the field are read as 'keep', the behaviour of the first embedded model.
// Words outside the vocabulary become <unk> when the vocabulary has it, otherwise they are dropped.

import { tensor, type TensorData } from '../tensor.ts';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export const PAD = '<pad>';
export const START = '<start>';
export const END = '<end>';
export const UNK = '<unk>';
const START_ALIASES = [START, '<bos>', '<|startoftext|>'];
const END_ALIASES = [END, '<eos>', '<|endoftext|>'];

export type Punctuation = 'drop' | 'keep';

export interface WordTokenizerSpec {
  type: 'word';
  maxLength: number;
  vocabulary: string[];
  punctuation?: Punctuation;
}

const MAX_VOCAB = 10_000_000;
const MAX_LENGTH = 4096;
const WORDS = /[\p{L}\p{N}]+/gu;
const WORDS_AND_PUNCT = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

export interface BuildOptions {
  /** Context length, including <start> and <end> (default 77, as CLIP). */
  maxLength?: number;
  /** Words seen fewer times are left out (they become <unk>). Default 1. */
  minCount?: number;
  /** Keep at most this many words, the most frequent first. */
  maxWords?: number;
  punctuation?: Punctuation;
}

export class WordTokenizer {
  readonly maxLength: number;
  readonly punctuation: Punctuation;
  readonly pad: number;
  readonly start: number;
  readonly end: number;
  /** Null when the vocabulary has no <unk>: unknown words are dropped. */
  readonly unk: number | null;
  private readonly vocabulary: readonly string[];
  private readonly ids: Map<string, number>;

  private constructor(vocabulary: string[], maxLength: number, punctuation: Punctuation) {
    this.vocabulary = vocabulary;
    this.maxLength = maxLength;
    this.punctuation = punctuation;
    this.ids = new Map();
    vocabulary.forEach((w, i) => {
      if (this.ids.has(w)) throw new TokenizerError(`tokenizer vocabulary lists ${JSON.stringify(w)} twice (entries ${this.ids.get(w)} and ${i})`);
      this.ids.set(w, i);
    });
    const find = (names: string[], what: string): number => {
      for (const n of names) {
        const id = this.ids.get(n);
        if (id !== undefined) return id;
      }
      throw new TokenizerError(`tokenizer vocabulary lacks the ${what} token (${names[0]})`);
    };
    this.pad = find([PAD], 'padding');
    this.start = find(START_ALIASES, 'start');
    this.end = find(END_ALIASES, 'end');
    this.unk = this.ids.get(UNK) ?? null;
  }

  /** Reads and validates a spec (model.json `tokenizer`). */
  static fromSpec(spec: unknown): WordTokenizer {
    if (typeof spec !== 'object' || spec === null) throw new TokenizerError('tokenizer spec must be an object');
    const s = spec as Record<string, unknown>;
    if (s.type !== 'word') throw new TokenizerError(`tokenizer type ${JSON.stringify(s.type)} is not 'word'`);
    const L = s.maxLength;
    if (typeof L !== 'number' || !Number.isInteger(L) || L < 3 || L > MAX_LENGTH) {
      throw new TokenizerError(`tokenizer maxLength must be a whole number from 3 to ${MAX_LENGTH}, got ${JSON.stringify(L)}`);
    }
    const v = s.vocabulary;
    if (!Array.isArray(v) || v.length > MAX_VOCAB || !v.every((w) => typeof w === 'string' && w.length > 0)) {
      throw new TokenizerError(`tokenizer vocabulary must be a list of at most ${MAX_VOCAB} non-empty strings`);
    }
    const p = s.punctuation ?? 'keep';
    if (p !== 'drop' && p !== 'keep') throw new TokenizerError(`tokenizer punctuation must be 'drop' or 'keep', got ${JSON.stringify(p)}`);
    return new WordTokenizer([...(v as string[])], L, p);
  }

  /** Builds a vocabulary from captions: special tokens, then words by count (most frequent first, ties alphabetical). */
  static build(captions: Iterable<string>, opts: BuildOptions = {}): WordTokenizer {
    const { maxLength = 77, minCount = 1, maxWords = Infinity, punctuation = 'drop' } = opts;
    if (!Number.isInteger(minCount) || minCount < 1) throw new TokenizerError(`minCount must be a whole number ≥ 1, got ${minCount}`);
    if (!(maxWords >= 0)) throw new TokenizerError(`maxWords must be ≥ 0, got ${maxWords}`);
    const counts = new Map<string, number>();
    const split = punctuation === 'keep' ? WORDS_AND_PUNCT : WORDS;
    for (const c of captions) {
      if (typeof c !== 'string') throw new TokenizerError('captions must be strings');
      for (const w of c.toLowerCase().match(split) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const special = new Set([PAD, START, END, UNK]);
    const words = [...counts.entries()]
      .filter(([w, n]) => n >= minCount && !special.has(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxWords)
      .map(([w]) => w);
    return WordTokenizer.fromSpec({ type: 'word', maxLength, vocabulary: [PAD, START, END, UNK, ...words], punctuation });
  }

  get vocabSize(): number {
    return this.vocabulary.length;
  }

  /** The text as the tokenizer sees it: lower-cased words (and punctuation marks when kept). */
  words(text: string): string[] {
    if (typeof text !== 'string') throw new TokenizerError('text to tokenize must be a string');
    return text.toLowerCase().match(this.punctuation === 'keep' ? WORDS_AND_PUNCT : WORDS) ?? [];
  }

  /** Exactly maxLength ids: <start>, up to maxLength − 2 words, <end>, then <pad>. */
  encode(text: string): Int32Array {
    const out = new Int32Array(this.maxLength).fill(this.pad);
    out[0] = this.start;
    let n = 1;
    for (const w of this.words(text)) {
      if (n === this.maxLength - 1) break;
      const id = this.ids.get(w) ?? this.unk;
      if (id !== null) out[n++] = id;
    }
    out[n] = this.end;
    return out;
  }

  /** input_ids [B, maxLength] as int64, what the text encoder graph takes. */
  encodeBatch(texts: readonly string[]): TensorData<'int64'> {
    const L = this.maxLength;
    const data = new BigInt64Array(texts.length * L);
    texts.forEach((t, b) => this.encode(t).forEach((id, k) => (data[b * L + k] = BigInt(id))));
    return tensor('int64', [texts.length, L], data);
  }

  /** Words of the ids, without special tokens, joined by spaces. */
  decode(ids: ArrayLike<number | bigint>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      if (id === this.end) break;
      if (id === this.pad || id === this.start) continue;
      const w = this.vocabulary[id];
      if (w === undefined) throw new TokenizerError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
      out.push(w);
    }
    return out.join(' ');
  }

  /** The JSON-serialisable spec, as model.json stores it. */
  toSpec(): WordTokenizerSpec {
    return { type: 'word', maxLength: this.maxLength, vocabulary: [...this.vocabulary], punctuation: this.punctuation };
  }
}
