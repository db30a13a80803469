// The hue of a picture, for the colour measure (colour.ts) and the colour-caption fine-tune: the
// circular mean of HSV hue over the picture's saturated, not-white, not-dark pixels. White background,
// black outlines and greys have no meaningful hue and are left out.
import type { RgbImage } from '../pipelines/image.ts';

/** A pixel counts when its HSV saturation and value reach these. */
export const MIN_SATURATION = 0.35;
export const MIN_VALUE = 0.25;

export interface PictureHue {
  /** Circular mean hue in degrees [0, 360), or null when no pixel is saturated enough. */
  hue: number | null;
  /** Share of the picture's pixels that counted. */
  coloured: number;
  /** Length of the mean hue vector, 0…1: 1 when every counted pixel has the same hue. */
  concentration: number;
}

/** HSV hue (degrees), saturation and value of one RGB pixel (0…255 each). */
export function rgbToHsv(r: number, g: number, b: number): { h: number; s: number; v: number } {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  const v = max / 255;
  const s = max === 0 ? 0 : d / max;
  let h = 0;
  if (d > 0) {
    if (max === r) h = 60 * (((g - b) / d) % 6);
    else if (max === g) h = 60 * ((b - r) / d + 2);
    else h = 60 * ((r - g) / d + 4);
  }
  return { h: (h + 360) % 360, s, v };
}

/** The hue of an interleaved RGB picture (see PictureHue). */
export function pictureHue(img: RgbImage): PictureHue {
  const n = img.width * img.height;
  if (img.data.length !== n * 3) throw new Error(`pictureHue: ${img.width}×${img.height} RGB needs ${n * 3} bytes, got ${img.data.length}`);
  let sx = 0;
  let sy = 0;
  let count = 0;
  for (let p = 0; p < n; p++) {
    const { h, s, v } = rgbToHsv(img.data[p * 3]!, img.data[p * 3 + 1]!, img.data[p * 3 + 2]!);
    if (s < MIN_SATURATION || v < MIN_VALUE) continue;
    const a = (h * Math.PI) / 180;
    sx += Math.cos(a);
    sy += Math.sin(a);
    count++;
  }
  if (count === 0) return { hue: null, coloured: 0, concentration: 0 };
  const hue = ((Math.atan2(sy, sx) * 180) / Math.PI + 360) % 360;
  return { hue, coloured: count / n, concentration: Math.hypot(sx, sy) / count };
}

/** Circular mean of hues in degrees (null for none). */
export function meanHue(hues: readonly number[]): number | null {
  if (hues.length === 0) return null;
  let sx = 0;
  let sy = 0;
  for (const h of hues) {
    sx += Math.cos((h * Math.PI) / 180);
    sy += Math.sin((h * Math.PI) / 180);
  }
  return ((Math.atan2(sy, sx) * 180) / Math.PI + 360) % 360;
}

/** Angle between two hues, 0…180 degrees. */
export function hueDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/** The name whose reference hue is nearest to hue. */
export function nearestHueName(hue: number, references: Readonly<Record<string, number>>): string {
  let best = '';
  let bestD = Infinity;
  for (const [name, ref] of Object.entries(references)) {
    const d = hueDistance(hue, ref);
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}
