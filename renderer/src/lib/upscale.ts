// "Upscale ×4": which super-resolution model the studio uses, the job that upscales a history picture,
// and when the Generate view upscales what it makes by default (small models such as the embedded 32²
// one, so that a new user sees 128² pictures).
import type { Generation } from '../../../electron/api/history.ts';
import type { JobSpecInput } from '../../../electron/api/jobs.ts';
import type { ModelInfo } from '../../../electron/api/models.ts';

export const NO_SR_MODEL = 'No super-resolution model is installed: import one (such as the latent diffusion paper’s bsr_sr) in Models to upscale pictures ×4.';

/** Models whose native size is at most this many pixels a side upscale after generating by default. */
export const UPSCALE_AFTER_MAX_SIDE = 64;

/** The super-resolution model "Upscale ×4" runs: the first installed (traits say task 'upscale'). */
export function superResolutionModel(models: readonly ModelInfo[]): ModelInfo | null {
  return models.find((m) => m.traits?.task === 'upscale') ?? null;
}

/** Whether "Upscale ×4 after generating" starts ticked for `model`: a super-resolution model is there and the model draws small. */
export function upscalesByDefault(model: ModelInfo | null, sr: ModelInfo | null): boolean {
  const d = model?.traits?.defaults;
  return !!sr && !!d && Math.max(d.width, d.height) <= UPSCALE_AFTER_MAX_SIDE;
}

/**
 * The upscale job of a history picture: its parent in the history, and its own seed (as `ldm generate
 * --upscale` uses it, so both make the same picture).
 */
export function upscaleJobOf(sr: ModelInfo, g: Pick<Generation, 'id' | 'params'>): JobSpecInput {
  return { kind: 'upscale', modelId: sr.id, init: { generationId: g.id }, seed: g.params.seed };
}
