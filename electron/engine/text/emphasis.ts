// A1111's "Original" emphasis (modules/sd_emphasis.py): the text encoder's output of one chunk, z
// [77, D], is multiplied row by row by the chunk's weights, then scaled so that its mean over all
// elements is what it was before: z *= w; z *= mean(z_before) / mean(z_after). Each chunk is
// restored to its own mean (A1111 encodes one chunk at a time; a prompt is one batch row).

import { TokenizerError } from '../io/tokenizers/types.ts';

/**
 * hidden: the encoder output of all chunks of one prompt, [chunks, tokens, D] row-major;
 * weights: one array of `tokens` multipliers per chunk (PromptChunk.weights).
 * Returns a new array; the input is not changed.
 */
export function applyEmphasis(hidden: Float32Array, weights: readonly ArrayLike<number>[]): Float32Array {
  const chunks = weights.length;
  if (chunks === 0) throw new TokenizerError('applyEmphasis needs the weights of at least one chunk');
  const tokens = weights[0]!.length;
  if (weights.some((w) => w.length !== tokens)) throw new TokenizerError('every chunk needs the same number of weights');
  const perChunk = hidden.length / chunks;
  const dim = perChunk / tokens;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new TokenizerError(`the hidden states (${hidden.length} values) are not ${chunks} chunks × ${tokens} tokens × D`);
  }
  const out = new Float32Array(hidden);
  for (let c = 0; c < chunks; c++) {
    const w = weights[c]!;
    let uniform = true;
    for (let t = 0; t < tokens; t++) if (w[t] !== 1) uniform = false;
    if (uniform) continue;
    const base = c * perChunk;
    let before = 0;
    let after = 0;
    for (let t = 0; t < tokens; t++) {
      const wt = w[t]!;
      for (let d = 0, i = base + t * dim; d < dim; d++, i++) {
        const v = out[i]!;
        before += v;
        out[i] = v * wt;
        after += out[i]!;
      }
    }
    const scale = Math.fround(before / perChunk) / Math.fround(after / perChunk);
    for (let i = base; i < base + perChunk; i++) out[i] = out[i]! * scale;
  }
  return out;
}
