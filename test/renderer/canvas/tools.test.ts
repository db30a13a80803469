import { describe, expect, it } from 'vitest';
import { BrushTool, PanTool, effectivePressure, stepBrushSize, defaultBrushSize, type ToolPointer } from '../../../renderer/src/canvas/tools.ts';
import { fitView, screenToImage, zoomAt, actualSizeView, type View } from '../../../renderer/src/canvas/view.ts';

const ptr = (x: number, y: number, over: Partial<ToolPointer> = {}): ToolPointer => ({ sx: x, sy: y, x, y, pressure: 0.5, pointerType: 'mouse', button: 0, ...over });

describe('brush tool state machine', () => {
  it('down → move → up yields one stroke edit with the settings at the time of the press', () => {
    let settings = { size: 12, hardness: 0.8, opacity: 0.9 };
    const tool = new BrushTool('brush', () => settings);
    expect(tool.down(ptr(1, 1)).kind).toBe('stroke-progress');
    settings = { size: 99, hardness: 0, opacity: 0 };
    expect(tool.move(ptr(5, 5))).toMatchObject({ kind: 'stroke-progress', from: 1 });
    expect(tool.move(ptr(5.1, 5.1)).kind).toBe('none');
    const done = tool.up(ptr(5, 5));
    expect(done).toMatchObject({ kind: 'stroke-done', stroke: { tool: 'brush', size: 12, hardness: 0.8, opacity: 0.9 } });
    if (done.kind === 'stroke-done') expect(done.stroke.points.map((p) => [p.x, p.y, p.pressure])).toEqual([[1, 1, 1], [5, 5, 1]]);
    expect(tool.state.name).toBe('idle');
  });

  it('ignores moves while idle and other buttons; cancel discards the stroke', () => {
    const tool = new BrushTool('eraser', () => ({ size: 4, hardness: 1, opacity: 1 }));
    expect(tool.move(ptr(1, 1)).kind).toBe('none');
    expect(tool.down(ptr(1, 1, { button: 2 })).kind).toBe('none');
    tool.down(ptr(1, 1));
    expect(tool.cancel().kind).toBe('stroke-cancelled');
    expect(tool.up(ptr(1, 1)).kind).toBe('none');
  });

  it('uses pen pressure, not the mouse constant', () => {
    expect(effectivePressure({ pointerType: 'mouse', pressure: 0.5 })).toBe(1);
    expect(effectivePressure({ pointerType: 'pen', pressure: 0.3 })).toBe(0.3);
    expect(effectivePressure({ pointerType: 'pen', pressure: 0 })).toBe(0.05);
  });

  it('[ and ] step the size proportionally within bounds', () => {
    expect(stepBrushSize(10, 1)).toBe(12);
    expect(stepBrushSize(10, -1)).toBe(8);
    expect(stepBrushSize(1, -1)).toBe(1);
    expect(stepBrushSize(2, 1)).toBe(3);
    expect(stepBrushSize(1000, 1)).toBe(1024);
  });
});

describe('pan tool and view', () => {
  it('space-drag pans by the pointer movement in screen pixels', () => {
    let view: View = { scale: 2, x: 10, y: 10 };
    const pan = new PanTool(() => view);
    pan.down(ptr(100, 100));
    const r = pan.move(ptr(130, 90));
    if (r.kind === 'view') view = r.view;
    expect(view).toEqual({ scale: 2, x: 40, y: 0 });
    pan.up(ptr(130, 90));
    expect(pan.move(ptr(0, 0)).kind).toBe('none');
  });

  it('zooming keeps the image point under the cursor fixed', () => {
    const v: View = { scale: 1.5, x: 30, y: -20 };
    const before = screenToImage(v, 200, 150);
    const z = zoomAt(v, 2.5, 200, 150);
    expect(z.scale).toBeCloseTo(3.75);
    const after = screenToImage(z, 200, 150);
    expect(after.x).toBeCloseTo(before.x, 9);
    expect(after.y).toBeCloseTo(before.y, 9);
    expect(zoomAt(v, 1e6, 0, 0).scale).toBe(32);
  });

  it('fit centres the whole image; 100% is one pixel per pixel', () => {
    const f = fitView(800, 600, 512, 512, 44);
    expect(f.scale).toBeCloseTo(512 / 512 * ((600 - 88) / 512));
    expect(f.x + (512 * f.scale) / 2).toBeCloseTo(400);
    expect(f.y + (512 * f.scale) / 2).toBeCloseTo(300);
    expect(actualSizeView(800, 600, 64, 64)).toEqual({ scale: 1, x: 368, y: 268 });
  });
});

describe('default brush size', () => {
  it('is an eighth of the shorter side, within 1–512 px', () => {
    expect(defaultBrushSize(32, 32)).toBe(4);
    expect(defaultBrushSize(512, 768)).toBe(64);
    expect(defaultBrushSize(4, 4)).toBe(1);
    expect(defaultBrushSize(8192, 8192)).toBe(512);
  });
});
