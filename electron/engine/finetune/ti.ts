// Textual inversion (Gal et al. 2022): one new word whose token embedding is learned while every
// network stays frozen. The word-level tokenizer gets the word appended to its vocabulary; during
// training its id is fed as <pad> and an input mask `ti_mask` [B, L, 1] swaps the learned vector in
// right after the token-embedding lookup. The result is an A1111-style embedding file (`emb_params`
// [1, width]) whose metadata names the word; generation appends it to the vocabulary and the
// embedding table.
import type { Graph, Value } from '../onnx/graph.ts';
import type { LayerHooks } from '../nn/layers.ts';
import type { TextEncoderConfig } from '../nn/config.ts';
import { TEXT_PREFIX } from '../nn/text-encoder.ts';
import { WordTokenizer } from '../io/tokenizer.ts';
import type { TokenizerSpec } from '../io/model-package.ts';

export class TextualInversionError extends Error {
  override name = 'TextualInversionError';
}

export const TOKEN_EMBEDDING = `${TEXT_PREFIX}.embeddings.token_embedding.weight`;
export const EMBEDDING_PARAM = 'emb_params';
export const TI_MASK = 'ti_mask';
/** safetensors metadata key naming the word an embedding file teaches. */
export const TOKEN_METADATA = 'ldm_studio.token';

/** The word as the tokenizer will see it: one lower-case word of letters and digits. */
export function checkTriggerWord(word: string, vocabulary: readonly string[]): string {
  const w = word.trim().toLowerCase();
  if (!/^[\p{L}\p{N}]+$/u.test(w)) {
    throw new TextualInversionError(`textual inversion needs a trigger word of letters and digits only (one token), got ${JSON.stringify(word)}`);
  }
  if (vocabulary.includes(w)) {
    throw new TextualInversionError(`'${w}' is already a word of the model's vocabulary; pick a new, made-up trigger word (e.g. 'sks${w}')`);
  }
  return w;
}

/** The model's word tokenizer with `words` appended (ids vocabSize, vocabSize+1, …). */
export function extendTokenizer(spec: TokenizerSpec, words: readonly string[]): WordTokenizer {
  if (spec.type !== 'word' || !spec.vocabulary) {
    throw new TextualInversionError(`textual inversion needs the model's word tokenizer with an inline vocabulary (model.json tokenizer.type 'word')`);
  }
  return WordTokenizer.fromSpec({ ...spec, vocabulary: [...spec.vocabulary, ...words] });
}

/** Hook: after the token lookup, positions with ti_mask = 1 take the learned vector `emb_params`. */
export function textualInversionHooks(text: TextEncoderConfig): LayerHooks {
  return {
    embedding(g: Graph, name: string, ids: Value, y: Value): Value {
      if (`${name}.weight` !== TOKEN_EMBEDDING) return y;
      const [b, l] = ids.shape as [number, number];
      const mask = g.input(TI_MASK, 'float32', [b, l, 1]);
      const e = g.param(EMBEDDING_PARAM, [1, text.width], { kind: 'normal', std: 0.02 });
      return g.add(y, g.mul(mask, g.sub(e, y)));
    },
  };
}

/** Feeds for a batch of token ids: the new word's id becomes <pad> in the ids and 1 in the mask. */
export function tiFeeds(ids: BigInt64Array, wordId: number, padId: number): { ids: BigInt64Array; mask: Float32Array } {
  const mask = new Float32Array(ids.length);
  const out = ids.slice();
  const w = BigInt(wordId);
  for (let i = 0; i < ids.length; i++) {
    if (out[i] === w) {
      out[i] = BigInt(padId);
      mask[i] = 1;
    }
  }
  return { ids: out, mask };
}

/** Mean of the token embedding rows: a neutral starting point for the new word. */
export function meanEmbedding(table: Float32Array, width: number): Float32Array {
  const rows = table.length / width;
  const out = new Float32Array(width);
  for (let r = 0; r < rows; r++) for (let k = 0; k < width; k++) out[k] = out[k]! + table[r * width + k]! / rows;
  return out;
}
