import { describe, expect, it } from 'vitest';
import { floatToHalf, halfTable, halfToFloat } from '../../electron/engine/tensor.ts';

describe('fp16 widening table', () => {
  it('holds halfToFloat of every one of the 65,536 bit patterns (signed zeros, subnormals, infinities, NaN)', () => {
    const t = halfTable();
    expect(t.length).toBe(65536);
    for (let h = 0; h < 65536; h++) expect(Object.is(t[h], Math.fround(halfToFloat(h)))).toBe(true);
    expect(t[floatToHalf(-0)]).toBe(-0);
    expect(t[0x0001]).toBe(2 ** -24);
    expect(t[0x7c00]).toBe(Infinity);
    expect(Number.isNaN(t[0x7e00])).toBe(true);
    expect(halfTable()).toBe(t); // built once
  });
});
