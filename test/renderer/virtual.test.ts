import { describe, expect, it } from 'vitest';
import { gridWindow, pagesFor } from '../../renderer/src/lib/virtual.ts';

describe('grid windowing', () => {
  const base = { width: 1000, viewportHeight: 600, cellWidth: 160, rowHeight: 160, gap: 8, overscanRows: 1 };

  it('renders only the rows in view plus the overscan', () => {
    const w = gridWindow({ ...base, scrollTop: 0, total: 100_000 });
    expect(w.columns).toBe(6); // 6 cells of 160 and 5 gaps of 8 fill exactly 1000
    expect([w.start, w.end, w.offsetY]).toEqual([0, (4 + 1) * 6, 0]);
  });

  it('counts columns including the trailing gap and places the first row', () => {
    const w = gridWindow({ ...base, width: 999, scrollTop: 168 * 10 + 5, total: 100_000 });
    expect(w.columns).toBe(5);
    expect(w.start).toBe(9 * 5);
    expect(w.offsetY).toBe(9 * 168);
    // rows 9 .. ceil((1685+600)/168)=14, +1 overscan → 15
    expect(w.end).toBe(15 * 5);
    expect(w.totalHeight).toBe(20_000 * 168 - 8);
  });

  it('clamps at the end and handles an empty list', () => {
    const w = gridWindow({ ...base, width: 999, scrollTop: 1e9, total: 12 });
    expect([w.start, w.end]).toEqual([12, 12]);
    const e = gridWindow({ ...base, scrollTop: 0, total: 0 });
    expect([e.start, e.end, e.totalHeight]).toEqual([0, 0, 0]);
  });

  it('lists the pages a window needs', () => {
    expect(pagesFor(0, 60, 60)).toEqual([0]);
    expect(pagesFor(55, 125, 60)).toEqual([0, 1, 2]);
    expect(pagesFor(10, 10, 60)).toEqual([]);
  });
});
