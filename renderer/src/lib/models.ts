// How a diffusion model is described to the user (picker, Models table), and what a size far from its
// native one costs. The facts come from the API (models.list traits): nothing here is a default.
import type { ModelInfo, ModelTraits } from '../../../electron/api/models.ts';
import { formatBytes } from './shell.ts';

const FAMILY_LABELS: Record<string, string> = {
  package: 'Model package',
  sd1: 'Stable Diffusion 1.x',
  sd2: 'Stable Diffusion 2.x',
  diffusers: 'Diffusers folder',
};

export function familyLabel(traits: ModelTraits | null | undefined): string {
  if (!traits) return '—';
  return FAMILY_LABELS[traits.family] ?? traits.family;
}

export function nativeSize(traits: ModelTraits | null | undefined): string {
  return traits ? `${traits.defaults.width}×${traits.defaults.height}` : '—';
}

/** One line for the picker: "emoji-ldm-32 · Model package · txt2img · 32×32 · 96.1 MB". */
export function modelSummary(m: ModelInfo): string {
  const parts = [m.name + (m.source === 'trained' ? ' (trained)' : '')];
  if (m.traits) parts.push(familyLabel(m.traits), m.traits.task, nativeSize(m.traits));
  parts.push(formatBytes(m.sizeBytes));
  return parts.join(' · ');
}

/**
 * Why a size cannot be drawn, with the nearest sizes that can: sides must be multiples of the model's size
 * step (traits.sizeStep; 8 when the model does not say). img2img draws at its init picture's own size, so
 * with a `picture` that size is checked instead. Null when the size is fine.
 */
export function sizeProblem(traits: ModelTraits | null | undefined, width: number, height: number, picture?: { width: number; height: number } | null): string | null {
  const step = traits?.sizeStep ?? 8;
  const [w, h] = picture ? [picture.width, picture.height] : [width, height];
  if (w >= step && h >= step && w % step === 0 && h % step === 0) return null;
  const down = (v: number) => Math.max(step, Math.floor(v / step) * step);
  const up = (v: number) => Math.max(step, Math.ceil(v / step) * step);
  const sizes = `${down(w)}×${down(h)} or ${up(w)}×${up(h)}`;
  if (picture) return `This model draws sizes in steps of ${step} px and the init picture is ${w}×${h}: scale or crop it to ${sizes} first.`;
  return `This model draws sizes in steps of ${step} px: use ${sizes}.`;
}

/**
 * A warning when the size asked for is far from the model's native size: the pixel ratio is the cost of
 * each step (more still where attention runs), and a model drawn far from its training size repeats or
 * breaks up its subject. Null when the size is within a factor of two of the native area.
 */
export function sizeWarning(traits: ModelTraits | null | undefined, width: number, height: number): string | null {
  if (!traits || !(width > 0) || !(height > 0)) return null;
  const { width: nw, height: nh } = traits.defaults;
  const ratio = (width * height) / (nw * nh);
  if (ratio >= 0.5 && ratio <= 2) return null;
  const times = ratio >= 10 ? Math.round(ratio).toString() : ratio.toFixed(1).replace(/\.0$/, '');
  if (ratio > 2) {
    return `This model was trained at ${nw}×${nh}. ${width}×${height} is ${times}× its pixels: every step costs about ${times}× as much time and memory (more where attention runs), and the picture tends to repeat or fall apart. Use ${nw}×${nh} for its best results.`;
  }
  return `This model was trained at ${nw}×${nh}. At ${width}×${height} (${times}× its pixels) it loses most of its detail. Use ${nw}×${nh} for its best results.`;
}
