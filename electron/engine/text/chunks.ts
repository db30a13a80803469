// Prompts → 77-token chunks, as AUTOMATIC1111 builds them (modules/sd_hijack_clip.py, tokenize_line).
//
// The prompt is parsed for emphasis (attention.ts); each weighted text is tokenized on its own; tokens
// fill chunks of 75. When a chunk is full and the token that does not fit is not a comma, and a comma
// lies within the last `commaBacktrack` (A1111's default 20) tokens of the chunk, the tokens after that
// comma move to the next chunk ("comma padding backtrack"). BREAK closes the current chunk. Each chunk is
// padded to 75 with the end token (weight 1) and framed: start, 75 tokens, end = 77 ids. Where the
// tokenizer pads with another id (SD 2.x: 0), every position after the chunk's first end token gets that
// id, as A1111 does before the text encoder. The chunks are encoded separately and their outputs joined
// along the token axis ([chunks·77, D]); applyEmphasis (emphasis.ts) then applies the weights.
//
// Token count ("38/75" under the prompt): full chunks count 75, the last chunk its real tokens;
// maxTokens is that count rounded up to a multiple of 75 (at least 75).
//
// Textual inversion: pass `embeddings`, a map from an embedding's name (its file name without extension)
// to its number of vectors. Where a weighted text's tokens contain the tokens of a name, the chunk gets
// that many placeholder ids (0) and an entry in `embeddings` {name, position, vectors}: the rows
// [position, position + vectors) of the chunk's 77 token embeddings are to be replaced by the
// embedding's vectors before the transformer runs (position counts the start token). An embedding never
// straddles two chunks: if it does not fit in what is left of a chunk, a new chunk starts. The longest
// name wins where several start at the same token. (Unlike A1111, a comma backtrack carries the
// placeholders it moves along with their entries.)

import { frame, TokenizerError, type TextTokenizer } from '../io/tokenizers/types.ts';
import { isBreak, parsePromptAttention } from './attention.ts';

export interface EmbeddingPlacement {
  name: string;
  /** First row of the chunk's 77 (the start token is row 0). */
  position: number;
  vectors: number;
}

export interface PromptChunk {
  /** 77 token ids: start, 75 (text, placeholders 0, end-token padding), end; then SD 2.x padding. */
  ids: Int32Array;
  /** 77 emphasis multipliers (1 for start, end and padding). */
  weights: Float32Array;
  embeddings: EmbeddingPlacement[];
  /** Prompt tokens in the chunk (text and placeholders; not start, end or padding). */
  length: number;
}

export interface ChunkedPrompt {
  chunks: PromptChunk[];
  /** Tokens of the prompt as A1111 counts them (see above). */
  tokenCount: number;
  /** tokenCount rounded up to whole chunks of 75: the "75" of "38/75". */
  maxTokens: number;
}

export interface ChunkOptions {
  /** Embedding name → number of vectors (textual inversion). */
  embeddings?: ReadonlyMap<string, number>;
  /** A1111's comma_padding_backtrack: 0 turns it off. Default 20. */
  commaBacktrack?: number;
  /** Parse emphasis; false reads the whole prompt as plain text at weight 1 (A1111 emphasis "None"). */
  emphasis?: boolean;
}

export const CHUNK_TOKENS = 75;

interface NameIds {
  name: string;
  ids: number[];
  vectors: number;
}

function embeddingLookup(tok: TextTokenizer, embeddings: ReadonlyMap<string, number> | undefined): Map<number, NameIds[]> {
  const byFirst = new Map<number, NameIds[]>();
  if (!embeddings) return byFirst;
  for (const [name, vectors] of embeddings) {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > CHUNK_TOKENS) {
      throw new TokenizerError(`embedding ${JSON.stringify(name)} has ${vectors} vectors; a prompt chunk holds 1 to ${CHUNK_TOKENS}`);
    }
    const ids = tok.textIds(name);
    if (ids.length === 0) continue;
    const list = byFirst.get(ids[0]!) ?? [];
    list.push({ name, ids, vectors });
    list.sort((a, b) => b.ids.length - a.ids.length);
    byFirst.set(ids[0]!, list);
  }
  return byFirst;
}

function embeddingAt(lookup: Map<number, NameIds[]>, tokens: readonly number[], at: number): NameIds | null {
  for (const e of lookup.get(tokens[at]!) ?? []) {
    if (e.ids.every((id, k) => tokens[at + k] === id)) return e;
  }
  return null;
}

/** A1111's empty chunk: start, then end tokens (then the tokenizer's padding), all weights 1. */
export function emptyChunk(tok: TextTokenizer): PromptChunk {
  return { ids: frame(tok, []), weights: new Float32Array(tok.maxLength).fill(1), embeddings: [], length: 0 };
}

export function chunkPrompt(prompt: string, tok: TextTokenizer, opts: ChunkOptions = {}): ChunkedPrompt {
  if (typeof prompt !== 'string') throw new TokenizerError('the prompt must be a string');
  if (tok.maxLength !== CHUNK_TOKENS + 2) throw new TokenizerError(`prompt chunks need a tokenizer of ${CHUNK_TOKENS + 2} positions, this one has ${tok.maxLength}`);
  const backtrack = opts.commaBacktrack ?? 20;
  const lookup = embeddingLookup(tok, opts.embeddings);
  const parsed = opts.emphasis === false ? [{ text: prompt, weight: 1 }] : parsePromptAttention(prompt);

  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let mults: number[] = [];
  let fixes: { name: string; offset: number; vectors: number }[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast = false): void => {
    tokenCount += isLast ? tokens.length : CHUNK_TOKENS;
    const length = tokens.length;
    while (tokens.length < CHUNK_TOKENS) {
      tokens.push(tok.end);
      mults.push(1);
    }
    const ids = Int32Array.from([tok.start, ...tokens, tok.end]);
    const firstEnd = ids.indexOf(tok.end);
    if (tok.pad !== tok.end) ids.fill(tok.pad, firstEnd + 1);
    chunks.push({
      ids,
      weights: Float32Array.from([1, ...mults, 1]),
      embeddings: fixes.map((f) => ({ name: f.name, position: f.offset + 1, vectors: f.vectors })),
      length,
    });
    tokens = [];
    mults = [];
    fixes = [];
    lastComma = -1;
  };

  for (const piece of parsed) {
    if (isBreak(piece)) {
      nextChunk();
      continue;
    }
    const ids = tok.textIds(piece.text);
    for (let position = 0; position < ids.length; ) {
      const token = ids[position]!;
      if (token === tok.comma) {
        lastComma = tokens.length;
      } else if (backtrack !== 0 && tokens.length === CHUNK_TOKENS && lastComma !== -1 && tokens.length - lastComma <= backtrack) {
        const cut = lastComma + 1;
        const movedTokens = tokens.slice(cut);
        const movedMults = mults.slice(cut);
        const movedFixes = fixes.filter((f) => f.offset >= cut).map((f) => ({ ...f, offset: f.offset - cut }));
        tokens = tokens.slice(0, cut);
        mults = mults.slice(0, cut);
        fixes = fixes.filter((f) => f.offset < cut);
        nextChunk();
        tokens = movedTokens;
        mults = movedMults;
        fixes = movedFixes;
      }
      if (tokens.length === CHUNK_TOKENS) nextChunk();

      const emb = embeddingAt(lookup, ids, position);
      if (!emb) {
        tokens.push(token);
        mults.push(piece.weight);
        position++;
        continue;
      }
      if (tokens.length + emb.vectors > CHUNK_TOKENS) nextChunk();
      fixes.push({ name: emb.name, offset: tokens.length, vectors: emb.vectors });
      for (let k = 0; k < emb.vectors; k++) {
        tokens.push(0);
        mults.push(piece.weight);
      }
      position += emb.ids.length;
    }
  }
  if (tokens.length > 0 || chunks.length === 0) nextChunk(true);

  return { chunks, tokenCount, maxTokens: Math.ceil(Math.max(tokenCount, 1) / CHUNK_TOKENS) * CHUNK_TOKENS };
}

/** Positive and negative prompts with the same number of chunks: the shorter gets empty chunks, the
 *  encoding of an empty prompt, as A1111's "pad prompt/negative prompt to be same length" does. */
export function padToSameChunkCount(a: readonly PromptChunk[], b: readonly PromptChunk[], tok: TextTokenizer): [PromptChunk[], PromptChunk[]] {
  const n = Math.max(a.length, b.length);
  const pad = (c: readonly PromptChunk[]): PromptChunk[] => [...c, ...Array.from({ length: n - c.length }, () => emptyChunk(tok))];
  return [pad(a), pad(b)];
}
