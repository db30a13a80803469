// `ldm tokenize`: ids per chunk and the "N/75" count, in text and JSON.
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

describe('ldm tokenize', () => {
  it('prints the count and the ids up to the end token', async () => {
    const r = await cli('tokenize', 'a photo of a cat');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('5/75 tokens, 1 chunk (CLIP BPE (SD 1.x))\nchunk 1: 5/75: 49406 320 1125 539 320 2368 49407 (+70 padding)\n');
  });

  it('shows where a long prompt is split, and its LoRA tags', async () => {
    const r = await cli('tokenize', 'cat '.repeat(80) + '<lora:ink:0.6>');
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([
      '80/150 tokens, 2 chunks (CLIP BPE (SD 1.x))',
      `chunk 1: 75/75: 49406 ${'2368 '.repeat(75)}49407`,
      'chunk 2: 5/75: 49406 2368 2368 2368 2368 2368 49407 (+70 padding)',
    ]);
    expect(r.stdout).toContain('lora ink: 0.6\n');
  });

  it('prints JSON with --json, with the tokenizer chosen by --tokenizer', async () => {
    const r = await cli('tokenize', 'A photo of a cat', '--tokenizer', 'bert', '--json');
    const j = JSON.parse(r.stdout) as { tokenCount: number; chunks: { ids: number[]; tokens: number }[] };
    expect(j.tokenCount).toBe(5);
    expect(j.chunks[0]!.ids.slice(0, 8)).toEqual([101, 1037, 6302, 1997, 1037, 4937, 102, 0]);
  });

  it('explains bad use', async () => {
    expect((await cli('tokenize')).stderr).toMatch(/takes one prompt/);
    const bad = await cli('tokenize', 'x', '--tokenizer', 'gpt2');
    expect([bad.code, bad.stderr]).toEqual([2, 'ldm: --tokenizer gpt2: choose clip, openclip, bert\n']);
    expect((await cli('tokenize', 'x', '--model', 'no-such-model')).stderr).toMatch(/no such file or folder/);
  });
});
