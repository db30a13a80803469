import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it, expect, beforeAll } from 'vitest';
import { ClipTokenizer, clipCleanText, CLIP_MERGES } from '../../../../electron/engine/io/tokenizers/clip.ts';
import { htmlUnescape } from '../../../../electron/engine/io/tokenizers/html-unescape.ts';
import { tokenizerResource } from '../../../../electron/engine/io/tokenizers/resources.ts';
import { TokenizerError } from '../../../../electron/engine/io/tokenizers/types.ts';

// Made by scripts/reference/clip_tokenizer.py, an independent Python implementation of CLIP's
// simple_tokenizer.py algorithm.
const fixtures = JSON.parse(fs.readFileSync(new URL('../../../fixtures/tokenizers/clip.json', import.meta.url), 'utf8')) as { text: string; ids: number[] }[];

describe('ClipTokenizer (bundled openai/CLIP vocabulary)', () => {
  let tok: ClipTokenizer;
  beforeAll(() => {
    tok = ClipTokenizer.bundled();
  });

  it('has CLIP\'s vocabulary: 49,408 entries, start 49406, end 49407, "," 267', () => {
    expect(tok.vocabSize).toBe(49408);
    expect([tok.start, tok.end, tok.pad, tok.comma]).toEqual([49406, 49407, 49407, 267]);
    expect(tok.tokenText(320)).toBe('a</w>');
    expect(tok.tokenText(2368)).toBe('cat</w>');
  });

  it('gives "a photo of a cat" the ids 320 1125 539 320 2368', () => {
    expect(tok.textIds('a photo of a cat')).toEqual([320, 1125, 539, 320, 2368]);
  });

  it.each(fixtures.map((f) => [JSON.stringify(f.text).slice(0, 60), f] as const))('matches the reference on %s', (_name, f) => {
    expect(tok.textIds(f.text)).toEqual(f.ids);
  });

  it('frames 77 positions: start, ids, end, then the end token (SD 1.x) or 0 (SD 2.x)', () => {
    const sd1 = tok.encode('a photo of a cat');
    expect(sd1.length).toBe(77);
    expect([...sd1.slice(0, 8)]).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
    expect(sd1[76]).toBe(49407);
    const sd2 = ClipTokenizer.bundled({ pad: 0 }).encode('a photo of a cat');
    expect([...sd2.slice(0, 8)]).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect([...tok.encode('')].slice(0, 3)).toEqual([49406, 49407, 49407]);
  });

  it('cuts a long text to 75 ids and still ends with the end token', () => {
    const ids = tok.encode('cat '.repeat(200));
    expect(ids.length).toBe(77);
    expect(ids[75]).toBe(2368);
    expect(ids[76]).toBe(49407);
  });

  it('decodes ids back to the cleaned text', () => {
    expect(tok.decode(tok.encode("A photo of a CAT, it's 🐱"))).toBe("a photo of a cat , it 's 🐱");
  });

  it('tokenizes 10,000 characters in well under a second', () => {
    const text = Array.from({ length: 2000 }, (_, i) => `w${i % 97}x${i},`).join(' ').slice(0, 10_000);
    const t0 = performance.now();
    const ids = tok.textIds(text);
    const ms = performance.now() - t0;
    expect(ids.length).toBeGreaterThan(2000);
    expect(ms).toBeLessThan(500);
  });

  it('rejects a padding id outside the vocabulary and non-text input', () => {
    expect(() => ClipTokenizer.bundled({ pad: 49408 })).toThrow(TokenizerError);
    expect(() => tok.textIds(42 as unknown as string)).toThrow(/must be a string/);
  });
});

describe('clean-up as the reference without ftfy', () => {
  it('unescapes HTML twice, collapses white space, lower-cases', () => {
    expect(clipCleanText('  Tom &amp;amp; JERRY\n\n&lt;3  ')).toBe('tom & jerry <3');
    expect(clipCleanText('a\u00a0b\u0085c\ufeffd')).toBe('a b c\ufeffd');
  });

  it('follows Python html.unescape on numeric and legacy references', () => {
    expect(htmlUnescape('&#x263A; &#39; &#128; &#0; &#xD800; &#1114112; &#1;')).toBe('☺ \' € \ufffd \ufffd \ufffd ');
    expect(htmlUnescape('&copy2024 &notit; &bogus; &amp')).toBe('©2024 ¬it; &bogus; &');
  });
});

describe('diffusers tokenizer/ folder', () => {
  let dir: string;
  beforeAll(() => {
    // A folder in the layout diffusers writes, made from the bundled merges with CLIP's vocabulary rule.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clip-tok-'));
    const lines = zlib.gunzipSync(fs.readFileSync(tokenizerResource('clip', 'bpe_simple_vocab_16e6.txt.gz'))).toString('utf8').split('\n');
    const merges = lines.slice(1, CLIP_MERGES + 1);
    const bundled = ClipTokenizer.bundled();
    const vocab: Record<string, number> = {};
    for (let id = 0; id < bundled.vocabSize; id++) vocab[bundled.tokenText(id)] = id;
    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    fs.writeFileSync(path.join(dir, 'merges.txt'), ['#version: 0.2', ...merges].join('\n') + '\n');
  });

  it('gives the same ids as the bundled vocabulary', () => {
    const tok = ClipTokenizer.fromDiffusersFolder(dir);
    for (const f of fixtures) expect(tok.textIds(f.text)).toEqual(f.ids);
    expect(tok.pad).toBe(49407);
  });

  it('pads as the folder says: "!" (id 0) for SD 2.x', () => {
    fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: { content: '!' } }));
    expect(ClipTokenizer.fromDiffusersFolder(dir).pad).toBe(0);
    fs.rmSync(path.join(dir, 'special_tokens_map.json'));
  });

  it('names the missing file', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'clip-empty-'));
    expect(() => ClipTokenizer.fromDiffusersFolder(empty)).toThrow(/has no vocab\.json/);
  });
});
