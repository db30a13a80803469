// Text to image: pure noise → denoise under the prompt (classifier-free guidance) → decode.
import { repaintAllGuide, runBatch, resolveOptions, initialLatents } from './common.ts';
import { tensorToImage } from './image.ts';
import type { DiffusionModel } from './model.ts';
import type { GeneratedImage, GenerateOptions } from './types.ts';

export async function txt2img(model: DiffusionModel, options: GenerateOptions): Promise<GeneratedImage[]> {
  const r = resolveOptions(model, options);
  const spec = { kind: 'txt2img', strength: null, feather: null, startIndex: 0 } as const;
  const guide = await repaintAllGuide(model, r.width, r.height);
  return runBatch(model, r, options, spec, async (job) => {
    const noise = job.rng.normal(job.shape.reduce((a, b) => a * b, 1));
    const latents = await job.denoise(initialLatents(job, 0, noise, null), 0, guide);
    return tensorToImage(await model.decodeLatents(latents));
  });
}
