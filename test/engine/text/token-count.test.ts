import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens, promptTokenizerFor, PromptTokenCounter } from '../../../electron/engine/text/token-count.ts';
import { TokenizerError } from '../../../electron/engine/io/tokenizers/types.ts';
import { tokenizerResource } from '../../../electron/engine/io/tokenizers/resources.ts';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'token-count-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('promptTokenizerFor', () => {
  it('uses CLIP without a model, and for a single-file checkpoint', () => {
    expect(promptTokenizerFor().label).toBe('CLIP BPE (SD 1.x)');
    const file = path.join(root, 'sd.safetensors');
    fs.writeFileSync(file, '');
    expect(promptTokenizerFor(file).label).toBe('CLIP BPE (SD 1.x)');
    expect(promptTokenizerFor(undefined, 'openclip').tokenizer.pad).toBe(0);
    expect(promptTokenizerFor(undefined, 'bert').tokenizer.start).toBe(101);
  });

  it('reads a model package\'s word tokenizer', () => {
    const dir = path.join(root, 'pkg');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ tokenizer: { type: 'word', maxLength: 8, vocabulary: ['<pad>', '<start>', '<end>', 'red', 'cat'], punctuation: 'drop' } }));
    const tok = promptTokenizerFor(dir);
    expect(tok.kind).toBe('word');
    const r = countPromptTokens('a red cat, red cat', tok);
    expect([r.tokenCount, r.maxTokens]).toEqual([4, 6]); // "a" is unknown and dropped
    expect(r.chunks[0]!.ids).toEqual([1, 3, 4, 3, 4, 2, 0, 0]);
    // emphasis brackets and weights are not words
    const e = countPromptTokens('a (red:1.6) cat, [red] cat', tok);
    expect(e.tokenCount).toBe(4);
    expect(e.chunks[0]!.ids).toEqual([1, 3, 4, 3, 4, 2, 0, 0]);
  });

  it('reads a diffusers tokenizer/ folder and a WordPiece vocab.txt', () => {
    const wp = path.join(root, 'ldm-bert', 'tokenizer');
    fs.mkdirSync(wp, { recursive: true });
    fs.copyFileSync(tokenizerResource('bert-base-uncased', 'vocab.txt'), path.join(wp, 'vocab.txt'));
    const tok = promptTokenizerFor(path.join(root, 'ldm-bert'));
    expect(tok.label).toBe('WordPiece (tokenizer/)');
    expect(countPromptTokens('a photo of a cat', tok).chunks[0]!.ids.slice(0, 7)).toEqual([101, 1037, 6302, 1997, 1037, 4937, 102]);
  });

  it('names an unknown package tokenizer type and a missing model', () => {
    const dir = path.join(root, 'odd');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ tokenizer: { type: 'sentencepiece', maxLength: 77 } }));
    expect(() => promptTokenizerFor(dir)).toThrow(/"sentencepiece" is not one this studio reads/);
    expect(() => promptTokenizerFor(path.join(root, 'nowhere'))).toThrow(TokenizerError);
  });
});

describe('countPromptTokens', () => {
  it('counts as A1111 ("5/75", "80/150") and reports chunks and LoRA tags', () => {
    const clip = promptTokenizerFor();
    const r = countPromptTokens('a photo of a cat <lora:ink:0.5>', clip);
    expect([r.tokenCount, r.maxTokens, r.chunks.length, r.chunks[0]!.tokens]).toEqual([5, 75, 1, 5]);
    expect(r.loras).toEqual([{ name: 'ink', te: 0.5, unet: 0.5 }]);
    const long = countPromptTokens('cat '.repeat(80), clip);
    expect([long.tokenCount, long.maxTokens, long.chunks.map((c) => c.tokens)]).toEqual([80, 150, [75, 5]]);
  });

  it('keeps tokenizers between counts', () => {
    const counter = new PromptTokenCounter();
    counter.count('warm up');
    const t0 = performance.now();
    expect(counter.count('(masterpiece:1.2), a cat, '.repeat(400).slice(0, 10_000)).chunks.length).toBeGreaterThan(20);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
