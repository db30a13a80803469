// Commands between views: a view that can do something for the others (open a picture in the canvas,
// take parameters or an init picture in Generate) provides a handler when it mounts; other views call it
// directly and switch to that view. Nothing is left in shared state for an effect to pick up later.
import type { RequestOutput } from '../../../electron/api/index.ts';

/** A picture handed to another view: a generation from the history, or raw image bytes. */
export type PictureSource = { generationId: string } | { dataUrl: string; name: string };

export interface Commands {
  /** Open a picture in the canvas. */
  'canvas.open': (source: PictureSource) => void;
  /** Fill Generate's form with these parameters ("reuse" in the history). */
  'generate.reuse': (spec: RequestOutput<'history.reuse'>) => void;
  /** Use this picture as Generate's img2img init picture. */
  'generate.img2img': (source: PictureSource) => void;
}

const handlers: Partial<Commands> = {};

/** Registers the view's handler; returns the function that removes it (call it on unmount). */
export function provide<K extends keyof Commands>(name: K, handler: Commands[K]): () => void {
  handlers[name] = handler;
  return () => {
    if (handlers[name] === handler) delete handlers[name];
  };
}

/** Runs a command; false when no view provides it (not mounted yet). */
export function run<K extends keyof Commands>(name: K, ...args: Parameters<Commands[K]>): boolean {
  const handler = handlers[name] as ((...a: Parameters<Commands[K]>) => void) | undefined;
  if (!handler) return false;
  handler(...args);
  return true;
}
