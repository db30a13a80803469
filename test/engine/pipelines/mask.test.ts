import { describe, expect, it } from 'vitest';
import { rgbImage } from '../../../electron/engine/pipelines/image.ts';
import { extendCanvas, featherMask, latentMask, maskFromImage, pasteBack } from '../../../electron/engine/pipelines/mask.ts';


function paintedMask(w: number, h: number, inside: (x: number, y: number) => boolean) {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inside(x, y)) d.fill(255, 3 * (y * w + x), 3 * (y * w + x) + 3);
  return rgbImage(w, h, d);
}

describe('inpainting masks', () => {
  const square = paintedMask(16, 16, (x, y) => x >= 4 && x < 12 && y >= 4 && y < 12);

  it('feathering ramps inside the mask only and reaches 1 in its interior', () => {
    const m = featherMask(maskFromImage(square), 2);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const v = m.data[y * 16 + x]!;
        const inside = x >= 4 && x < 12 && y >= 4 && y < 12;
        if (!inside) expect(v).toBe(0);
        else expect(v).toBeGreaterThan(0);
      }
    }
    expect(m.data[4 * 16 + 4]).toBeLessThan(0.5); // corner of the square: soft
    expect(m.data[8 * 16 + 8]).toBe(1); // centre: fully repainted
  });

  it('a latent cell is free when any pixel in it is masked (thin strokes survive)', () => {
    const stroke = paintedMask(16, 16, (x) => x === 9);
    expect(Array.from(latentMask(maskFromImage(stroke), 8))).toEqual([0, 1, 0, 1]);
  });

  it('paste-back keeps every pixel outside the mask byte for byte', () => {
    const orig = rgbImage(16, 16, Uint8Array.from({ length: 768 }, (_, i) => (i * 37) % 256));
    const gen = rgbImage(16, 16, new Uint8Array(768).fill(7));
    const w = featherMask(maskFromImage(square), 3);
    const out = pasteBack(orig, gen, w);
    for (let p = 0; p < 256; p++) {
      for (let c = 0; c < 3; c++) {
        if (w.data[p] === 0) expect(out.data[3 * p + c]).toBe(orig.data[3 * p + c]);
        if (w.data[p] === 1) expect(out.data[3 * p + c]).toBe(7);
      }
    }
  });

  it('rejects an empty mask and a size mismatch with a clear message', () => {
    expect(() => maskFromImage(rgbImage(8, 8))).toThrow(/mask is empty/);
    const orig = rgbImage(8, 8);
    expect(() => pasteBack(orig, orig, featherMask(maskFromImage(square), 0))).toThrow(/16x16.*8x8/);
  });

  it('outpainting extends the canvas by repeating edges and masks only the new border', () => {
    const img = rgbImage(2, 1, Uint8Array.from([10, 20, 30, 40, 50, 60]));
    const { canvas, mask } = extendCanvas(img, { left: 1, right: 2 });
    expect([canvas.width, canvas.height]).toEqual([5, 1]);
    expect(Array.from(canvas.data)).toEqual([10, 20, 30, 10, 20, 30, 40, 50, 60, 40, 50, 60, 40, 50, 60]);
    expect(Array.from(mask.data.filter((_, i) => i % 3 === 0))).toEqual([255, 0, 0, 255, 255]);
    expect(() => extendCanvas(img, {})).toThrow(/at least one margin/);
    expect(() => extendCanvas(img, { left: -8 })).toThrow(/left/);
  });
});
