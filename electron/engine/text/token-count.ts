// Which tokenizer reads a model's prompts, and how many tokens a prompt takes in it: what
// `ldm tokenize` prints and the prompt.tokenCount request returns ("38/75" under the prompt).
//
// The tokenizer is found from the model's files, never from a family name:
//   a model package (model.json): its tokenizer section: 'word' (this project's word tokenizer, inline
//     or a JSON file of the package), 'clip-bpe' (the bundled CLIP vocabulary), 'wordpiece' (a vocab.txt
//     of the package, or the bundled bert-base-uncased);
//   a folder with tokenizer/vocab.json + merges.txt (diffusers) or those two files itself: CLIP BPE from
//     them; with tokenizer/vocab.txt or vocab.txt: WordPiece from it;
//   a .safetensors file whose text encoder is the latent diffusion paper's BERT-style τθ
//     (cond_stage_model.transformer.token_emb: txt2img-f8-large): the bundled bert-base-uncased;
//   anything else (no model, a single-file checkpoint): the bundled CLIP vocabulary.
// `name` forces one: 'clip' (SD 1.x, pads with the end token), 'openclip' (SD 2.x, pads with 0), 'bert'.

import fs from 'node:fs';
import path from 'node:path';
import { ClipTokenizer } from '../io/tokenizers/clip.ts';
import { TokenizerError, type TextTokenizer } from '../io/tokenizers/types.ts';
import { WordPieceTokenizer } from '../io/tokenizers/wordpiece.ts';
import { WordTokenizer } from '../io/tokenizer.ts';
import { isBreak, parsePromptAttention, preparePrompt } from './index.ts';
import { weightedWordIds } from './word-emphasis.ts';
import type { LoraTag } from './extra-networks.ts';

export const TOKENIZER_NAMES = ['clip', 'openclip', 'bert'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

export type PromptTokenizer =
  | { kind: 'chunked'; label: string; tokenizer: TextTokenizer }
  | { kind: 'word'; label: string; tokenizer: WordTokenizer };

const MAX_MODEL_JSON = 64 * 1024 * 1024;

function byName(name: TokenizerName): PromptTokenizer {
  if (name === 'clip') return { kind: 'chunked', label: 'CLIP BPE (SD 1.x)', tokenizer: ClipTokenizer.bundled() };
  if (name === 'openclip') return { kind: 'chunked', label: 'OpenCLIP BPE (SD 2.x)', tokenizer: ClipTokenizer.bundled({ pad: 0 }) };
  return { kind: 'chunked', label: 'bert-base-uncased WordPiece', tokenizer: WordPieceTokenizer.bertBaseUncased() };
}

const isFile = (f: string): boolean => fs.existsSync(f) && fs.statSync(f).isFile();

function fromPackage(dir: string): PromptTokenizer {
  const file = path.join(dir, 'model.json');
  if (fs.statSync(file).size > MAX_MODEL_JSON) throw new TokenizerError(`${file} is larger than a model.json can be`);
  let spec: Record<string, unknown> | undefined;
  try {
    spec = (JSON.parse(fs.readFileSync(file, 'utf8')) as { tokenizer?: Record<string, unknown> }).tokenizer;
  } catch (e) {
    throw new TokenizerError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!spec) throw new TokenizerError(`the model ${dir} has no tokenizer (it takes no prompt)`);
  const inPackage = (f: unknown): string => {
    if (typeof f !== 'string' || f.includes('..') || path.isAbsolute(f)) throw new TokenizerError(`${file}: tokenizer.file must name a file of the package`);
    return path.join(dir, f);
  };
  switch (spec.type) {
    case 'word': {
      const vocabulary = spec.vocabulary ?? JSON.parse(fs.readFileSync(inPackage(spec.file), 'utf8'));
      return { kind: 'word', label: 'word (model package)', tokenizer: WordTokenizer.fromSpec({ ...spec, vocabulary }) };
    }
    case 'clip-bpe':
      return byName('clip');
    case 'wordpiece':
      return {
        kind: 'chunked',
        label: 'WordPiece (model package)',
        tokenizer: spec.file === undefined ? WordPieceTokenizer.bertBaseUncased() : WordPieceTokenizer.fromVocabFile(inPackage(spec.file)),
      };
    default:
      throw new TokenizerError(`${file}: tokenizer type ${JSON.stringify(spec.type)} is not one this studio reads (word, clip-bpe, wordpiece)`);
  }
}

/** The tokenizer for prompts of the model at `location` (a folder or file; none: SD 1.x's CLIP). */
export function promptTokenizerFor(location?: string, name?: TokenizerName): PromptTokenizer {
  if (name !== undefined) {
    if (!TOKENIZER_NAMES.includes(name)) throw new TokenizerError(`unknown tokenizer ${JSON.stringify(name)}; choose ${TOKENIZER_NAMES.join(', ')}`);
    return byName(name);
  }
  if (location === undefined) return byName('clip');
  if (!fs.existsSync(location)) throw new TokenizerError(`no model at ${location}`);
  if (!fs.statSync(location).isDirectory()) return hasBertTextEncoder(location) ? byName('bert') : byName('clip');
  if (isFile(path.join(location, 'model.json'))) return fromPackage(location);
  for (const dir of [path.join(location, 'tokenizer'), location]) {
    if (isFile(path.join(dir, 'vocab.json')) && isFile(path.join(dir, 'merges.txt'))) {
      return { kind: 'chunked', label: `CLIP BPE (${path.relative(location, dir) || '.'}/)`, tokenizer: ClipTokenizer.fromDiffusersFolder(dir) };
    }
    if (isFile(path.join(dir, 'vocab.txt'))) {
      return { kind: 'chunked', label: `WordPiece (${path.relative(location, dir) || '.'}/)`, tokenizer: WordPieceTokenizer.fromVocabFile(path.join(dir, 'vocab.txt')) };
    }
  }
  return byName('clip');
}

/** Whether a .safetensors file's header names the paper's BERT-style text encoder (header only, read once per change). */
function hasBertTextEncoder(file: string): boolean {
  if (!/\.safetensors$/i.test(file)) return false;
  const fd = fs.openSync(file, 'r');
  try {
    const size = Buffer.alloc(8);
    if (fs.readSync(fd, size, 0, 8, 0) !== 8) return false;
    const n = Number(size.readBigUInt64LE(0));
    if (n > MAX_MODEL_JSON) return false;
    const header = Buffer.alloc(n);
    if (fs.readSync(fd, header, 0, n, 8) !== n) return false;
    return header.includes('"cond_stage_model.transformer.token_emb.weight"');
  } finally {
    fs.closeSync(fd);
  }
}

export interface PromptTokenReport {
  tokenizer: string;
  /** A1111's count: 75 for each full chunk, the real tokens of the last. */
  tokenCount: number;
  /** The count's limit in whole chunks: the "75" of "38/75". */
  maxTokens: number;
  /** Per chunk: its ids (with start, end and padding) and the prompt tokens in it. */
  chunks: { ids: number[]; tokens: number }[];
  /** Extra-network tags taken out of the prompt. */
  loras: LoraTag[];
}

export function countPromptTokens(prompt: string, tok: PromptTokenizer): PromptTokenReport {
  if (tok.kind === 'word') {
    // The word tokenizer takes one window of maxLength − 2 words; emphasis brackets are not words (word-emphasis.ts).
    const text = parsePromptAttention(prompt).filter((p) => !isBreak(p)).map((p) => p.text).join(' ');
    const words = tok.tokenizer.words(text).filter((w) => tok.tokenizer.encode(w)[1] !== tok.tokenizer.end);
    const max = tok.tokenizer.maxLength - 2;
    return {
      tokenizer: tok.label,
      tokenCount: words.length,
      maxTokens: max,
      chunks: [{ ids: weightedWordIds(prompt, (t) => tok.tokenizer.encode(t), tok.tokenizer.maxLength).ids, tokens: Math.min(words.length, max) }],
      loras: [],
    };
  }
  const p = preparePrompt(prompt, tok.tokenizer);
  return {
    tokenizer: tok.label,
    tokenCount: p.tokenCount,
    maxTokens: p.maxTokens,
    chunks: p.chunks.map((c) => ({ ids: [...c.ids], tokens: c.length })),
    loras: p.loras,
  };
}

/** Keeps one tokenizer per model location (re-read when the folder or file changes), for repeated
 *  counts while a user types. */
export class PromptTokenCounter {
  private readonly cache = new Map<string, { stamp: number; tok: PromptTokenizer }>();

  count(prompt: string, location?: string): PromptTokenReport {
    return countPromptTokens(prompt, this.tokenizerFor(location));
  }

  private tokenizerFor(location?: string): PromptTokenizer {
    const key = location ?? '';
    const stamp = location && fs.existsSync(location) ? fs.statSync(location).mtimeMs : 0;
    const hit = this.cache.get(key);
    if (hit && hit.stamp === stamp) return hit.tok;
    const tok = promptTokenizerFor(location);
    if (this.cache.size >= 16) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { stamp, tok });
    return tok;
  }
}
