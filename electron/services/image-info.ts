// images.readParameters: a picture's generation parameters (engine/io/metadata) and the Generate form
// fields they fill, in job-spec terms (our sampler names, A1111's schedule types and seed settings).
import type { FormFields } from '../api/images.ts';
import type { RequestOutput } from '../api/index.ts';
import { samplerFromLabel } from '../engine/diffusion/samplers.ts';
import type { GenerationParams } from '../engine/io/generation-params.ts';
import { readImageParameters } from '../engine/io/metadata/index.ts';

export async function readParametersOf(bytes: Uint8Array): Promise<RequestOutput<'images.readParameters'>> {
  const r = await readImageParameters(bytes);
  return { ...r, form: r.params ? formFieldsOf(r.params) : null };
}

export function formFieldsOf(p: GenerationParams): FormFields {
  const f: FormFields = { prompt: p.prompt, negativePrompt: p.negative };
  const choice = p.sampler !== undefined ? samplerFromLabel(p.sampler, p.scheduleType) : null;
  if (choice) {
    f.sampler = choice.name;
    f.scheduleType = choice.schedule;
  }
  const copy: [keyof FormFields, unknown][] = [
    ['steps', p.steps], ['guidance', p.cfg], ['seed', p.seed], ['width', p.width], ['height', p.height], ['strength', p.strength],
    ['variationSeed', p.variationSeed], ['variationStrength', p.variationStrength], ['resizeSeedFrom', p.seedResizeFrom], ['ensd', p.ensd],
  ];
  for (const [k, v] of copy) if (v !== undefined) (f as Record<string, unknown>)[k] = v;
  const rng = p.rng?.toLowerCase();
  if (rng === 'gpu' || rng === 'cpu' || rng === 'nv') f.rngSource = rng;
  return f;
}
