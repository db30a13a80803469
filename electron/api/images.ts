// Pictures from anywhere: what a picture says about how it was made (AUTOMATIC1111's "PNG Info").
import { z } from 'zod';
import { request } from './contract.ts';
import { imageSource } from './jobs.ts';

const size = z.object({ width: z.number().int(), height: z.number().int() });

/** The parameters as read (engine/io/generation-params.ts GenerationParams): each field named after A1111's key. */
export const readParams = z.object({
  prompt: z.string(),
  negative: z.string(),
  steps: z.number().int().optional(),
  /** A1111's sampler label ('DPM++ 2M'), or the tool's own name when A1111 has none. */
  sampler: z.string().optional(),
  /** A1111's "Schedule type" label ('Karras'). */
  scheduleType: z.string().optional(),
  cfg: z.number().optional(),
  seed: z.number().int().optional(),
  /** The size it was generated at (A1111's Size), not the file's pixel size. */
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  model: z.string().optional(),
  modelHash: z.string().optional(),
  vae: z.string().optional(),
  vaeHash: z.string().optional(),
  variationSeed: z.number().int().optional(),
  variationStrength: z.number().optional(),
  seedResizeFrom: size.optional(),
  strength: z.number().optional(),
  clipSkip: z.number().int().optional(),
  ensd: z.number().int().optional(),
  rng: z.string().optional(),
  hiresUpscale: z.number().optional(),
  hiresSteps: z.number().int().optional(),
  hiresUpscaler: z.string().optional(),
  hiresResize: size.optional(),
  loraHashes: z.record(z.string(), z.string()).optional(),
  tiHashes: z.record(z.string(), z.string()).optional(),
  version: z.string().optional(),
  /** Every other key, as text. */
  extras: z.record(z.string(), z.string()),
  source: z.enum(['a1111', 'comfyui', 'invokeai', 'fooocus', 'novelai']).optional(),
});

/** The Generate form's fields (job spec names) that the parameters fill; absent = not in the picture. */
export const formFields = z.object({
  prompt: z.string(),
  negativePrompt: z.string(),
  /** Our sampler name, when the picture's sampler is one we have. */
  sampler: z.string().optional(),
  scheduleType: z.string().optional(),
  steps: z.number().int().optional(),
  guidance: z.number().optional(),
  seed: z.number().int().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  strength: z.number().optional(),
  rngSource: z.enum(['gpu', 'cpu', 'nv']).optional(),
  variationSeed: z.number().int().optional(),
  variationStrength: z.number().optional(),
  resizeSeedFrom: size.optional(),
  ensd: z.number().int().optional(),
});

export const imagesRequests = {
  /**
   * Reads a PNG/JPEG/WebP's generation parameters (A1111 incl. EXIF and stealth info, ComfyUI, InvokeAI,
   * Fooocus, NovelAI). Damaged metadata comes back as warnings ("metadata unreadable: …"), never as an error;
   * a picture without any gives params null. `form` holds what can be loaded into the Generate form.
   */
  'images.readParameters': request(
    z.object({ image: imageSource }),
    z.object({
      format: z.enum(['png', 'jpeg', 'webp']).nullable(),
      params: readParams.nullable(),
      source: z.enum(['a1111', 'comfyui', 'invokeai', 'fooocus', 'novelai']).nullable(),
      /** Where they were read, e.g. 'PNG text "parameters"', 'EXIF UserComment', 'stealth alpha (compressed)'. */
      location: z.string().nullable(),
      warnings: z.array(z.string()),
      form: formFields.nullable(),
    }),
  ),
};

export const imagesEvents = {};

export type ReadParams = z.output<typeof readParams>;
export type FormFields = z.output<typeof formFields>;
