import { expect, it } from 'vitest';
import { fillFromEdges } from '../../../renderer/src/canvas/edge-fill.ts';

it('fills an extension from the nearest edge pixel and leaves the picture alone', () => {
  // A 2×2 picture (red, green / blue, white) placed at (1, 1) in a 4×3 canvas.
  const w = 4;
  const h = 3;
  const rgba = new Uint8ClampedArray(w * h * 4);
  const set = (x: number, y: number, c: number[]) => rgba.set([...c, 255], (y * w + x) * 4);
  const red = [255, 0, 0];
  const green = [0, 255, 0];
  const blue = [0, 0, 255];
  const white = [255, 255, 255];
  set(1, 1, red);
  set(2, 1, green);
  set(1, 2, blue);
  set(2, 2, white);
  fillFromEdges(rgba, w, h, { x: 1, y: 1, width: 2, height: 2 });
  const at = (x: number, y: number) => Array.from(rgba.slice((y * w + x) * 4, (y * w + x) * 4 + 3));
  expect([at(0, 0), at(1, 0), at(2, 0), at(3, 0)]).toEqual([red, red, green, green]);
  expect([at(0, 1), at(1, 1), at(2, 1), at(3, 1)]).toEqual([red, red, green, green]);
  expect([at(0, 2), at(1, 2), at(2, 2), at(3, 2)]).toEqual([blue, blue, white, white]);
  expect(Array.from(rgba.filter((_, i) => i % 4 === 3))).toEqual(new Array(w * h).fill(255));
});
