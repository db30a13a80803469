import { describe, expect, it } from 'vitest';
import { EditHistory } from '../../../renderer/src/canvas/history.ts';
import { addStrokeCoverage, applyEdit, compositeStroke, emptyMask, maskedFraction, replay, type MaskEdit, type MaskState, type Stroke } from '../../../renderer/src/canvas/mask.ts';

const stroke = (over: Partial<Stroke> = {}): Stroke => ({
  type: 'stroke',
  tool: 'brush',
  size: 10,
  hardness: 1,
  opacity: 1,
  points: [
    { x: 10, y: 20, pressure: 1 },
    { x: 50, y: 20, pressure: 1 },
  ],
  ...over,
});
const at = (s: MaskState, x: number, y: number) => s.mask[y * s.width + x]!;

describe('mask edits', () => {
  it('a hard brush stroke paints a capsule of its diameter and nothing else', () => {
    const s = replay(64, 40, [stroke()]);
    expect(at(s, 30, 20)).toBe(1);
    expect(at(s, 30, 16)).toBe(1); // 4.5 px from the centre line, radius 5
    expect(at(s, 30, 26)).toBe(0);
    expect(at(s, 3, 20)).toBe(0); // beyond the round cap at x=10
    expect(at(s, 58, 20)).toBe(0);
    // Area ≈ 40×10 rectangle + a disc of radius 5.
    const area = s.mask.reduce((a, v) => a + v, 0);
    expect(area).toBeGreaterThan(0.95 * (400 + Math.PI * 25));
    expect(area).toBeLessThan(1.05 * (400 + Math.PI * 25));
  });

  it('hardness softens the edge; opacity caps one stroke without dabs piling up', () => {
    const soft = replay(64, 40, [stroke({ hardness: 0, size: 20 })]);
    expect(at(soft, 30, 20)).toBeGreaterThan(0.95);
    const edge = at(soft, 30, 26);
    expect(edge).toBeGreaterThan(0.05);
    expect(edge).toBeLessThan(0.6);
    const half = replay(64, 40, [stroke({ opacity: 0.5, points: [{ x: 30, y: 20, pressure: 1 }, { x: 31, y: 20, pressure: 1 }, { x: 30, y: 20, pressure: 1 }] })]);
    expect(at(half, 30, 20)).toBeCloseTo(0.5, 6);
    const twice = replay(64, 40, [stroke({ opacity: 0.5 }), stroke({ opacity: 0.5 })]);
    expect(at(twice, 30, 20)).toBeCloseTo(0.75, 6);
  });

  it('pen pressure scales the dab size', () => {
    const light = replay(64, 40, [stroke({ size: 20, points: [{ x: 30, y: 20, pressure: 0.25 }] })]);
    expect(at(light, 30, 20)).toBe(1);
    expect(at(light, 30, 24)).toBe(0); // radius 2.5 at a quarter pressure, 10 at full
  });

  it('the eraser removes, invert flips, clear empties', () => {
    const edits: MaskEdit[] = [stroke({ size: 20 }), stroke({ tool: 'eraser', size: 6 })];
    const s = replay(64, 40, edits);
    expect(at(s, 30, 20)).toBe(0);
    expect(at(s, 30, 27)).toBe(1);
    const inv = applyEdit(s, { type: 'invert' });
    expect(at(inv, 30, 20)).toBe(1);
    expect(at(inv, 0, 0)).toBe(1);
    expect(at(inv, 30, 27)).toBe(0);
    expect(maskedFraction(applyEdit(inv, { type: 'clear' }).mask)).toBe(0);
  });

  it('extending the canvas keeps the mask in place and masks the new area', () => {
    const s = replay(20, 10, [stroke({ size: 2, points: [{ x: 5.5, y: 5.5, pressure: 1 }] }), { type: 'extend', left: 8, top: 0, right: 0, bottom: 4 }]);
    expect([s.width, s.height, s.offsetX, s.offsetY]).toEqual([28, 14, 8, 0]);
    expect(at(s, 13, 5)).toBe(1); // the stroke moved right by 8
    expect(at(s, 14, 2)).toBe(0); // untouched original area
    expect(at(s, 2, 2)).toBe(1); // new left strip
    expect(at(s, 20, 12)).toBe(1); // new bottom strip
    expect(() => applyEdit(emptyMask(4, 4), { type: 'extend', left: -1, top: 0, right: 0, bottom: 0 })).toThrow(/whole, non-negative/);
  });

  it('incremental coverage equals coverage of the whole stroke', () => {
    const st = stroke({ hardness: 0.3, points: [] });
    const inc = new Float32Array(64 * 40);
    const pts = [
      { x: 5, y: 5, pressure: 1 },
      { x: 20, y: 30, pressure: 0.6 },
      { x: 60, y: 10, pressure: 0.9 },
    ];
    for (let i = 0; i < pts.length; i++) {
      st.points.push(pts[i]!);
      addStrokeCoverage(inc, 64, 40, st, i);
    }
    const whole = new Float32Array(64 * 40);
    addStrokeCoverage(whole, 64, 40, st);
    expect(inc).toEqual(whole);
  });

  it('rejects a mask without a size', () => {
    expect(() => emptyMask(0, 10)).toThrow(/positive whole-pixel size/);
  });
});

describe('undo and redo', () => {
  const make = () =>
    new EditHistory<MaskEdit, MaskState>(
      () => emptyMask(32, 32),
      applyEdit,
      (s) => ({ ...s, mask: s.mask.slice() }),
      2,
    );

  it('undo returns to the exact earlier mask, redo re-applies, a new edit drops the redo tail', () => {
    const h = make();
    const a = stroke({ points: [{ x: 8, y: 8, pressure: 1 }] });
    const b = stroke({ points: [{ x: 24, y: 24, pressure: 1 }] });
    h.push(a);
    const afterA = h.state().mask.slice();
    h.push(b);
    h.push({ type: 'invert' });
    expect(h.undo()).toBe(true);
    expect(h.undo()).toBe(true);
    expect(h.state().mask).toEqual(afterA);
    expect(h.redo()).toBe(true);
    expect(at(h.state(), 24, 24)).toBe(1);
    h.push({ type: 'clear' });
    expect(h.canRedo).toBe(false);
    expect(maskedFraction(h.state().mask)).toBe(0);
    while (h.undo());
    expect(h.canUndo).toBe(false);
    expect(maskedFraction(h.state().mask)).toBe(0);
  });

  it('snapshots never leak a later state into an earlier one', () => {
    const h = make();
    for (let i = 0; i < 7; i++) h.push(stroke({ points: [{ x: 2 + i * 4, y: 16, pressure: 1 }], size: 2 }));
    const full = h.state();
    expect(maskedFraction(full.mask)).toBeGreaterThan(0);
    h.undo();
    h.undo();
    h.undo();
    expect(at(h.state(), 2 + 6 * 4, 16)).toBe(0);
    expect(at(h.state(), 2 + 3 * 4, 16)).toBe(1);
    h.push({ type: 'invert' });
    expect(at(h.state(), 2 + 5 * 4, 16)).toBe(1);
    expect(at(h.state(), 2, 16)).toBe(0);
  });
});

describe('drawing touches only what a stroke covers', () => {
  it('reports the rectangle it stamped, and compositing inside it equals compositing everything', () => {
    const w = 80;
    const h = 60;
    const st = stroke({ size: 12, hardness: 0.4, points: [{ x: 20, y: 20, pressure: 1 }, { x: 40, y: 30, pressure: 0.7 }] });
    const cov = new Float32Array(w * h);
    const rect = addStrokeCoverage(cov, w, h, st)!;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inside = x >= rect.x0 && x < rect.x1 && y >= rect.y0 && y < rect.y1;
        if (!inside) expect(cov[y * w + x]).toBe(0);
      }
    }
    expect(rect.x1 - rect.x0).toBeLessThan(40);
    const base = new Float32Array(w * h).map((_, i) => (i % 7) / 7);
    const full = new Float32Array(w * h);
    compositeStroke(base, cov, 'brush', 0.8, full);
    const part = base.slice();
    compositeStroke(base, cov, 'brush', 0.8, part, { width: w, rect });
    expect(part).toEqual(full);
    const erased = base.slice();
    compositeStroke(base, cov, 'eraser', 1, erased, { width: w, rect });
    const erasedFull = new Float32Array(w * h);
    compositeStroke(base, cov, 'eraser', 1, erasedFull);
    expect(erased).toEqual(erasedFull);
  });

  it('reports nothing for no new points', () => {
    const st = stroke();
    expect(addStrokeCoverage(new Float32Array(64 * 40), 64, 40, st, st.points.length)).toBeNull();
  });
});
