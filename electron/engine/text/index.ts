// Prompts as AUTOMATIC1111 users write them, turned into what a text encoder takes.
//
//   const tok = ClipTokenizer.bundled();                        // SD 1.x; { pad: 0 } for SD 2.x
//   const p = preparePrompt('a (red:1.2) cat <lora:ink:0.8>', tok, { embeddings });
//   p.loras        → [{ name: 'ink', te: 0.8, unet: 0.8 }]    (tags taken out of the text)
//   p.chunks       → [{ ids: Int32Array(77), weights: Float32Array(77), embeddings: [...] }, …]
//   p.tokenCount / p.maxTokens → "5/75"
//   [pos, neg] = padToSameChunkCount(p.chunks, n.chunks, tok) // for one batched UNet call
//   encode each chunk's ids (splice textual-inversion rows at chunk.embeddings[i].position),
//   join the outputs to [chunks, 77, D], then
//   applyEmphasis(hidden, chunks.map((c) => c.weights))      → [chunks·77, D] context
//
// Left to the text encoder: clip skip (A1111's "Clip skip" n takes hidden layer −n, then the final
// layer norm, for SD 1.x).

import type { TextTokenizer } from '../io/tokenizers/types.ts';
import { chunkPrompt, type ChunkedPrompt, type ChunkOptions } from './chunks.ts';
import { extractExtraNetworks, type ExtraNetworkTag, type LoraTag } from './extra-networks.ts';

export { parsePromptAttention, isBreak, BREAK_WEIGHT, type WeightedText } from './attention.ts';
export { chunkPrompt, emptyChunk, padToSameChunkCount, CHUNK_TOKENS, type ChunkedPrompt, type ChunkOptions, type PromptChunk, type EmbeddingPlacement } from './chunks.ts';
export { applyEmphasis } from './emphasis.ts';
export { extractExtraNetworks, PromptSyntaxError, type ExtraNetworkTag, type LoraTag, type ExtractedTags } from './extra-networks.ts';

export interface PreparedPrompt extends ChunkedPrompt {
  /** The prompt without extra-network tags, as it was chunked. */
  text: string;
  loras: LoraTag[];
  tags: ExtraNetworkTag[];
}

/** Extra-network tags out, then emphasis and chunks. */
export function preparePrompt(prompt: string, tok: TextTokenizer, opts: ChunkOptions = {}): PreparedPrompt {
  const { prompt: text, tags, loras } = extractExtraNetworks(prompt);
  return { text, tags, loras, ...chunkPrompt(text, tok, opts) };
}
