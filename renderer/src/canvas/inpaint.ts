// The inpaint job the canvas submits: the working picture (grown by extensions) and its mask, with the
// settings of the Inpaint panel. Pure: the view passes what it has, and shows the error this returns.
import type { JobSpecInput } from '../../../electron/api/jobs.ts';
import type { CanvasDocument } from './document.svelte.ts';

export interface InpaintSettings {
  modelId: string;
  prompt: string;
  negativePrompt: string;
  sampler: string;
  steps: number | null;
  guidance: number | null;
  strength: number;
  feather: number;
  /** Empty for a random seed. */
  seedText: string;
}

/** The size the model works at: the picture's, to a multiple of 8. */
export function outputSize(width: number, height: number): { w: number; h: number } {
  return { w: Math.max(8, Math.round(width / 8) * 8), h: Math.max(8, Math.round(height / 8) * 8) };
}

export function parseSeed(text: string): number | null | Error {
  if (text.trim() === '') return null;
  const seed = Number(text);
  return Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32 ? seed : new Error('The seed must be a whole number from 0 to 4294967295, or empty for a random seed.');
}

/** The job spec, or an Error saying what to do first. */
export function inpaintSpec(doc: CanvasDocument, s: InpaintSettings, imageBase64: () => string): JobSpecInput | Error {
  const summary = doc.summary;
  if (!summary || !doc.mask) return new Error('Open a picture first.');
  if (!s.modelId) return new Error('Choose a model first (import one in Models if the list is empty).');
  if (doc.coverage === 0) return new Error('Paint a mask over the area to repaint first (brush: B), or extend the canvas to outpaint.');
  const seed = parseSeed(s.seedText);
  if (seed instanceof Error) return seed;
  const size = outputSize(summary.width, summary.height);
  return {
    kind: 'inpaint',
    modelId: s.modelId,
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    sampler: s.sampler || undefined,
    steps: s.steps ?? undefined,
    guidance: s.guidance ?? undefined,
    seed,
    strength: s.strength,
    feather: s.feather,
    width: size.w,
    height: size.h,
    init: summary.generationId && doc.unextended ? { generationId: summary.generationId } : { base64: imageBase64() },
    mask: { base64: doc.maskPng() },
    // Raw bytes (a grown canvas) still continue the history image they came from.
    parentId: summary.generationId,
  };
}
