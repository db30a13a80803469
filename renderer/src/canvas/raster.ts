// The mask and image as pixels in the browser: the coloured overlay drawn over the image, and the PNGs
// sent to the inpaint job (the working image, and the mask as white = repaint).
import { canvasToBase64Png } from '../lib/images.ts';
import { fillFromEdges } from './edge-fill.ts';
import type { MaskState, Rect } from './mask.ts';

function canvasOf(width: number, height: number, reuse?: HTMLCanvasElement | null): HTMLCanvasElement {
  if (reuse && reuse.width === width && reuse.height === height) return reuse;
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return c;
}

/**
 * Paints the mask into `reuse` (or a new canvas) in `colour` (#rrggbb), alpha = mask value; with `rect`
 * and a reusable canvas, only that rectangle is repainted (a brush stroke touches a small part).
 */
export function paintOverlay(mask: MaskState, colour: string, reuse?: HTMLCanvasElement | null, rect?: Rect | null): HTMLCanvasElement {
  const c = canvasOf(mask.width, mask.height, reuse);
  const { x0, y0, x1, y1 } = rect && c === reuse ? rect : { x0: 0, y0: 0, x1: mask.width, y1: mask.height };
  const ctx = c.getContext('2d')!;
  const data = ctx.createImageData(x1 - x0, y1 - y0);
  const r = parseInt(colour.slice(1, 3), 16);
  const g = parseInt(colour.slice(3, 5), 16);
  const b = parseInt(colour.slice(5, 7), 16);
  const px = data.data;
  const m = mask.mask;
  let o = 0;
  for (let y = y0; y < y1; y++) {
    for (let i = y * mask.width + x0, end = y * mask.width + x1; i < end; i++, o += 4) {
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = m[i]! * 255;
    }
  }
  ctx.putImageData(data, x0, y0);
  return c;
}

/** The image as the model sees it: the source placed in the (possibly extended) working canvas, the rest from its edges. */
export function workingCanvas(source: CanvasImageSource, mask: MaskState): HTMLCanvasElement {
  const c = canvasOf(mask.width, mask.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(source, mask.offsetX, mask.offsetY);
  const w = (source as HTMLImageElement).naturalWidth ?? (source as HTMLCanvasElement).width;
  const h = (source as HTMLImageElement).naturalHeight ?? (source as HTMLCanvasElement).height;
  if (mask.offsetX !== 0 || mask.offsetY !== 0 || mask.width !== w || mask.height !== h) {
    // The outpaint area starts from the picture's edge colours, not a grey band the model would keep.
    const data = ctx.getImageData(0, 0, c.width, c.height);
    fillFromEdges(data.data, c.width, c.height, { x: mask.offsetX, y: mask.offsetY, width: w, height: h });
    ctx.putImageData(data, 0, 0);
  }
  return c;
}

/** The mask as an opaque greyscale PNG (base64): white = repaint, black = keep. */
export function maskPng(mask: MaskState): string {
  const c = canvasOf(mask.width, mask.height);
  const ctx = c.getContext('2d')!;
  const data = ctx.createImageData(c.width, c.height);
  const m = mask.mask;
  for (let i = 0; i < m.length; i++) {
    const v = Math.round(m[i]! * 255);
    data.data[i * 4] = data.data[i * 4 + 1] = data.data[i * 4 + 2] = v;
    data.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return canvasToBase64Png(c);
}
