// The canvas's keyboard: which command a key press means (the view carries it out). Typing in a field
// never reaches here; Space is handled by the view (it pans while held).
export type CanvasCommand = 'undo' | 'redo' | 'fit' | 'actual-size' | 'brush-bigger' | 'brush-smaller' | 'brush' | 'eraser' | 'pan' | 'cancel-stroke';

export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

export function canvasCommand(e: KeyPress): CanvasCommand | null {
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === 'z') return e.shiftKey ? 'redo' : 'undo';
  if (mod && key === 'y') return 'redo';
  if (mod && e.key === '0') return 'fit';
  if (mod && e.key === '1') return 'actual-size';
  if (e.key === ']') return 'brush-bigger';
  if (e.key === '[') return 'brush-smaller';
  if (mod || e.altKey) return null;
  if (key === 'b') return 'brush';
  if (key === 'e') return 'eraser';
  if (key === 'h') return 'pan';
  if (e.key === 'Escape') return 'cancel-stroke';
  return null;
}

/** Commands that must not also do the browser's own thing (Ctrl+Z in the page, Ctrl+0 zoom reset). */
export const CLAIMS_KEY: ReadonlySet<CanvasCommand> = new Set(['undo', 'redo', 'fit', 'actual-size']);
