// CLIP's byte-level BPE tokenizer, giving the ids of openai/CLIP's reference tokenizer
// (clip/simple_tokenizer.py), which Stable Diffusion 1.x (CLIP ViT-L/14) and 2.x (OpenCLIP ViT-H/14)
// use with the same vocabulary of 49,408 entries.
//
// Per prompt: html-unescape twice, strip, collapse runs of white space to one space, strip, lower-case;
// split with CLIP's pattern (the special tokens, the contractions 's 't 're 've 'm 'll 'd, runs of
// letters, single digits, runs of other non-space characters); map each piece's UTF-8 bytes to the 256
// printable stand-ins of GPT-2's byte encoder; mark the last symbol with </w>; merge pairs by rank until
// no ranked pair is left.
//
// Not done: the reference first runs ftfy.fix_text, which Debian does not ship. For plain prompts it
// changes nothing; it would turn mojibake back into the intended text ("cafÃ©" → "café"), curly quotes
// into straight ones ("don’t" → "don't", so ’t would become the contraction token), full-width forms
// into ASCII ("ＡＢＣ" → "abc"), ligatures into letters ("ﬁ" → "fi"), and apply NFC normalisation (a
// decomposed "é" becomes one letter). A prompt with those characters may get different ids here than in
// a tool with ftfy installed; tools without it (transformers' CLIPTokenizer falls back to a BERT-style
// clean-up) differ from the reference in their own ways.
//
// Vocabulary: the bundled resources/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz (openai/CLIP, MIT), or
// a diffusers `tokenizer/` folder (vocab.json + merges.txt).

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { htmlUnescape } from './html-unescape.ts';
import { tokenizerResource } from './resources.ts';
import { frame, TokenizerError, type TextTokenizer } from './types.ts';

export const CLIP_START_TEXT = '<|startoftext|>';
export const CLIP_END_TEXT = '<|endoftext|>';
export const CLIP_MAX_LENGTH = 77;
/** Merges CLIP uses: 49152 − 256 − 2 (the rest of the 16e6 file is never read). */
export const CLIP_MERGES = 48_894;

const MAX_FILE = 64 * 1024 * 1024;

/** GPT-2's byte → printable character table: printable Latin-1 bytes stand for themselves, the others
 *  are moved to U+0100 onwards in byte order. */
function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return table;
}
const BYTE_ENCODER = bytesToUnicode();
/** The 256 byte symbols in the reference's vocabulary order: the printable bytes first, then the moved ones. */
const BYTE_SYMBOLS = [...BYTE_ENCODER].sort((a, b) => vocabOrder(a) - vocabOrder(b));
function vocabOrder(c: string): number {
  const code = c.charCodeAt(0);
  return code < 256 ? code : 1000 + code;
}
const BYTE_DECODER = new Map(BYTE_ENCODER.map((c, b) => [c, b]));

// regex's \s (Unicode White_Space): JS's \s lacks U+0085 and has U+FEFF.
const WS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN = new RegExp(`[${WS}]+`, 'gu');
// Python's str.strip() also strips U+001C–U+001F.
const STRIP = new RegExp(`^[${WS}\\u001c-\\u001f]+|[${WS}\\u001c-\\u001f]+$`, 'gu');
const PIECES = new RegExp(`<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WS}\\p{L}\\p{N}]+`, 'giu');

/** The reference's clean-up without ftfy: html.unescape twice, white space collapsed, lower case. */
export function clipCleanText(text: string): string {
  const unescaped = htmlUnescape(htmlUnescape(text)).replace(STRIP, '');
  return unescaped.replace(WS_RUN, ' ').replace(STRIP, '').toLowerCase();
}

/** The pieces CLIP's pattern splits a cleaned text into (before BPE). */
export function clipPieces(cleaned: string): string[] {
  return cleaned.match(PIECES) ?? [];
}

export interface ClipTokenizerOptions {
  /** Padding id: 'end' pads with <|endoftext|> (SD 1.x), a number pads with that id (SD 2.x: 0). */
  pad?: 'end' | number;
}

export class ClipTokenizer implements TextTokenizer {
  readonly maxLength = CLIP_MAX_LENGTH;
  readonly start: number;
  readonly end: number;
  readonly pad: number;
  readonly comma: number | null;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, number[]>();

  private constructor(encoder: Map<string, number>, merges: [string, string][], opts: ClipTokenizerOptions, source: string) {
    this.encoder = encoder;
    this.decoder = [];
    for (const [t, id] of encoder) this.decoder[id] = t;
    this.ranks = RANKS.get(merges) ?? new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
    RANKS.set(merges, this.ranks);
    const need = (t: string): number => {
      const id = encoder.get(t);
      if (id === undefined) throw new TokenizerError(`${source} lacks the token ${t}: not a CLIP vocabulary`);
      return id;
    };
    this.start = need(CLIP_START_TEXT);
    this.end = need(CLIP_END_TEXT);
    const pad = opts.pad ?? 'end';
    if (pad !== 'end' && !(Number.isInteger(pad) && pad >= 0 && pad < this.decoder.length)) {
      throw new TokenizerError(`CLIP padding id must be 'end' or a vocabulary id below ${this.decoder.length}, got ${pad}`);
    }
    this.pad = pad === 'end' ? this.end : pad;
    this.comma = encoder.get(',</w>') ?? null;
    // The reference seeds its cache so that the special tokens, when written in a prompt, stay whole.
    this.cache.set(CLIP_START_TEXT, [this.start]);
    this.cache.set(CLIP_END_TEXT, [this.end]);
  }

  /** From CLIP's merges file (bpe_simple_vocab_16e6.txt.gz), as the reference builds its vocabulary:
   *  256 byte symbols, the same with </w>, one entry per merge (the first 48,894), then the two specials. */
  static fromMergesFile(file: string, opts: ClipTokenizerOptions = {}): ClipTokenizer {
    const parsed = parsedMergeFiles.get(file) ?? readMergesFile(file);
    parsedMergeFiles.set(file, parsed);
    return new ClipTokenizer(parsed.encoder, parsed.merges, opts, file);
  }

  /** The vocabulary shipped with the app (openai/CLIP's, MIT). */
  static bundled(opts: ClipTokenizerOptions = {}): ClipTokenizer {
    return ClipTokenizer.fromMergesFile(tokenizerResource('clip', 'bpe_simple_vocab_16e6.txt.gz'), opts);
  }

  /** A diffusers `tokenizer/` folder: vocab.json (token → id) and merges.txt (a version line, then merges).
   *  Without opts.pad, padding follows the folder's pad_token (special_tokens_map.json or
   *  tokenizer_config.json): "<|endoftext|>" in SD 1.x folders, "!" (id 0) in SD 2.x ones. */
  static fromDiffusersFolder(dir: string, opts: ClipTokenizerOptions = {}): ClipTokenizer {
    const vocabFile = path.join(dir, 'vocab.json');
    const mergesFile = path.join(dir, 'merges.txt');
    for (const f of [vocabFile, mergesFile]) {
      if (!fs.existsSync(f)) throw new TokenizerError(`the tokenizer folder ${dir} has no ${path.basename(f)}; a CLIP tokenizer folder holds vocab.json and merges.txt`);
    }
    let vocab: unknown;
    try {
      vocab = JSON.parse(readLimited(vocabFile).toString('utf8'));
    } catch (e) {
      throw new TokenizerError(`${vocabFile} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new TokenizerError(`${vocabFile} must map tokens to ids`);
    const encoder = new Map<string, number>();
    for (const [t, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw new TokenizerError(`${vocabFile}: the id of ${JSON.stringify(t)} is not a whole number ≥ 0`);
      encoder.set(t, id as number);
    }
    const lines = readLimited(mergesFile).toString('utf8').trim().split('\n').slice(1, CLIP_MERGES + 1);
    const merges = lines.map((l, i) => parseMerge(l, `${mergesFile} line ${i + 2}`));
    let pad = opts.pad;
    if (pad === undefined) {
      const padToken = folderPadToken(dir);
      pad = padToken === undefined || padToken === CLIP_END_TEXT ? 'end' : encoder.get(padToken) ?? 'end';
    }
    return new ClipTokenizer(encoder, merges, { pad }, vocabFile);
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  /** BPE of one piece (already byte-encoded), as vocabulary ids. */
  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    let word = [...piece];
    word[word.length - 1] += '</w>';
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second && i < word.length - 1) {
          merged.push(first + second);
          i++;
        } else merged.push(word[i]!);
      }
      word = merged;
    }
    const ids = word.map((sym) => {
      const id = this.encoder.get(sym);
      if (id === undefined) throw new TokenizerError(`the CLIP vocabulary has no entry for ${JSON.stringify(sym)}; the merges and vocabulary files do not belong together`);
      return id;
    });
    if (this.cache.size < 100_000) this.cache.set(piece, ids);
    return ids;
  }

  textIds(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError('text to tokenize must be a string');
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const piece of clipPieces(clipCleanText(text))) {
      const special = this.cache.get(piece);
      if (special && (piece === CLIP_START_TEXT || piece === CLIP_END_TEXT)) {
        ids.push(...special);
        continue;
      }
      let encoded = '';
      for (const b of utf8.encode(piece)) encoded += BYTE_ENCODER[b];
      for (const id of this.bpe(encoded)) ids.push(id);
    }
    return ids;
  }

  /** Exactly 77 ids: start, up to 75 text ids, end, padding. */
  encode(text: string): Int32Array {
    return frame(this, this.textIds(text));
  }

  tokenText(id: number): string {
    const t = this.decoder[id];
    if (t === undefined) throw new TokenizerError(`token id ${id} is outside the CLIP vocabulary of ${this.vocabSize}`);
    return t;
  }

  /** Text of ids (special tokens left out), as the reference decodes: bytes back to UTF-8, </w> → space. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.start || id === this.end) continue;
      for (const ch of this.tokenText(id).replace(/<\/w>/g, ' ')) {
        const b = ch === ' ' ? 0x20 : BYTE_DECODER.get(ch);
        if (b !== undefined) bytes.push(b);
      }
    }
    return new TextDecoder('utf-8').decode(new Uint8Array(bytes)).trimEnd();
  }
}


/** Parsed merges files, by path: the bundled vocabulary is read once per process. */
const parsedMergeFiles = new Map<string, { encoder: Map<string, number>; merges: [string, string][] }>();

/** Merge ranks by merges list, shared by the tokenizers made from one parsed file (built once: ~50k entries). */
const RANKS = new WeakMap<readonly [string, string][], Map<string, number>>();

/**
 * The version line and the first CLIP_MERGES lines as text: only that much of the file is decoded and split
 * (the file holds 262,145 lines; a studio start reads it once).
 */
function mergesPrefix(bytes: Buffer): string {
  let end = -1;
  for (let n = 0; n <= CLIP_MERGES; n++) {
    end = bytes.indexOf(10, end + 1);
    if (end < 0) return bytes.toString('utf8');
  }
  return bytes.toString('utf8', 0, end);
}

function readMergesFile(file: string): { encoder: Map<string, number>; merges: [string, string][] } {
  let text: string;
  try {
    const raw = readLimited(file);
    text = mergesPrefix(file.endsWith('.gz') ? zlib.gunzipSync(raw, { maxOutputLength: 8 * MAX_FILE }) : raw);
  } catch (e) {
    throw new TokenizerError(`cannot read the CLIP merges file ${file}: ${(e as Error).message}`);
  }
  const lines = text.split('\n').slice(1, CLIP_MERGES + 1);
  if (lines.length < CLIP_MERGES) throw new TokenizerError(`${file} has ${lines.length} merges; CLIP needs ${CLIP_MERGES}`);
  const merges = lines.map((l, i) => parseMerge(l, `${file} line ${i + 2}`));
  const vocab = [...BYTE_SYMBOLS, ...BYTE_SYMBOLS.map((c) => c + '</w>'), ...merges.map(([a, b]) => a + b), CLIP_START_TEXT, CLIP_END_TEXT];
  return { encoder: new Map(vocab.map((t, i) => [t, i])), merges };
}

/** Whitespace other than the space. */
const OTHER_SPACE = /[^\S ]/;

function parseMerge(line: string, where: string): [string, string] {
  // Fast path: two symbols and one space (every line of CLIP's file; its symbols hold no whitespace).
  const i = line.indexOf(' ');
  if (i > 0 && i < line.length - 1 && line.indexOf(' ', i + 1) < 0 && !OTHER_SPACE.test(line)) {
    return [line.slice(0, i), line.slice(i + 1)];
  }
  const parts = line.split(/\s+/).filter((p) => p.length > 0);
  if (parts.length !== 2) throw new TokenizerError(`${where}: a merge is two symbols separated by a space, got ${JSON.stringify(line.slice(0, 40))}`);
  return [parts[0]!, parts[1]!];
}

function readLimited(file: string): Buffer {
  const size = fs.statSync(file).size;
  if (size > MAX_FILE) throw new TokenizerError(`${file} is ${size} bytes; tokenizer files are at most ${MAX_FILE}`);
  return fs.readFileSync(file);
}

function folderPadToken(dir: string): string | undefined {
  for (const name of ['special_tokens_map.json', 'tokenizer_config.json']) {
    const f = path.join(dir, name);
    if (!fs.existsSync(f)) continue;
    try {
      const pad = (JSON.parse(readLimited(f).toString('utf8')) as { pad_token?: unknown }).pad_token;
      if (typeof pad === 'string') return pad;
      if (typeof pad === 'object' && pad !== null && typeof (pad as { content?: unknown }).content === 'string') return (pad as { content: string }).content;
    } catch {
      throw new TokenizerError(`${f} is not valid JSON`);
    }
  }
  return undefined;
}
