// "Upscale ×4" jobs in the studio: the spec completed from the super-resolution model's defaults (and
// refused for any other model), and the history record of each upscaled picture (A1111's Extras keys
// for the factor and the upscaler, as its LDSR — the paper's bsr_sr — writes them).
import { StudioError } from '../api/contract.ts';
import type { ModelInfo } from '../api/models.ts';
import type { UpscaleSpec } from '../api/jobs.ts';
import { probeImage } from '../engine/io/image.ts';
import type { ImageMessage } from '../workers/protocol.ts';
import { modelTraits } from './model-traits.ts';
import type { GenerationInput } from './record.ts';

type SubmittedUpscale = Omit<UpscaleSpec, 'sampler' | 'steps'> & { sampler?: string; steps?: number };

/** The spec with the model's sampler and steps where the client left them out; only super-resolution models upscale. */
export async function completeUpscale(model: ModelInfo, spec: SubmittedUpscale): Promise<UpscaleSpec> {
  const traits = await modelTraits(model);
  if (!traits || traits.task !== 'upscale') {
    throw new StudioError(`"${model.name}" is not a super-resolution model; Upscale ×4 needs one (such as the latent diffusion paper's bsr_sr).`, 'invalid_input');
  }
  return { ...spec, sampler: spec.sampler ?? traits.defaults.sampler, steps: spec.steps ?? traits.defaults.steps };
}

/** What the history keeps of one upscaled picture (sizes read from the PNG the worker made and from the input). */
export async function upscaleRecord(spec: UpscaleSpec, model: ModelInfo, msg: ImageMessage, inputBytes: Uint8Array | null): Promise<Omit<GenerationInput, 'parentId' | 'jobId' | 'png'>> {
  const { width, height } = await probeImage(msg.png, {}, 'the upscaled picture');
  const input = inputBytes ? await probeImage(inputBytes).catch(() => null) : null;
  const extra: Record<string, string> = { 'Postprocess upscaler': model.name };
  if (input && input.width > 0) extra['Postprocess upscale by'] = String(Math.round((width / input.width) * 100) / 100);
  if (msg.provider) extra.Provider = msg.provider;
  return {
    kind: 'upscale',
    prompt: '',
    negativePrompt: '',
    sampler: spec.sampler,
    steps: spec.steps,
    guidance: null,
    seed: msg.seed,
    width,
    height,
    eta: spec.eta,
    strength: null,
    feather: null,
    model: { id: model.id, name: model.name, hash: model.hash },
    loras: [],
    mask: null,
    timings: msg.timings,
    extra,
  };
}
