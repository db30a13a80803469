// The viewport: image pixels → screen pixels as screen = image·scale + (x, y).

export interface View {
  scale: number;
  x: number;
  y: number;
}

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 32;

const clampScale = (s: number) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));

/** The whole image centred in the viewport with a margin (small images are enlarged to fill it). */
export function fitView(viewW: number, viewH: number, imgW: number, imgH: number, margin = 32): View {
  const scale = clampScale(Math.min((viewW - 2 * margin) / imgW, (viewH - 2 * margin) / imgH));
  return { scale, x: (viewW - imgW * scale) / 2, y: (viewH - imgH * scale) / 2 };
}

/** 100%: one image pixel per screen pixel, centred. */
export function actualSizeView(viewW: number, viewH: number, imgW: number, imgH: number): View {
  return { scale: 1, x: Math.round((viewW - imgW) / 2), y: Math.round((viewH - imgH) / 2) };
}

/** Zooms by `factor` keeping the image point under (sx, sy) where it is on screen. */
export function zoomAt(view: View, factor: number, sx: number, sy: number): View {
  const scale = clampScale(view.scale * factor);
  const k = scale / view.scale;
  return { scale, x: sx - (sx - view.x) * k, y: sy - (sy - view.y) * k };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { ...view, x: view.x + dx, y: view.y + dy };
}

export function screenToImage(view: View, sx: number, sy: number): { x: number; y: number } {
  return { x: (sx - view.x) / view.scale, y: (sy - view.y) / view.scale };
}

/** Wheel delta → zoom factor; trackpads send many small deltas, mice a few large ones. */
export function wheelZoomFactor(deltaY: number): number {
  return Math.exp(-Math.max(-400, Math.min(400, deltaY)) * 0.0015);
}
