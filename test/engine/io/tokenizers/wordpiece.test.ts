import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { bertWords, WordPieceTokenizer } from '../../../../electron/engine/io/tokenizers/wordpiece.ts';
import { TokenizerError } from '../../../../electron/engine/io/tokenizers/types.ts';

// Made by scripts/reference/wordpiece.py, an independent Python implementation of BERT's uncased
// normaliser, pre-tokenizer and WordPiece.
const fixtures = JSON.parse(fs.readFileSync(new URL('../../../fixtures/tokenizers/wordpiece.json', import.meta.url), 'utf8')) as { text: string; ids: number[] }[];

describe('WordPieceTokenizer (bert-base-uncased)', () => {
  const tok = WordPieceTokenizer.bertBaseUncased();

  it('ships the bert-base-uncased vocabulary with the known ids', () => {
    expect(tok.vocabSize).toBe(30522);
    expect([tok.pad, tok.unk, tok.start, tok.end, tok.comma]).toEqual([0, 100, 101, 102, 1010]);
    const known: [number, string][] = [[1, '[unused0]'], [103, '[MASK]'], [1037, 'a'], [1996, 'the'], [4937, 'cat'], [6302, 'photo'], [2015, '##s']];
    for (const [id, t] of known) expect(tok.tokenText(id)).toBe(t);
  });

  it('encodes as LDM\'s BERTTokenizer: [CLS] pieces [SEP] then [PAD] to 77', () => {
    const ids = tok.encode('A photo of a cat');
    expect(ids.length).toBe(77);
    expect([...ids.slice(0, 8)]).toEqual([101, 1037, 6302, 1997, 1037, 4937, 102, 0]);
    expect(ids[76]).toBe(0);
    const long = tok.encode('the '.repeat(100));
    expect(long[75]).toBe(1996);
    expect(long[76]).toBe(102);
  });

  it('cuts words into the longest pieces first', () => {
    expect(tok.textIds('i like strawberries')).toEqual([1045, 2066, 13137, 20968]);
    // transformers' tokenizer summary, bert-base-uncased
    expect(tok.textIds('I have a new GPU!').map((i) => tok.tokenText(i))).toEqual(['i', 'have', 'a', 'new', 'gp', '##u', '!']);
  });

  it.each(fixtures.map((f) => [JSON.stringify(f.text).slice(0, 60), f] as const))('matches the reference on %s', (_name, f) => {
    expect(tok.textIds(f.text)).toEqual(f.ids);
  });

  it('splits punctuation, strips accents, isolates CJK ideographs', () => {
    expect(bertWords("Café's (best)!")).toEqual(['cafe', "'", 's', '(', 'best', ')', '!']);
    expect(bertWords('一只猫')).toEqual(['一', '只', '猫']);
  });

  it('tokenizes 10,000 characters in well under a second', () => {
    const text = 'a photo of a strawberry cat, unbelievably detailed; '.repeat(200).slice(0, 10_000);
    const t0 = performance.now();
    expect(tok.textIds(text).length).toBeGreaterThan(1000);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('refuses a vocabulary without BERT\'s special tokens', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wp-'));
    fs.writeFileSync(path.join(dir, 'vocab.txt'), '[PAD]\na\nb\n');
    expect(() => WordPieceTokenizer.fromVocabFile(path.join(dir, 'vocab.txt'))).toThrow(TokenizerError);
    expect(() => WordPieceTokenizer.fromVocabFile(path.join(dir, 'missing.txt'))).toThrow(/cannot read/);
  });
});
