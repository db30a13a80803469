// Image to image: the picture's latents noised to step ⌊steps·(1 − strength)⌋, then denoised from
// there under the prompt. Strength 0 returns the picture untouched.
import { repaintAllGuide, runBatch, resolveOptions, initialLatents, startIndexFor, strengthIn } from './common.ts';
import { imageToTensor, tensorToImage } from './image.ts';
import type { DiffusionModel } from './model.ts';
import type { GeneratedImage, Img2ImgOptions } from './types.ts';

export async function img2img(model: DiffusionModel, options: Img2ImgOptions): Promise<GeneratedImage[]> {
  const r = resolveOptions(model, options, options.image);
  const strength = strengthIn(options.strength ?? 0.75);
  const startIndex = startIndexFor(r.steps, strength);
  const spec = { kind: 'img2img', strength, feather: null, startIndex } as const;
  const guide = await repaintAllGuide(model, r.width, r.height);
  const known = startIndex < r.steps ? (await model.encodeImage(imageToTensor(options.image))).data : null;
  return runBatch(model, r, options, spec, async (job) => {
    if (known === null) return options.image;
    const noise = job.rng.normal(known.length);
    const latents = await job.denoise(initialLatents(job, startIndex, noise, known), startIndex, guide);
    return tensorToImage(await model.decodeLatents(latents));
  });
}
