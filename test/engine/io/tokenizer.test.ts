import { describe, it, expect } from 'vitest';
import { TokenizerError, WordTokenizer } from '../../../electron/engine/io/tokenizer.ts';

const captions = ['A red cat.', 'a blue cat', 'the red fox', 'Red, red wine!', 'café 猫'];

describe('WordTokenizer.build', () => {
  it('puts special tokens first, then words by count and alphabet', () => {
    const t = WordTokenizer.build(captions, { maxLength: 8 });
    expect(t.toSpec()).toEqual({
      type: 'word',
      maxLength: 8,
      vocabulary: ['<pad>', '<start>', '<end>', '<unk>', 'red', 'a', 'cat', 'blue', 'café', 'fox', 'the', 'wine', '猫'],
      punctuation: 'drop',
    });
    expect([t.pad, t.start, t.end, t.unk]).toEqual([0, 1, 2, 3]);
    expect(t.vocabSize).toBe(13);
  });

  it('leaves out rare words and caps the vocabulary', () => {
    expect(WordTokenizer.build(captions, { minCount: 2 }).toSpec().vocabulary.slice(4)).toEqual(['red', 'a', 'cat']);
    expect(WordTokenizer.build(captions, { maxWords: 1 }).toSpec().vocabulary.slice(4)).toEqual(['red']);
    expect(() => WordTokenizer.build(captions, { minCount: 0 })).toThrow(TokenizerError);
  });
});

describe('encoding', () => {
  const t = WordTokenizer.build(captions, { maxLength: 8 });

  it('lower-cases, splits on non-alphanumerics, wraps in start/end and pads to maxLength', () => {
    expect(t.words('A RED-cat, twice!')).toEqual(['a', 'red', 'cat', 'twice']);
    expect(Array.from(t.encode('A RED-cat, twice!'))).toEqual([1, 5, 4, 6, 3, 2, 0, 0]); // twice → <unk>
    expect(Array.from(t.encode(''))).toEqual([1, 2, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(t.encode('Café 猫'))).toEqual([1, 8, 12, 2, 0, 0, 0, 0]);
  });

  it('truncates to maxLength − 2 words and always ends with <end>', () => {
    const ids = t.encode('red '.repeat(20));
    expect(ids).toHaveLength(8);
    expect(Array.from(ids)).toEqual([1, 4, 4, 4, 4, 4, 4, 2]);
  });

  it('batches to int64 [B, L] and decodes back', () => {
    const b = t.encodeBatch(['a red cat', 'blue fox']);
    expect(b.dtype).toBe('int64');
    expect(b.shape).toEqual([2, 8]);
    expect(t.decode(b.data.subarray(0, 8))).toBe('a red cat');
    expect(t.decode(b.data.subarray(8))).toBe('blue fox');
    expect(() => t.decode([1, 99])).toThrow(/outside the vocabulary/);
  });

  it('survives JSON and gives the same ids', () => {
    const back = WordTokenizer.fromSpec(JSON.parse(JSON.stringify(t.toSpec())));
    expect(back.encode('the red wine, a cat')).toEqual(t.encode('the red wine, a cat'));
  });
});

describe('specs written before this tokenizer (first embedded model)', () => {
  // No <unk> and no punctuation field: punctuation marks are tokens, unknown words are dropped.
  const old = WordTokenizer.fromSpec({ type: 'word', maxLength: 6, vocabulary: ['<pad>', '<start>', '<end>', ':', 'face', 'flag', 'smiling'] });
  it('keeps punctuation tokens and drops unknown words', () => {
    expect(old.unk).toBeNull();
    expect(old.words('Flag: Smiling face!')).toEqual(['flag', ':', 'smiling', 'face', '!']);
    expect(Array.from(old.encode('Flag: Smiling face!'))).toEqual([1, 5, 3, 6, 4, 2]);
    expect(Array.from(old.encode('unknown face'))).toEqual([1, 4, 2, 0, 0, 0]);
  });
});

describe('validation', () => {
  const ok = { type: 'word', maxLength: 5, vocabulary: ['<pad>', '<start>', '<end>', 'a'] };
  it('rejects malformed specs with a clear message', () => {
    expect(() => WordTokenizer.fromSpec(null)).toThrow(/must be an object/);
    expect(() => WordTokenizer.fromSpec({ ...ok, type: 'bpe' })).toThrow(/is not 'word'/);
    expect(() => WordTokenizer.fromSpec({ ...ok, maxLength: 2 })).toThrow(/maxLength must be/);
    expect(() => WordTokenizer.fromSpec({ ...ok, vocabulary: ['<pad>', 5] })).toThrow(/list of at most/);
    expect(() => WordTokenizer.fromSpec({ ...ok, vocabulary: ['<pad>', '<start>', '<end>', 'a', 'a'] })).toThrow(/lists "a" twice/);
    expect(() => WordTokenizer.fromSpec({ ...ok, vocabulary: ['<start>', '<end>'] })).toThrow(/lacks the padding token/);
    expect(() => WordTokenizer.fromSpec({ ...ok, vocabulary: ['<pad>', '<start>'] })).toThrow(/lacks the end token/);
    expect(() => WordTokenizer.fromSpec({ ...ok, punctuation: 'strip' })).toThrow(/'drop' or 'keep'/);
    expect(() => WordTokenizer.fromSpec(ok).encode(5 as unknown as string)).toThrow(/must be a string/);
  });
});
