// Draws one frame of the canvas view: checkerboard, image (or the before/after split), mask overlay,
// a live preview while a job runs, then screen-space decorations (frame, divider, brush cursor).
import type { MaskState } from './mask.ts';
import type { View } from './view.ts';

export interface StageFrame {
  view: View;
  dpr: number;
  mask: MaskState;
  source: CanvasImageSource;
  overlay: HTMLCanvasElement | null;
  overlayOpacity: number;
  /** The working image before the last inpaint, shown left of `split` (0..1) when comparing. */
  before: CanvasImageSource | null;
  comparing: boolean;
  split: number;
  preview: CanvasImageSource | null;
  /** A result shown in place of the picture (an inpaint try, at the mask's full size), or null. */
  result?: CanvasImageSource | null;
  /** The brush outline in screen pixels, or null when no brush cursor should show. */
  cursor: { sx: number; sy: number; radius: number; eraser: boolean } | null;
}

const patterns = new WeakMap<CanvasRenderingContext2D, CanvasPattern>();

function checker(ctx: CanvasRenderingContext2D): CanvasPattern {
  const cached = patterns.get(ctx);
  if (cached) return cached;
  const tile = document.createElement('canvas');
  tile.width = tile.height = 16;
  const t = tile.getContext('2d')!;
  t.fillStyle = '#1d212b';
  t.fillRect(0, 0, 16, 16);
  t.fillStyle = '#262b37';
  t.fillRect(0, 0, 8, 8);
  t.fillRect(8, 8, 8, 8);
  const pattern = ctx.createPattern(tile, 'repeat')!;
  patterns.set(ctx, pattern);
  return pattern;
}

function clipped(ctx: CanvasRenderingContext2D, x: number, w: number, h: number, paint: () => void): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, 0, w, h);
  ctx.clip();
  paint();
  ctx.restore();
}

export function clearStage(ctx: CanvasRenderingContext2D): void {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
}

export function drawStage(ctx: CanvasRenderingContext2D, f: StageFrame): void {
  const { view, dpr, mask } = f;
  clearStage(ctx);
  ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.x, dpr * view.y);
  ctx.imageSmoothingEnabled = view.scale < 2;
  ctx.fillStyle = checker(ctx);
  ctx.fillRect(0, 0, mask.width, mask.height);
  const splitX = mask.width * f.split;
  const comparing = f.comparing && f.before !== null;
  const picture = () => (f.result ? ctx.drawImage(f.result, 0, 0, mask.width, mask.height) : ctx.drawImage(f.source, mask.offsetX, mask.offsetY));
  if (comparing) {
    clipped(ctx, 0, splitX, mask.height, () => ctx.drawImage(f.before!, 0, 0, mask.width, mask.height));
    clipped(ctx, splitX, mask.width - splitX, mask.height, picture);
  } else {
    picture();
    if (f.overlay && f.overlayOpacity > 0) {
      ctx.globalAlpha = f.overlayOpacity;
      ctx.drawImage(f.overlay, 0, 0);
      ctx.globalAlpha = 1;
    }
  }
  if (f.preview) {
    ctx.globalAlpha = 0.85;
    ctx.drawImage(f.preview, 0, 0, mask.width, mask.height);
    ctx.globalAlpha = 1;
  }

  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.strokeStyle = 'rgba(255,255,255,0.18)';
  ctx.lineWidth = 1;
  ctx.strokeRect(view.x - 0.5, view.y - 0.5, mask.width * view.scale + 1, mask.height * view.scale + 1);
  if (comparing) {
    const x = view.x + splitX * view.scale;
    ctx.fillStyle = '#fff';
    ctx.fillRect(x - 1, view.y, 2, mask.height * view.scale);
    ctx.font = '600 11px system-ui';
    ctx.fillText('BEFORE', view.x + 8, view.y + 18);
    ctx.fillText('AFTER', view.x + mask.width * view.scale - 50, view.y + 18);
  }
  if (f.cursor) {
    ctx.beginPath();
    ctx.arc(f.cursor.sx, f.cursor.sy, Math.max(1, f.cursor.radius), 0, Math.PI * 2);
    ctx.strokeStyle = 'rgba(0,0,0,0.7)';
    ctx.lineWidth = 3;
    ctx.stroke();
    ctx.strokeStyle = f.cursor.eraser ? '#9fe8ff' : '#ffffff';
    ctx.lineWidth = 1.2;
    ctx.stroke();
  }
}
