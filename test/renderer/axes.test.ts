import { describe, expect, it } from 'vitest';
import { niceTicks } from '../../renderer/src/train/axes.ts';

describe('loss chart axes', () => {
  it('picks round values inside the range with their place along the axis', () => {
    expect(niceTicks(0, 300, 3).map((t) => [t.label, t.at])).toEqual([['0', 0], ['100', 1 / 3], ['200', 2 / 3], ['300', 1]]);
    expect(niceTicks(0.0312, 0.0871, 4).map((t) => t.label)).toEqual(['0.04', '0.06', '0.08']);
    expect(niceTicks(1, 25_000, 4).map((t) => t.label)).toEqual(['10k', '20k']);
    for (const t of niceTicks(0.0312, 0.0871)) expect(t.at).toBeGreaterThanOrEqual(0), expect(t.at).toBeLessThanOrEqual(1);
  });
  it('gives none for an empty or flat range', () => {
    expect(niceTicks(1, 1)).toEqual([]);
    expect(niceTicks(Number.NaN, 2)).toEqual([]);
  });
});
