// The mask as data: a list of edits (strokes, invert, clear, canvas extensions), replayed onto a
// Float32Array (1 = repaint, 0 = keep) in working-canvas pixels. Pure code: no DOM, unit-tested in Node.

export interface StrokePoint {
  x: number;
  y: number;
  /** Pen pressure 0..1 (a mouse reports 0.5; we treat anything without pressure as 1). */
  pressure: number;
}

export interface Stroke {
  type: 'stroke';
  tool: 'brush' | 'eraser';
  /** Brush diameter in image pixels at full pressure. */
  size: number;
  /** 0..1: the fraction of the radius painted at full strength before the edge falls off. */
  hardness: number;
  /** 0..1: the most one stroke adds (brush) or removes (eraser); dabs within a stroke do not pile up. */
  opacity: number;
  points: StrokePoint[];
}

/** Grows the working canvas on any side (outpainting); the new area is masked for repainting. */
export interface Extend {
  type: 'extend';
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export type MaskEdit = Stroke | Extend | { type: 'invert' } | { type: 'clear' };

export interface MaskState {
  width: number;
  height: number;
  /** Where the source image's top-left corner sits in the working canvas. */
  offsetX: number;
  offsetY: number;
  mask: Float32Array;
}

export function emptyMask(width: number, height: number): MaskState {
  if (!(width > 0 && height > 0 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new Error(`A mask needs a positive whole-pixel size, not ${width}×${height}.`);
  }
  return { width, height, offsetX: 0, offsetY: 0, mask: new Float32Array(width * height) };
}

/** The value of one dab at distance d from its centre, for radius r. */
function dabFalloff(d: number, r: number, hardness: number): number {
  if (d >= r) return 0;
  const inner = r * hardness;
  if (d <= inner) return 1;
  const t = (d - inner) / (r - inner);
  return 1 - t * t * (3 - 2 * t); // smoothstep edge
}

/** A pixel rectangle, x0/y0 inclusive, x1/y1 exclusive. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function grow(rect: Rect | null, x0: number, y0: number, x1: number, y1: number): Rect | null {
  if (x1 <= x0 || y1 <= y0) return rect;
  if (!rect) return { x0, y0, x1, y1 };
  return { x0: Math.min(rect.x0, x0), y0: Math.min(rect.y0, y0), x1: Math.max(rect.x1, x1), y1: Math.max(rect.y1, y1) };
}

/** Stamps one dab into `cov` (max-blend, so overlapping dabs of the same stroke never exceed 1). */
function stampDab(cov: Float32Array, w: number, h: number, cx: number, cy: number, r: number, hardness: number, dirty: Rect | null): Rect | null {
  const x0 = Math.max(0, Math.floor(cx - r));
  const x1 = Math.min(w - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r));
  const y1 = Math.min(h - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const v = dabFalloff(Math.sqrt(dx * dx + dy * dy), r, hardness);
      const i = y * w + x;
      if (v > cov[i]!) cov[i] = v;
    }
  }
  return grow(dirty, x0, y0, x1 + 1, y1 + 1);
}

const MIN_RADIUS = 0.5;

function radiusAt(stroke: Stroke, pressure: number): number {
  return Math.max(MIN_RADIUS, (stroke.size / 2) * pressure);
}

/**
 * Adds the dabs of stroke.points[from..] to a coverage buffer. Drawing calls this with the points that
 * arrived since the last call, so a long stroke costs only its new segment per pointer move. Returns
 * the rectangle it touched (null if none), so that compositing and display can stay inside it.
 */
export function addStrokeCoverage(cov: Float32Array, w: number, h: number, stroke: Stroke, from = 0): Rect | null {
  const pts = stroke.points;
  const hardness = Math.min(1, Math.max(0, stroke.hardness));
  let dirty: Rect | null = null;
  for (let i = Math.max(0, from); i < pts.length; i++) {
    const p = pts[i]!;
    const prev = i > 0 ? pts[i - 1]! : null;
    if (!prev) {
      dirty = stampDab(cov, w, h, p.x, p.y, radiusAt(stroke, p.pressure), hardness, dirty);
      continue;
    }
    const dist = Math.hypot(p.x - prev.x, p.y - prev.y);
    const r = Math.min(radiusAt(stroke, prev.pressure), radiusAt(stroke, p.pressure));
    const spacing = Math.max(0.5, r * 0.25);
    const n = Math.max(1, Math.ceil(dist / spacing));
    for (let k = 1; k <= n; k++) {
      const t = k / n;
      const pr = prev.pressure + (p.pressure - prev.pressure) * t;
      dirty = stampDab(cov, w, h, prev.x + (p.x - prev.x) * t, prev.y + (p.y - prev.y) * t, radiusAt(stroke, pr), hardness, dirty);
    }
  }
  return dirty;
}

/**
 * Composites a stroke's coverage onto a mask: out = base ⊕ coverage·opacity, over the whole mask or only
 * inside `region` (a rectangle of a mask `width` pixels wide).
 */
export function compositeStroke(
  base: Float32Array,
  cov: Float32Array,
  tool: Stroke['tool'],
  opacity: number,
  out: Float32Array,
  region?: { width: number; rect: Rect },
): void {
  const o = Math.min(1, Math.max(0, opacity));
  const w = region?.width ?? base.length;
  const { x0, y0, x1, y1 } = region?.rect ?? { x0: 0, y0: 0, x1: w, y1: base.length / w };
  for (let y = y0; y < y1; y++) {
    const end = y * w + x1;
    if (tool === 'brush') {
      for (let i = y * w + x0; i < end; i++) out[i] = base[i]! + (1 - base[i]!) * cov[i]! * o;
    } else {
      for (let i = y * w + x0; i < end; i++) out[i] = base[i]! * (1 - cov[i]! * o);
    }
  }
}

/** Applies one edit; returns the new state (a new object when the canvas size changes). */
export function applyEdit(state: MaskState, edit: MaskEdit): MaskState {
  const { width: w, height: h, mask } = state;
  switch (edit.type) {
    case 'stroke': {
      const cov = new Float32Array(w * h);
      const rect = addStrokeCoverage(cov, w, h, edit);
      if (rect) compositeStroke(mask, cov, edit.tool, edit.opacity, mask, { width: w, rect });
      return state;
    }
    case 'invert':
      for (let i = 0; i < mask.length; i++) mask[i] = 1 - mask[i]!;
      return state;
    case 'clear':
      mask.fill(0);
      return state;
    case 'extend': {
      const { left, top, right, bottom } = edit;
      if (![left, top, right, bottom].every((v) => Number.isInteger(v) && v >= 0)) {
        throw new Error('Extend the canvas by whole, non-negative pixel amounts.');
      }
      const nw = w + left + right;
      const nh = h + top + bottom;
      const next = new Float32Array(nw * nh).fill(1);
      for (let y = 0; y < h; y++) next.set(mask.subarray(y * w, (y + 1) * w), (y + top) * nw + left);
      return { width: nw, height: nh, offsetX: state.offsetX + left, offsetY: state.offsetY + top, mask: next };
    }
  }
}

/** Replays edits from an empty mask the size of the source image. */
export function replay(width: number, height: number, edits: readonly MaskEdit[]): MaskState {
  let state = emptyMask(width, height);
  for (const e of edits) state = applyEdit(state, e);
  return state;
}

/** Fraction of the canvas marked for repainting (mask ≥ 0.5). */
export function maskedFraction(mask: Float32Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]! >= 0.5) n++;
  return mask.length ? n / mask.length : 0;
}
