// Emphasis of the colour word ("(red:1.6) apple") with the embedded model's word tokenizer: the colour
// measure writes the weighted prompts and leaves the baselines plain, the word tokenizer reads the syntax
// as words and weights (text/word-emphasis.ts), and the real text encoder's conditioning changes with it.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { colourPrompts } from '../../electron/engine/eval/colour.ts';
import { loadModel, packageTokenizer, type LoadedModel } from '../../electron/engine/pipelines/loaded-model.ts';
import { weightedWordIds } from '../../electron/engine/text/word-emphasis.ts';

const MODEL_DIR = path.resolve('resources/models/emoji-ldm-32');
let model: LoadedModel;
let tokenize: (text: string) => ArrayLike<number>;

beforeAll(async () => {
  model = await loadModel(MODEL_DIR, { threads: 1 });
  const manifest = JSON.parse(readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8'));
  tokenize = await packageTokenizer(manifest.tokenizer, MODEL_DIR);
});
afterAll(async () => {
  await model?.release();
});

describe('colour prompts with a weighted colour word', () => {
  it('writes "(word:W)" in the prompts and leaves the baselines as they were', () => {
    const plain = colourPrompts();
    const weighted = colourPrompts(undefined, undefined, 1.6);
    expect(weighted).toHaveLength(plain.length);
    expect(weighted.find((p) => p.colour === 'purple' && p.baseline === 'apple, food fruit')!.prompt).toBe('(purple:1.6) apple, food fruit');
    weighted.forEach((p, i) => {
      expect(p.prompt).toBe(plain[i]!.prompt.replace(p.colour, `(${p.colour}:1.6)`));
      expect(p.baseline).toBe(plain[i]!.baseline);
      expect(p.baseline).not.toMatch(/[():]/);
    });
    expect(colourPrompts(undefined, undefined, 1)).toEqual(plain);
    expect(() => colourPrompts(undefined, undefined, 0)).toThrow(/positive number/);
  });
});

describe('emphasis with the word tokenizer (emoji-ldm-32)', () => {
  it('reads "(red:1.6) apple" as the words of "red apple", with weight 1.6 on red', () => {
    const L = tokenize('').length;
    const w = weightedWordIds('(red:1.6) apple, food fruit', tokenize, L);
    expect(w.ids).toEqual(Array.from(tokenize('red apple, food fruit')));
    expect(Array.from(w.weights!.slice(0, 6))).toEqual([1, Math.fround(1.6), 1, 1, 1, 1]);
    expect(w.weights!.length).toBe(L);
    // no syntax: the prompt tokenized whole, no weights; weight 1: the same words
    expect(weightedWordIds('red apple', tokenize, L)).toEqual({ ids: Array.from(tokenize('red apple')), weights: null });
    expect(weightedWordIds('(red:1) apple', tokenize, L)).toEqual({ ids: Array.from(tokenize('red apple')), weights: null });
  });

  it('changes the text conditioning of the real text encoder, and only by the weighting', async () => {
    const plain = await model.encodeText(['red apple, food fruit']);
    const weighted = await model.encodeText(['(red:1.6) apple, food fruit']);
    const same = await model.encodeText(['(red:1) apple, food fruit']);
    expect(weighted.shape).toEqual(plain.shape);
    expect(Array.from(same.data)).toEqual(Array.from(plain.data));
    const D = plain.shape[2]!;
    // row 1 ("red") is scaled up relative to the others; A1111's mean restore rescales the whole window
    const rowNorm = (t: Float32Array, r: number) => Math.hypot(...t.subarray(r * D, (r + 1) * D));
    const ratio = (t: Float32Array) => rowNorm(t, 1) / rowNorm(t, 2);
    expect(ratio(weighted.data) / ratio(plain.data)).toBeCloseTo(1.6, 4);
    let diff = 0;
    for (let i = 0; i < plain.data.length; i++) diff = Math.max(diff, Math.abs(plain.data[i]! - weighted.data[i]!));
    expect(diff).toBeGreaterThan(0.1);
  });
});
