import { describe, expect, it } from 'vitest';
import { lossChart, smoothLoss } from '../../renderer/src/lib/chart.ts';

describe('loss chart', () => {
  it('bias-corrected EMA starts at the first value and follows a constant exactly', () => {
    expect(smoothLoss([{ step: 1, loss: 2 }])).toEqual([2]);
    const s = smoothLoss(Array.from({ length: 5 }, (_, i) => ({ step: i, loss: 0.3 })));
    s.forEach((v) => expect(v).toBeCloseTo(0.3, 12));
  });

  it('maps steps and losses into the box (high loss at the top)', () => {
    const c = lossChart(
      [
        { step: 0, loss: 1 },
        { step: 50, loss: 0.5 },
        { step: 100, loss: 0 },
      ],
      200,
      100,
    );
    expect(c.raw).toBe('M0.0,0.0L100.0,50.0L200.0,100.0');
    expect([c.yMin, c.yMax, c.xMax, c.last]).toEqual([0, 1, 100, 0]);
  });

  it('thins long runs but keeps the last point, and skips non-finite losses', () => {
    const pts = Array.from({ length: 10_000 }, (_, i) => ({ step: i, loss: i === 5 ? NaN : 1 / (1 + i) }));
    const c = lossChart(pts, 300, 100, 100);
    const n = c.raw.split(/[ML]/).filter(Boolean).length;
    expect(n).toBeLessThanOrEqual(101);
    expect(c.raw.endsWith('L300.0,100.0')).toBe(true);
    expect(c.raw).not.toContain('NaN');
  });

  it('draws nothing without points', () => {
    expect(lossChart([], 10, 10)).toMatchObject({ raw: '', smooth: '', last: null });
  });
});
