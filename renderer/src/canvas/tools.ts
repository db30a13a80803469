// Canvas tools as small state machines: each takes pointer events in image coordinates and either
// updates the view, grows a live stroke, or finishes with an edit for the history.
import type { Stroke, StrokePoint } from './mask.ts';
import { panBy, type View } from './view.ts';

export interface ToolPointer {
  /** Screen position inside the canvas element. */
  sx: number;
  sy: number;
  /** The same point in working-canvas pixels. */
  x: number;
  y: number;
  pressure: number;
  pointerType: string;
  button: number;
}

export interface BrushSettings {
  size: number;
  hardness: number;
  opacity: number;
}

export type ToolResult =
  | { kind: 'none' }
  | { kind: 'view'; view: View }
  /** The live stroke grew: points from `from` on are new. */
  | { kind: 'stroke-progress'; stroke: Stroke; from: number }
  | { kind: 'stroke-done'; stroke: Stroke }
  | { kind: 'stroke-cancelled' };

const NONE: ToolResult = { kind: 'none' };

/** A mouse reports pressure 0.5 while a button is down, and 0 otherwise: treat both as "no pressure". */
export function effectivePressure(p: Pick<ToolPointer, 'pressure' | 'pointerType'>): number {
  if (p.pointerType !== 'pen') return 1;
  return Math.min(1, Math.max(0.05, p.pressure));
}

export class BrushTool {
  state: { name: 'idle' } | { name: 'drawing'; stroke: Stroke } = { name: 'idle' };

  constructor(
    readonly tool: Stroke['tool'],
    private readonly settings: () => BrushSettings,
  ) {}

  down(p: ToolPointer): ToolResult {
    if (p.button !== 0 || this.state.name !== 'idle') return NONE;
    const { size, hardness, opacity } = this.settings();
    const stroke: Stroke = { type: 'stroke', tool: this.tool, size, hardness, opacity, points: [point(p)] };
    this.state = { name: 'drawing', stroke };
    return { kind: 'stroke-progress', stroke, from: 0 };
  }

  move(p: ToolPointer): ToolResult {
    if (this.state.name !== 'drawing') return NONE;
    const { stroke } = this.state;
    const last = stroke.points[stroke.points.length - 1]!;
    // Sub-pixel jitter adds dabs without changing the mask.
    if (Math.hypot(p.x - last.x, p.y - last.y) < 0.35) return NONE;
    stroke.points.push(point(p));
    return { kind: 'stroke-progress', stroke, from: stroke.points.length - 1 };
  }

  up(_p: ToolPointer): ToolResult {
    if (this.state.name !== 'drawing') return NONE;
    const { stroke } = this.state;
    this.state = { name: 'idle' };
    return { kind: 'stroke-done', stroke };
  }

  cancel(): ToolResult {
    if (this.state.name !== 'drawing') return NONE;
    this.state = { name: 'idle' };
    return { kind: 'stroke-cancelled' };
  }
}

export class PanTool {
  state: { name: 'idle' } | { name: 'panning'; lastX: number; lastY: number } = { name: 'idle' };

  constructor(private readonly view: () => View) {}

  down(p: ToolPointer): ToolResult {
    this.state = { name: 'panning', lastX: p.sx, lastY: p.sy };
    return NONE;
  }

  move(p: ToolPointer): ToolResult {
    if (this.state.name !== 'panning') return NONE;
    const dx = p.sx - this.state.lastX;
    const dy = p.sy - this.state.lastY;
    this.state = { name: 'panning', lastX: p.sx, lastY: p.sy };
    return { kind: 'view', view: panBy(this.view(), dx, dy) };
  }

  up(_p: ToolPointer): ToolResult {
    this.state = { name: 'idle' };
    return NONE;
  }

  cancel(): ToolResult {
    this.state = { name: 'idle' };
    return NONE;
  }
}

export type Tool = BrushTool | PanTool;

function point(p: ToolPointer): StrokePoint {
  return { x: p.x, y: p.y, pressure: effectivePressure(p) };
}

/** Brush size steps for `[` and `]`: proportional, so small and large brushes both change usefully. */
export function stepBrushSize(size: number, direction: 1 | -1): number {
  const next = direction > 0 ? Math.max(size + 1, Math.round(size * 1.2)) : Math.min(size - 1, Math.round(size / 1.2));
  return Math.min(1024, Math.max(1, next));
}

/** The brush a new picture starts with: an eighth of its shorter side (4 px on a 32 px picture), 1–512 px. */
export function defaultBrushSize(width: number, height: number): number {
  return Math.min(512, Math.max(1, Math.round(Math.min(width, height) / 8)));
}
