import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { scanInfotextPairs } from '../../../../electron/engine/io/metadata/infotext-scan.ts';
import { parseParameters } from '../../../../electron/engine/io/generation-params.ts';
import { Rng } from '../../../../electron/engine/diffusion/rng.ts';

const fixture = JSON.parse(readFileSync(new URL('../../../fixtures/metadata/infotext-pairs.json', import.meta.url), 'utf8')) as {
  line: string;
  pairs: [string, string][];
}[];

/** A1111's re_param as a JS regex: the same matches as Python's on ASCII text without newlines. */
const A1111_RE = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

describe('scanInfotextPairs', () => {
  it("finds exactly what Python's re.findall finds with A1111's pattern (fixture from scripts/reference/infotext_pairs.py)", () => {
    expect(fixture.length).toBeGreaterThan(600);
    for (const { line, pairs } of fixture) {
      expect(scanInfotextPairs(line).map((p) => [p.key, p.value]), JSON.stringify(line)).toEqual(pairs);
    }
  });

  it('agrees with the regex on random ASCII lines', () => {
    const rng = new Rng(7);
    const alphabet = [' ', ',', ':', '"', '\\', '-', '/', 'a', 'B', '1', '_', 'x', '(', '\t'];
    for (let i = 0; i < 3000; i++) {
      const u = rng.uniform(1 + (i % 40));
      const line = Array.from(u, (v) => alphabet[Math.floor(v * alphabet.length)]).join('');
      const want = [...line.matchAll(A1111_RE)].map((m) => [m[1], m[2]]);
      expect(scanInfotextPairs(line).map((p) => [p.key, p.value]), JSON.stringify(line)).toEqual(want);
    }
  });
});

// Each of these took the old regex (and takes A1111's) time quadratic in the length: minutes at 1 MB.
// The timeout is generous on purpose: the parse takes tens of milliseconds, so only a hang fails.
describe('adversarial infotext (1 MB) parses in linear time', () => {
  const MB = 1 << 20;
  const cases: [string, string][] = [
    ['a last line of spaces', 'a prompt\n' + ' '.repeat(MB)],
    ['spaces between words without a colon', 'p\n' + 'a '.repeat(MB / 2)],
    ['a key run that never reaches a colon', 'p\nSteps: 1, ' + 'k'.repeat(MB)],
    ['commas', 'p\n' + ','.repeat(MB)],
    ['colons after one-letter keys', 'p\n' + 'a:'.repeat(MB / 2)],
    ['unterminated quotes', 'p\n' + 'a: "'.repeat(MB / 4)],
    ['quotes followed by text', 'p\n' + 'a: "x" y'.repeat(MB / 8)],
    ['backslashes in a quote', 'p\nk: "' + '\\'.repeat(MB)],
    ['nested brackets', '('.repeat(MB / 2) + 'x:1.1' + ')'.repeat(MB / 2) + '\nSteps: 2, Seed: 3, Size: 4x4'],
    ['nested brackets on the last line', 'p\n' + '[('.repeat(MB / 4) + ':' + ')]'.repeat(MB / 4)],
    ['many pairs', 'p\n' + 'Key: value, '.repeat(MB / 12)],
    ['many lines', 'line\n'.repeat(MB / 5) + 'Steps: 1, Seed: 2, Size: 3x4'],
  ];
  for (const [what, text] of cases) {
    it(what, { timeout: 20_000 }, () => {
      const t0 = performance.now();
      const p = parseParameters(text);
      const ms = performance.now() - t0;
      expect(typeof p.prompt).toBe('string');
      expect(ms, `${what}: ${ms.toFixed(0)} ms`).toBeLessThan(10_000);
    });
  }

  it('reads the fields after a huge prompt', () => {
    const p = parseParameters('x'.repeat(MB) + '\nNegative prompt: ' + ' '.repeat(MB) + 'bad\nSteps: 20, Seed: 5, Size: 64x32');
    expect(p.prompt.length).toBe(MB);
    expect(p.negative).toBe('bad');
    expect(p).toMatchObject({ steps: 20, seed: 5, width: 64, height: 32 });
  });
});
