// The picture on the canvas: its source image, the mask as a list of edits with undo/redo (history.ts),
// the mask's coloured overlay, and the picture before the last inpaint (for before/after). A reactive
// class: the view reads `summary`, `canUndo`, `coverage` and `layers`; every change assigns a new
// `layers` snapshot ($state.raw), so whatever draws it reruns without a version counter.
import { EditHistory } from './history.ts';
import { addStrokeCoverage, applyEdit, compositeStroke, emptyMask, maskedFraction, type MaskEdit, type MaskState, type Rect, type Stroke } from './mask.ts';
import { maskPng, paintOverlay, workingCanvas } from './raster.ts';

/** What the view shows about the document. */
export interface DocumentSummary {
  name: string;
  /** The history image this picture is (or continues); null for a file opened from disk. */
  generationId: string | null;
  width: number;
  height: number;
  offsetX: number;
  offsetY: number;
}

/** What is drawn: the mask (mutated in place while a stroke is drawn) and its overlay, as one snapshot. */
export interface Layers {
  source: HTMLImageElement;
  mask: MaskState;
  overlay: HTMLCanvasElement;
}

export class CanvasDocument {
  summary = $state<DocumentSummary | null>(null);
  layers = $state.raw<Layers | null>(null);
  /** The working picture before the last inpaint, for the before/after comparison. */
  before = $state.raw<HTMLCanvasElement | null>(null);
  canUndo = $state(false);
  canRedo = $state(false);
  /** Masked fraction, measured over the whole mask after each edit (not on every pointer move). */
  coverage = $state(0);

  #history: EditHistory<MaskEdit, MaskState> | null = null;
  #source: HTMLImageElement | null = null;
  #mask: MaskState | null = null;
  #overlay: HTMLCanvasElement | null = null;
  #liveBase: Float32Array | null = null;
  #liveCov: Float32Array | null = null;

  constructor(private readonly overlayColour: () => string) {}

  get mask(): MaskState | null {
    return this.#mask;
  }

  get source(): HTMLImageElement | null {
    return this.#source;
  }

  /** Opens a picture with an empty mask; `keepBefore` keeps the current working picture for comparison. */
  open(img: HTMLImageElement, name: string, generationId: string | null, keepBefore = false): void {
    this.before = keepBefore && this.#source && this.#mask ? workingCanvas(this.#source, this.#mask) : null;
    this.#source = img;
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    this.#history = new EditHistory<MaskEdit, MaskState>(() => emptyMask(w, h), applyEdit, (s) => ({ ...s, mask: s.mask.slice() }));
    this.#mask = this.#history.state();
    this.summary = { name, generationId, width: w, height: h, offsetX: 0, offsetY: 0 };
    this.#changed();
  }

  commit(edit: MaskEdit): void {
    if (!this.#history) return;
    this.#history.push(edit);
    if (edit.type !== 'stroke') this.#mask = this.#history.state();
    this.#changed();
  }

  undo(): void {
    if (!this.#history?.undo()) return;
    this.#mask = this.#history.state();
    this.#changed();
  }

  redo(): void {
    if (!this.#history?.redo()) return;
    this.#mask = this.#history.state();
    this.#changed();
  }

  /** A stroke in progress: composite the new part into the mask and repaint only its rectangle. */
  strokeProgress(stroke: Stroke, from: number): void {
    const mask = this.#mask;
    if (!mask) return;
    const { width: w, height: h } = mask;
    if (from === 0) {
      this.#liveBase = mask.mask.slice();
      this.#liveCov = new Float32Array(w * h);
    }
    const rect = addStrokeCoverage(this.#liveCov!, w, h, stroke, from);
    if (!rect) return;
    compositeStroke(this.#liveBase!, this.#liveCov!, stroke.tool, stroke.opacity, mask.mask, { width: w, rect });
    this.repaint(rect);
  }

  strokeDone(stroke: Stroke): void {
    this.#liveBase = this.#liveCov = null;
    this.commit(stroke);
  }

  strokeCancelled(): void {
    if (this.#mask && this.#liveBase) this.#mask.mask.set(this.#liveBase);
    this.#liveBase = this.#liveCov = null;
    this.repaint();
  }

  /** Repaints the overlay (all of it, or one rectangle during a stroke) and publishes a new snapshot. */
  repaint(rect?: Rect | null): void {
    const mask = this.#mask;
    if (!mask || !this.#source) return;
    this.#overlay = paintOverlay(mask, this.overlayColour(), this.#overlay, rect);
    if (!rect) this.coverage = maskedFraction(mask.mask);
    this.layers = { source: this.#source, mask, overlay: this.#overlay };
  }

  /** The picture as the model should see it (grown by extensions), as a canvas. */
  working(): HTMLCanvasElement {
    return workingCanvas(this.#source!, this.#mask!);
  }

  /** The mask as PNG base64 (white = repaint). */
  maskPng(): string {
    return maskPng(this.#mask!);
  }

  /** Whether the mask still has the source picture's size (nothing extended). */
  get unextended(): boolean {
    return !!this.#mask && !!this.#source && this.#mask.width === this.#source.naturalWidth && this.#mask.height === this.#source.naturalHeight;
  }

  #changed(): void {
    const mask = this.#mask;
    if (mask && this.summary) {
      this.summary.width = mask.width;
      this.summary.height = mask.height;
      this.summary.offsetX = mask.offsetX;
      this.summary.offsetY = mask.offsetY;
    }
    this.canUndo = !!this.#history?.canUndo;
    this.canRedo = !!this.#history?.canRedo;
    this.repaint();
  }
}
