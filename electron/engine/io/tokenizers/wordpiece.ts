// BERT's WordPiece tokenizer, uncased, as the paper's LDM-KL-8-G text-to-image model uses it
// (ldm/modules/encoders/modules.py BERTTokenizer: bert-base-uncased, max_length 77, truncation,
// padding to max_length): [CLS] 101, up to 75 pieces, [SEP] 102, then [PAD] 0.
//
// Normalisation, as the fast tokenizer (BertNormalizer + BertPreTokenizer) does it:
// drop NUL, U+FFFD and control/format characters; white space → space; spaces around CJK ideographs;
// lower-case; strip accents (NFD, then drop non-spacing marks); split on white space and on each
// punctuation character (ASCII symbols and Unicode P*). Each word is then cut greedily into the longest
// vocabulary pieces from its start, continuations written "##piece"; a word that cannot be cut, or that
// is longer than 100 characters, becomes [UNK].
//
// Vocabulary: resources/tokenizers/bert-base-uncased/vocab.txt (Apache-2.0, see SOURCE.md there).

import fs from 'node:fs';
import { tokenizerResource } from './resources.ts';
import { frame, TokenizerError, type TextTokenizer } from './types.ts';

const MAX_WORD_CHARS = 100;
const MAX_FILE = 16 * 1024 * 1024;

const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]/u;
const WHITE = /[\t\n\r\p{White_Space}]/u;
const PUNCT = /[!-/:-@[-`{-~\p{P}]/u;
const MARK_NONSPACING = /\p{Mn}/gu;

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** The words BERT's uncased normaliser and pre-tokenizer make of a text (before WordPiece). */
export function bertWords(text: string): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\t' || ch === '\n' || ch === '\r' || WHITE.test(ch)) cleaned += ' ';
    else if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const normalised = cleaned.toLowerCase().normalize('NFD').replace(MARK_NONSPACING, '');
  const words: string[] = [];
  for (const chunk of normalised.split(' ')) {
    let word = '';
    for (const ch of chunk) {
      if (PUNCT.test(ch)) {
        if (word) words.push(word);
        words.push(ch);
        word = '';
      } else word += ch;
    }
    if (word) words.push(word);
  }
  return words;
}

export class WordPieceTokenizer implements TextTokenizer {
  readonly maxLength: number;
  readonly start: number;
  readonly end: number;
  readonly pad: number;
  readonly unk: number;
  readonly comma: number | null;
  private readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(vocab: readonly string[], maxLength = 77) {
    if (!Number.isInteger(maxLength) || maxLength < 3) throw new TokenizerError(`WordPiece maxLength must be a whole number ≥ 3, got ${maxLength}`);
    this.vocab = vocab;
    this.maxLength = maxLength;
    this.ids = new Map();
    vocab.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    const need = (t: string): number => {
      const id = this.ids.get(t);
      if (id === undefined) throw new TokenizerError(`the WordPiece vocabulary lacks ${t}: not a BERT vocabulary`);
      return id;
    };
    this.start = need('[CLS]');
    this.end = need('[SEP]');
    this.pad = need('[PAD]');
    this.unk = need('[UNK]');
    this.comma = this.ids.get(',') ?? null;
  }

  /** A vocab.txt: one entry per line, the line number (from 0) is the id. */
  static fromVocabFile(file: string, maxLength = 77): WordPieceTokenizer {
    let text: string;
    try {
      const size = fs.statSync(file).size;
      if (size > MAX_FILE) throw new Error(`${size} bytes is more than a vocabulary holds (at most ${MAX_FILE})`);
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new TokenizerError(`cannot read the WordPiece vocabulary ${file}: ${(e as Error).message}`);
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines.map((l) => l.replace(/\r$/, '')), maxLength);
  }

  /** bert-base-uncased, shipped with the app. */
  static bertBaseUncased(maxLength = 77): WordPieceTokenizer {
    return WordPieceTokenizer.fromVocabFile(tokenizerResource('bert-base-uncased', 'vocab.txt'), maxLength);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Greedy longest-match-first pieces of one word. */
  private pieces(word: string, out: number[]): void {
    const chars = [...word];
    if (chars.length > MAX_WORD_CHARS) {
      out.push(this.unk);
      return;
    }
    const found: number[] = [];
    for (let start = 0; start < chars.length; ) {
      let id: number | undefined;
      let end = chars.length;
      for (; end > start; end--) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        id = this.ids.get(piece);
        if (id !== undefined) break;
      }
      if (id === undefined) {
        out.push(this.unk);
        return;
      }
      found.push(id);
      start = end;
    }
    out.push(...found);
  }

  textIds(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError('text to tokenize must be a string');
    const ids: number[] = [];
    for (const w of bertWords(text)) this.pieces(w, ids);
    return ids;
  }

  /** Exactly maxLength ids: [CLS], up to maxLength − 2 pieces, [SEP], [PAD]…. */
  encode(text: string): Int32Array {
    return frame(this, this.textIds(text));
  }

  tokenText(id: number): string {
    const t = this.vocab[id];
    if (t === undefined) throw new TokenizerError(`token id ${id} is outside the WordPiece vocabulary of ${this.vocabSize}`);
    return t;
  }
}
