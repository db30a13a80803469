// Outpainting starts from the picture's own edges: every pixel of the area an extension added takes the
// colour of the nearest pixel of the picture (its edge row or column, or the corner). A mid-grey fill
// leaves a grey band that the model keeps at the join; edge colours give it a plausible start.

/** The picture's place in the working canvas. */
export interface Placed {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Fills the RGBA pixels of a `width`×`height` canvas outside `placed` from the nearest edge pixel, in place. */
export function fillFromEdges(rgba: Uint8ClampedArray, width: number, height: number, placed: Placed): void {
  const x0 = Math.max(0, placed.x);
  const y0 = Math.max(0, placed.y);
  const x1 = Math.min(width, placed.x + placed.width) - 1;
  const y1 = Math.min(height, placed.y + placed.height) - 1;
  if (x1 < x0 || y1 < y0) return;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(y1, Math.max(y0, y));
    for (let x = 0; x < width; x++) {
      if (y === sy && x >= x0 && x <= x1) continue;
      const sx = Math.min(x1, Math.max(x0, x));
      const to = (y * width + x) * 4;
      const from = (sy * width + sx) * 4;
      rgba[to] = rgba[from]!;
      rgba[to + 1] = rgba[from + 1]!;
      rgba[to + 2] = rgba[from + 2]!;
      rgba[to + 3] = 255;
    }
  }
}
