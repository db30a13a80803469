import fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { ClipTokenizer } from '../../../electron/engine/io/tokenizers/clip.ts';
import { WordPieceTokenizer } from '../../../electron/engine/io/tokenizers/wordpiece.ts';
import {
  applyEmphasis,
  chunkPrompt,
  emptyChunk,
  extractExtraNetworks,
  padToSameChunkCount,
  parsePromptAttention,
  preparePrompt,
  PromptSyntaxError,
} from '../../../electron/engine/text/index.ts';

// Fixtures by scripts/reference/prompt_parser.py, an independent re-implementation of A1111's
// parse_prompt_attention / tokenize_line / Original emphasis / extra-network tags.
const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(new URL(`../../fixtures/tokenizers/${name}`, import.meta.url), 'utf8')) as T;

const clip = ClipTokenizer.bundled();
const clip2 = ClipTokenizer.bundled({ pad: 0 });

describe('parsePromptAttention (A1111 emphasis syntax)', () => {
  it('gives the examples of A1111\'s docstring', () => {
    expect(parsePromptAttention('an (important) word').map((w) => [w.text, w.weight])).toEqual([['an ', 1], ['important', 1.1], [' word', 1]]);
    expect(parsePromptAttention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).').map((w) => [w.text, w.weight])).toEqual([
      ['a ', 1], ['house', 1.5730000000000004], [' ', 1.1], ['on', 1], [' a ', 1.1], ['hill', 0.55], [', sun, ', 1.1], ['sky', 1.4641000000000006], ['.', 1.1],
    ]);
    expect(parsePromptAttention('\\(literal\\]').map((w) => [w.text, w.weight])).toEqual([['(literal]', 1]]);
  });

  const cases = fixture<{ prompt: string; parsed: [string, number][] }[]>('prompt-attention.json');
  it.each(cases.map((c) => [JSON.stringify(c.prompt), c] as const))('matches the reference on %s', (_n, c) => {
    expect(parsePromptAttention(c.prompt).map((w) => [w.text, w.weight])).toEqual(c.parsed);
  });
});

interface ChunkCase {
  prompt: string;
  embeddings?: Record<string, number>;
  backtrack?: number;
  pad?: number;
  tokenCount: number;
  maxTokens: number;
  chunks: { ids: number[]; weights: number[]; embeddings: { name: string; position: number; vectors: number }[] }[];
}

describe('chunkPrompt (A1111 75-token chunks)', () => {
  const cases = fixture<ChunkCase[]>('prompt-chunks.json');
  it.each(cases.map((c) => [JSON.stringify(c.prompt).slice(0, 50) + (c.embeddings ? ' +emb' : '') + (c.pad === 0 ? ' sd2' : ''), c] as const))('matches the reference on %s', (_n, c) => {
    const got = chunkPrompt(c.prompt, c.pad === 0 ? clip2 : clip, {
      embeddings: c.embeddings ? new Map(Object.entries(c.embeddings)) : undefined,
      commaBacktrack: c.backtrack,
    });
    expect([got.tokenCount, got.maxTokens]).toEqual([c.tokenCount, c.maxTokens]);
    expect(got.chunks.length).toBe(c.chunks.length);
    got.chunks.forEach((ch, i) => {
      expect([...ch.ids]).toEqual(c.chunks[i]!.ids);
      expect([...ch.weights]).toEqual(c.chunks[i]!.weights.map((w) => Math.fround(w)));
      expect(ch.embeddings).toEqual(c.chunks[i]!.embeddings);
    });
  });

  it('counts a short prompt as N/75 and a long one in whole chunks', () => {
    expect(chunkPrompt('a photo of a cat', clip)).toMatchObject({ tokenCount: 5, maxTokens: 75 });
    expect(chunkPrompt('cat '.repeat(80), clip)).toMatchObject({ tokenCount: 80, maxTokens: 150 });
    expect(chunkPrompt('', clip)).toMatchObject({ tokenCount: 0, maxTokens: 75 });
  });

  it('moves the words after the last comma of a full chunk to the next chunk', () => {
    const { chunks } = chunkPrompt('cat '.repeat(70) + ', ' + 'dog '.repeat(20), clip);
    expect(chunks.length).toBe(2);
    expect(chunks[0]!.ids[71]).toBe(267); // the comma ends chunk 1's text
    expect(chunks[0]!.ids[72]).toBe(49407);
    expect(chunks[1]!.ids[1]).toBe(1929); // "dog"
  });

  it('works with the BERT WordPiece tokenizer (comma 1010, [PAD] after [SEP])', () => {
    const wp = WordPieceTokenizer.bertBaseUncased();
    const { chunks } = chunkPrompt('a (photo:1.5) of a cat', wp);
    expect([...chunks[0]!.ids.slice(0, 8)]).toEqual([101, 1037, 6302, 1997, 1037, 4937, 102, 0]);
    expect(chunks[0]!.weights[2]).toBe(1.5);
  });

  it('refuses an embedding with more vectors than a chunk holds', () => {
    expect(() => chunkPrompt('x', clip, { embeddings: new Map([['big', 76]]) })).toThrow(/1 to 75/);
  });

  it('chunks a 10,000-character prompt in well under a second', () => {
    const prompt = '(masterpiece:1.2), [blurry], a cat BREAK a dog, '.repeat(250).slice(0, 10_000);
    const t0 = performance.now();
    const { chunks } = chunkPrompt(prompt, clip);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(chunks.length).toBeGreaterThan(100);
  });
});

describe('padToSameChunkCount', () => {
  it('appends the empty prompt\'s chunk to the shorter side', () => {
    const pos = chunkPrompt('cat '.repeat(100), clip2).chunks;
    const neg = chunkPrompt('blurry', clip2).chunks;
    const [p, n] = padToSameChunkCount(pos, neg, clip2);
    expect([p.length, n.length]).toEqual([2, 2]);
    expect(n[1]).toEqual(emptyChunk(clip2));
    expect(n[1]).toEqual(chunkPrompt('', clip2).chunks[0]);
    expect([...n[1]!.ids.slice(0, 3)]).toEqual([49406, 49407, 0]);
  });
});

describe('applyEmphasis (A1111 Original: z *= w, then restore the mean)', () => {
  const f = fixture<{ shape: number[]; hidden: number[]; weights: number[][]; expected: number[] }>('prompt-emphasis.json');

  it('matches the reference', () => {
    const out = applyEmphasis(Float32Array.from(f.hidden), f.weights);
    expect(out.length).toBe(f.expected.length);
    let worst = 0;
    out.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - f.expected[i]!) / (Math.abs(f.expected[i]!) + 1e-6))));
    expect(worst).toBeLessThan(1e-6);
  });

  it('keeps each chunk\'s mean and leaves uniform chunks untouched', () => {
    const hidden = Float32Array.from(f.hidden);
    const out = applyEmphasis(hidden, f.weights);
    const per = 77 * f.shape[2]!;
    for (let c = 0; c < 2; c++) {
      const mean = (a: Float32Array) => a.subarray(c * per, (c + 1) * per).reduce((s, v) => s + v, 0) / per;
      expect(mean(out)).toBeCloseTo(mean(hidden), 5);
    }
    const ones = [new Float32Array(77).fill(1), new Float32Array(77).fill(1)];
    expect(applyEmphasis(hidden, ones)).toEqual(hidden);
    expect(out).not.toEqual(hidden);
  });

  it('names a shape mismatch', () => {
    expect(() => applyEmphasis(new Float32Array(10), [new Float32Array(77)])).toThrow(/not 1 chunks × 77 tokens/);
  });
});

describe('extra-network tags', () => {
  const cases = fixture<{ input: string; prompt: string; tags: unknown[]; loras: unknown[] }[]>('prompt-tags.json');
  it.each(cases.map((c) => [c.input, c] as const))('matches the reference on %s', (_n, c) => {
    const got = extractExtraNetworks(c.input);
    expect(got.prompt).toBe(c.prompt);
    expect(got.tags).toEqual(c.tags);
    expect(got.loras).toEqual(c.loras);
  });

  it('says which LoRA strength is not a number', () => {
    expect(() => extractExtraNetworks('<lora:ink:strong>')).toThrow(PromptSyntaxError);
    expect(() => extractExtraNetworks('<lora:ink:strong>')).toThrow(/"strong", which is not a number/);
  });

  it('preparePrompt takes the tags out before counting tokens', () => {
    const p = preparePrompt('a photo of a cat <lora:ink:0.8>', clip);
    expect(p.text).toBe('a photo of a cat ');
    expect(p.loras).toEqual([{ name: 'ink', te: 0.8, unet: 0.8 }]);
    expect([p.tokenCount, p.maxTokens]).toEqual([5, 75]);
  });
});
