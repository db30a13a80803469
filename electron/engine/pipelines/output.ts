// A generated picture as a PNG file's bytes, carrying its parameters in the A1111 `parameters`
// chunk so other tools (and the studio's importer) read them back.
import { samplerLabel, type SamplerName } from '../diffusion/samplers.ts';
import { formatParameters, type GenerationParams } from '../io/generation-params.ts';
import { encodePng } from '../io/image.ts';
import { imageToTensor } from './image.ts';
import type { GeneratedImage, GenerationRecord } from './types.ts';

export function generationParams(r: GenerationRecord): GenerationParams {
  const extras: Record<string, string> = {};
  if (r.eta !== 0) extras.Eta = String(r.eta);
  if (r.feather !== null) extras['Mask blur'] = String(r.feather);
  // A1111's form: "name: hash, …" (quoted by the formatter, as it contains ':').
  if (r.loras?.length) extras['Lora hashes'] = r.loras.map((l) => `${l.name}: ${(l.hash ?? '').slice(0, 12)}`).join(', ');
  return {
    prompt: r.prompt,
    negative: r.negativePrompt,
    steps: r.steps,
    sampler: samplerLabel(r.sampler as SamplerName),
    cfg: r.guidance,
    seed: r.seed,
    width: r.width,
    height: r.height,
    model: r.model.name,
    modelHash: r.model.hash.slice(0, 10),
    strength: r.strength ?? undefined,
    extras,
  };
}

/** PNG bytes with the `parameters` text chunk (before IDAT, where every reader sees it). */
export async function generatedPng(g: GeneratedImage): Promise<Uint8Array> {
  return encodePng(imageToTensor(g.image), { text: { parameters: formatParameters(generationParams(g.record)) } });
}
