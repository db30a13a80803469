// A generated picture as a PNG file's bytes, carrying its parameters in the A1111 `parameters`
// chunk so other tools (and the studio's importer) read them back.
import { samplerFromLabel, samplerLabels } from '../diffusion/samplers.ts';
import { seedParams, type SeedOptions } from '../diffusion/noise.ts';
import { formatParameters, type GenerationParams } from '../io/generation-params.ts';
import { encodePng } from '../io/image.ts';
import { imageToTensor } from './image.ts';
import type { GeneratedImage, GenerationRecord } from './types.ts';

/**
 * What generationParams reads: a pipeline's GenerationRecord, or the facts of an image recorded
 * elsewhere (an upload, an import) where some are unknown (null) and are then left out of the text.
 */
export interface ParamsSource extends SeedOptions {
  readonly prompt: string;
  readonly negativePrompt: string;
  /** Our name ('dpmpp_2m', 'dpmpp_2m_karras') or another tool's label; written as A1111 labels it when known. */
  readonly sampler: string | null;
  /** The job's schedule type ('automatic', 'karras', …), or another tool's label; null: not stated. */
  readonly scheduleType?: string | null;
  readonly steps: number | null;
  readonly guidance: number | null;
  readonly seed: number | null;
  readonly width: number;
  readonly height: number;
  readonly eta?: number | null;
  readonly strength?: number | null;
  readonly feather?: number | null;
  readonly model: { readonly name: string | null; readonly hash: string | null };
  readonly loras?: GenerationRecord['loras'];
  readonly clipSkip?: number | null;
  /** The execution provider that ran the model ('cuda fp16', 'cpu'; LoadedModel.runsOn), written as `Provider`. */
  readonly provider?: string | null;
}

export function generationParams(r: ParamsSource): GenerationParams {
  const extras: Record<string, string> = {};
  if (r.eta) extras.Eta = String(r.eta);
  if (r.feather !== undefined && r.feather !== null) extras['Mask blur'] = String(r.feather);
  // A1111's form: "name: hash, …" (quoted by the formatter, as it contains ':').
  if (r.provider) extras.Provider = r.provider;
  if (r.loras?.length) extras['Lora hashes'] = r.loras.map((l) => `${l.name}: ${(l.hash ?? '').slice(0, 12)}`).join(', ');
  // As A1111 ≥ 1.9 writes them: `Sampler: DPM++ 2M, Schedule type: Karras`.
  const choice = r.sampler === null ? null : samplerFromLabel(r.sampler, r.scheduleType);
  const labels = choice ? samplerLabels(choice.name, choice.schedule) : null;
  return {
    prompt: r.prompt,
    negative: r.negativePrompt,
    steps: r.steps ?? undefined,
    sampler: r.sampler === null ? undefined : labels ? labels.sampler : r.sampler,
    scheduleType: labels ? labels.scheduleType : (r.scheduleType ?? undefined),
    cfg: r.guidance ?? undefined,
    seed: r.seed ?? undefined,
    width: r.width,
    height: r.height,
    model: r.model.name ?? undefined,
    modelHash: r.model.hash ? r.model.hash.slice(0, 10) : undefined,
    strength: r.strength ?? undefined,
    ...(r.clipSkip && r.clipSkip > 1 ? { clipSkip: r.clipSkip } : {}),
    ...seedParams(r),
    extras,
  };
}

/** PNG bytes with the `parameters` text chunk (before IDAT, where every reader sees it). */
export async function generatedPng(g: GeneratedImage): Promise<Uint8Array> {
  return encodePng(imageToTensor(g.image), { text: { parameters: formatParameters(generationParams(g.record)) } });
}
