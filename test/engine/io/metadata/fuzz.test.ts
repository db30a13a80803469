// Damaged copies of every fixture (bytes flipped, cut short, runs duplicated): readImageParameters
// always answers (params, or warnings), never throws, and stays fast.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../../electron/engine/diffusion/rng.ts';
import { readImageParameters } from '../../../../electron/engine/io/metadata/index.ts';

const dir = new URL('../../../fixtures/metadata/', import.meta.url);
const files = readdirSync(dir).filter((f) => /\.(png|jpg|webp)$/.test(f));

describe('readImageParameters on damaged files', () => {
  it('answers for every mutation of every fixture', { timeout: 60_000 }, async () => {
    const rng = new Rng(31337);
    const r = () => rng.uniform(1)[0]!;
    let withParams = 0;
    let withWarnings = 0;
    let total = 0;
    for (const f of files) {
      const original = new Uint8Array(readFileSync(new URL(f, dir)));
      for (let i = 0; i < 60; i++) {
        let b = original.slice();
        const kind = i % 3;
        if (kind === 0) for (let k = 0; k < 1 + Math.floor(r() * 8); k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
        else if (kind === 1) b = b.slice(0, Math.floor(r() * b.length));
        else {
          const at = Math.floor(r() * b.length);
          const len = Math.floor(r() * 64);
          b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at, at + len), ...b.subarray(at)]);
        }
        const res = await readImageParameters(b).catch((err: Error) => {
          throw new Error(`${f} mutation ${i} threw: ${err.stack}`);
        });
        total++;
        if (res.params) withParams++;
        if (res.warnings.length) withWarnings++;
        for (const w of res.warnings) expect(w).toMatch(/^(metadata unreadable: |not a PNG, JPEG or WebP file)/);
      }
    }
    expect(total).toBe(files.length * 60);
    expect(withParams).toBeGreaterThan(total / 4);
    expect(withWarnings).toBeGreaterThan(total / 10);
  });
});
