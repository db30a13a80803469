// Inpainting and outpainting. Ordinary models: the known region is blended into the latents at every
// step (re-noised to that step). Inpainting models (UNet input 2C+1 channels): the UNet sees the mask
// and the masked picture's latents. Either way the decoded picture is composited over the original
// with a feathered mask, so every pixel outside the mask keeps its exact bytes.
import { runBatch, resolveOptions, initialLatents, startIndexFor, strengthIn } from './common.ts';
import type { InpaintGuide } from './denoise.ts';
import { PipelineError } from './errors.ts';
import { imageToTensor, tensorToImage } from './image.ts';
import { extendCanvas, featherMask, latentMask, maskedImageTensor, maskFromImage, nearestLatentMask, pasteBack } from './mask.ts';
import type { DiffusionModel } from './model.ts';
import type { GeneratedImage, InpaintOptions, OutpaintOptions } from './types.ts';

export async function inpaint(model: DiffusionModel, options: InpaintOptions): Promise<GeneratedImage[]> {
  const { image } = options;
  const r = resolveOptions(model, options, image);
  if (options.mask.width !== image.width || options.mask.height !== image.height) {
    throw new PipelineError(
      `the mask is ${options.mask.width}x${options.mask.height} but the image is ${image.width}x${image.height}; they must match`,
    );
  }
  const strength = strengthIn(options.strength ?? 1);
  const feather = options.feather ?? 4;
  const startIndex = startIndexFor(r.steps, strength);
  const spec = { kind: 'inpaint', strength, feather, startIndex } as const;

  const mask = maskFromImage(options.mask);
  const weights = featherMask(mask, feather);
  const c = model.latentChannels;
  const concat = model.unetInChannels === 2 * c + 1;
  // Ordinary models blend every latent cell a stroke touches; inpainting models read the mask as trained.
  const lmask = concat ? nearestLatentMask(mask, model.downscale) : latentMask(mask, model.downscale);
  if (!concat && model.unetInChannels !== c) {
    throw new PipelineError(
      `model ${model.name} has a UNet with ${model.unetInChannels} input channels; inpainting needs ${c} or ${2 * c + 1}`,
    );
  }
  // The original's latents: blended in by ordinary models, and the start point when strength < 1.
  const needKnown = !concat || startIndex > 0;
  const known = needKnown ? (await model.encodeImage(imageToTensor(image))).data : null;
  const maskedLatents = concat ? (await model.encodeImage(maskedImageTensor(imageToTensor(image), mask))).data : null;

  return runBatch(model, r, options, spec, async (job) => {
    if (startIndex >= r.steps) return image;
    const noise = job.rng.normal(c * lmask.length);
    const guide: InpaintGuide = concat
      ? { kind: 'concat', mask: lmask, maskedLatents: maskedLatents! }
      : { kind: 'blend', known: known!, noise, mask: lmask };
    const latents = await job.denoise(initialLatents(job, startIndex, noise, known), startIndex, guide);
    return pasteBack(image, tensorToImage(await model.decodeLatents(latents)), weights);
  });
}

/** Outpainting: inpainting on a canvas enlarged by the given margins (the new area is the mask). */
export async function outpaint(model: DiffusionModel, options: OutpaintOptions): Promise<GeneratedImage[]> {
  const { canvas, mask } = extendCanvas(options.image, options);
  return inpaint(model, { ...options, image: canvas, mask });
}
