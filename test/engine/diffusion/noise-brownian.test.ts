import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { BrownianTree, brownianTreeNoise, pyRound6, seedSequenceState } from '../../../electron/engine/diffusion/brownian-tree.ts';

// scripts/reference/rng_brownian.py: numpy's real SeedSequence, Python's round, torch float32 arithmetic
// and a second transcription of torchsde's BrownianTree as A1111 seeds it.
interface Query { sigma: number; sigma_next: number; n: number; idx: number[]; values: number[]; sum: number }
const ref = JSON.parse(readFileSync(new URL('../../fixtures/rng/brownian.json', import.meta.url), 'utf8')) as {
  cases: { seed: number; n: number; sigma_min: number; sigma_max: number; queries: Query[] }[];
  seed_sequence: { entropy: string; spawn_key: string[] | null; state: number[] }[];
  round6: [number, number][];
};

describe('Brownian-tree noise (A1111 SDE samplers)', () => {
  it("numpy's SeedSequence and Python's round(t, 6), exactly", () => {
    for (const s of ref.seed_sequence) {
      expect(seedSequenceState(BigInt(s.entropy), (s.spawn_key ?? []).map(BigInt), 24, 4)).toEqual(s.state);
    }
    for (const [x, r] of ref.round6) expect(pyRound6(x)).toBe(r);
  });

  it('gives the reference noise for each step and DPM++ SDE midpoint, queried in sampling order', () => {
    for (const c of ref.cases) {
      const noise = brownianTreeNoise(c.seed, 'gpu', c.n, c.sigma_min, c.sigma_max);
      const queries = c.n > 1024 ? c.queries.slice(0, 4) : c.queries; // the 4×64×64 case: its first steps only (speed)
      for (const q of queries) {
        const v = noise(q.sigma, q.sigma_next);
        expect(v.length).toBe(q.n);
        let worst = 0;
        q.idx.forEach((i, k) => (worst = Math.max(worst, Math.abs(v[i]! - q.values[k]!))));
        expect(worst, `seed ${c.seed} σ ${q.sigma} → ${q.sigma_next}`).toBeLessThanOrEqual(1e-6);
        let sum = 0;
        for (const x of v) sum += x;
        expect(Math.abs(sum - q.sum)).toBeLessThan(1e-4);
      }
    }
  });

  it('does not depend on the order of the queries, and increments add up', () => {
    const c = ref.cases[0]!;
    const fresh = brownianTreeNoise(c.seed, 'gpu', c.n, c.sigma_min, c.sigma_max);
    const last = c.queries[c.queries.length - 1]!;
    const v = fresh(last.sigma, last.sigma_next);
    last.idx.forEach((i, k) => expect(Math.abs(v[i]! - last.values[k]!)).toBeLessThanOrEqual(1e-6));
    const tree = new BrownianTree(c.seed, c.n, Math.fround(c.sigma_min), Math.fround(c.sigma_max));
    const whole = tree.increment(1, 5);
    const parts = [tree.increment(1, 2.5), tree.increment(2.5, 5)];
    whole.forEach((w, i) => expect(Math.abs(w - parts[0]![i]! - parts[1]![i]!)).toBeLessThan(1e-5));
  });
});
