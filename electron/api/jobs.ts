// Jobs: generation and training work queued for the worker processes; one runs on the accelerator at a time.
import { z } from 'zod';
import { SCHEDULE_TYPE_NAMES } from '../engine/diffusion/sigma-schedules.ts';
import { FINETUNE_METHODS } from '../engine/finetune/methods/catalog.ts';
import { request } from './contract.ts';

/**
 * An input image: a generation from the history, PNG/JPEG/WebP bytes as base64 (e.g. from the canvas), or
 * a file sent before over web mode's POST /upload (for pictures too large for one WebSocket message).
 */
export const imageSource = z.union([
  z.object({ generationId: z.string() }),
  z.object({ base64: z.string().min(1) }),
  z.object({ uploadId: z.string().regex(/^[0-9a-f]{24}$/) }),
]);

export const loraUse = z.object({ modelId: z.string(), strength: z.number().min(-4).max(4).default(1) });

const generateCommon = {
  modelId: z.string().min(1),
  prompt: z.string().max(10_000),
  negativePrompt: z.string().max(10_000).default(''),
  /** A1111's "Schedule type" for the sampler (system.info lists each sampler's); left out: 'automatic', the sampler's own. */
  scheduleType: z.enum(SCHEDULE_TYPE_NAMES).optional(),
  // Sampler, steps, guidance and size have no defaults here: a job submitted without them gets the
  // model's own (model.json or its family: services/model-traits.ts), the one source of sampling defaults.
  sampler: z.string(),
  steps: z.number().int().min(1).max(1000),
  guidance: z.number().min(0).max(50),
  /** null = a random seed, chosen when the job is submitted and recorded in the history. */
  seed: z.number().int().min(0).max(2 ** 32 - 1).nullable().default(null),
  width: z.number().int().min(8).max(4096).multipleOf(8),
  height: z.number().int().min(8).max(4096).multipleOf(8),
  /** Images generated one after another; seed, seed+1, … */
  batchCount: z.number().int().min(1).max(100).default(1),
  eta: z.number().min(0).max(1).default(0),
  /** A1111's "Clip skip": 1 (default) = the text encoder's last layer, 2 = the one before, … */
  clipSkip: z.number().int().min(1).max(12).optional(),
  // A1111's seed settings (engine/diffusion/noise.ts), absent = A1111's defaults (GPU source, no variation,
  // no resize, ENSD 0); an A1111 picture's seed gives the same noise here.
  /** Random number generator source: 'gpu' (A1111's default) and 'nv' are the same numbers; 'cpu' is torch's CPU generator. */
  rngSource: z.enum(['gpu', 'cpu', 'nv']).optional(),
  /** Variation seed: with a strength ≠ 0 every image keeps `seed` and image i mixes in the noise of variationSeed + i. */
  variationSeed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  variationStrength: z.number().min(0).max(1).optional(),
  /** Resize seed from: the seed's noise is drawn at this size (pixels) and pasted centred, keeping a picture's layout at a new size. */
  resizeSeedFrom: z.object({ width: z.number().int().min(0).max(4096), height: z.number().int().min(0).max(4096) }).nullable().optional(),
  /** Eta noise seed delta (A1111's ENSD, often 31337): the samplers' per-step noise comes from seed + ensd. */
  ensd: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  loras: z.array(loraUse).default([]),
};

export const txt2imgSpec = z.object({ kind: z.literal('txt2img'), ...generateCommon });
export const img2imgSpec = z.object({
  kind: z.literal('img2img'),
  ...generateCommon,
  init: imageSource,
  strength: z.number().min(0).max(1).default(0.75),
});
export const inpaintSpec = z.object({
  kind: z.literal('inpaint'),
  ...generateCommon,
  init: imageSource,
  /** White = repaint, black = keep; same size as the init image. */
  mask: imageSource,
  strength: z.number().min(0).max(1).default(1),
  /** Mask feathering radius in pixels. */
  feather: z.number().min(0).max(256).default(4),
  /**
   * The history image this edit continues, when `init` is raw bytes (a canvas grown for outpainting or
   * painted on); with `init: { generationId }` that generation is the parent.
   */
  parentId: z.string().min(1).nullable().optional(),
});
/**
 * "Upscale ×4": a picture through a super-resolution model (the paper's bsr_sr, or any model of that kind:
 * the low-res picture concatenated to the latents); the output is the model's first-stage factor larger.
 */
export const upscaleSpec = z.object({
  kind: z.literal('upscale'),
  modelId: z.string().min(1),
  init: imageSource,
  sampler: z.string(),
  steps: z.number().int().min(1).max(1000),
  seed: z.number().int().min(0).max(2 ** 32 - 1).nullable().default(null),
  batchCount: z.number().int().min(1).max(100).default(1),
  eta: z.number().min(0).max(1).default(0),
  /**
   * 1: sample from pure noise (the paper's way); below 1: start from the picture enlarged (Lanczos) and
   * noised to this strength, as img2img does. Absent: the model's own default (its yaml's upscale_strength, else 1).
   */
  strength: z.number().min(0.05).max(1).optional(),
  /** Rounds of back-projection onto the picture after decoding (0–10). Absent: the model's default (upscale_back_projection, else 0). */
  backProjection: z.number().int().min(0).max(10).optional(),
  /** The history image this upscales when `init` is raw bytes (the canvas); with `init: { generationId }` that one is the parent. */
  parentId: z.string().min(1).nullable().optional(),
});
export const trainSpec = z.object({
  kind: z.literal('train'),
  baseModelId: z.string().min(1),
  datasetDir: z.string().min(1),
  recursive: z.boolean().default(false),
  method: z.enum(FINETUNE_METHODS).default('lora'),
  /** Name of the trained model in the registry. */
  outputName: z.string().min(1).max(200),
  /** Put in front of every caption; for textual inversion, the new word (required there). */
  triggerWord: z.string().max(100).default(''),
  steps: z.number().int().min(1).max(1_000_000).default(1000),
  // Left out, the fine-tuning pipeline picks these for the method and the model's size.
  learningRate: z.number().positive().max(1).optional(),
  batchSize: z.number().int().min(1).max(256).optional(),
  rank: z.number().int().min(1).max(1024).optional(),
  alpha: z.number().positive().optional(),
  /** LoRA: which layers get adapters ('text': the text encoder's, kohya lora_te_ names); engine/finetune LORA_TARGETS. */
  targets: z.array(z.enum(['attn', 'ff', 'conv', 'text'])).min(1).optional(),
  /** Training size in pixels; default the model's sampling size. */
  resolution: z.number().int().min(8).max(4096).multipleOf(8).optional(),
  /**
   * Aspect-ratio buckets as kohya makes them (engine/io/buckets.ts): pictures keep their shape, each trained
   * at its bucket around resolution²; absent = every picture centre-cropped square. steps: bucket sides in
   * steps of this many pixels (64); noUpscale (default true): never enlarge a picture.
   */
  buckets: z.object({ steps: z.number().int().min(8).max(512).optional(), noUpscale: z.boolean().optional() }).optional(),
  samplePrompts: z.array(z.string()).default([]),
  /** Sample images every this many steps (0 = only at the end). */
  sampleEvery: z.number().int().min(0).default(0),
  /** Checkpoint every this many steps (a killed or restarted run resumes from the last one). */
  saveEvery: z.number().int().min(1).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
});

export const jobSpec = z.discriminatedUnion('kind', [txt2imgSpec, img2imgSpec, inpaintSpec, upscaleSpec, trainSpec]);

/** What a client submits: a job spec whose sampling fields may be left to the model's defaults. */
const modelDefaulted = { sampler: true, steps: true, guidance: true, width: true, height: true } as const;
export const submittedSpec = z.discriminatedUnion('kind', [
  txt2imgSpec.partial(modelDefaulted),
  img2imgSpec.partial(modelDefaulted),
  inpaintSpec.partial(modelDefaulted),
  upscaleSpec.partial({ sampler: true, steps: true }),
  trainSpec,
]);

export const jobStatus = z.enum(['queued', 'running', 'paused', 'completed', 'failed', 'cancelled']);

export const job = z.object({
  id: z.string(),
  kind: z.enum(['txt2img', 'img2img', 'inpaint', 'upscale', 'train']),
  status: jobStatus,
  spec: jobSpec,
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  step: z.number().int(),
  total: z.number().int(),
  /** Why the job failed (the worker's error, a crash or running out of memory). */
  error: z.string().nullable(),
  /** History ids of the images this job produced. */
  generationIds: z.array(z.string()),
  /** Registry id of the model a training job produced. */
  modelId: z.string().nullable(),
});

export const lossPoint = z.object({ step: z.number().int(), loss: z.number() });

export const jobsRequests = {
  'jobs.submit': request(z.object({ spec: submittedSpec }), job),
  'jobs.list': request(
    z.object({ status: z.array(jobStatus).optional(), limit: z.number().int().min(1).max(1000).default(100) }),
    z.array(job),
  ),
  'jobs.get': request(z.object({ id: z.string() }), job),
  /** Cancels a queued, paused or running job. */
  'jobs.cancel': request(z.object({ id: z.string() }), job),
  /** Training only: stops at the next step boundary after a checkpoint; generations may run meanwhile. */
  'jobs.pause': request(z.object({ id: z.string() }), job),
  /** Training: continues a paused run, or a failed or cancelled one from its last checkpoint. */
  'jobs.resume': request(z.object({ id: z.string() }), job),
};

export const jobsEvents = {
  'jobs.progress': z.object({
    jobId: z.string(),
    step: z.number().int(),
    total: z.number().int(),
    /** Estimated time to finish, from the step rate so far; null before the second step. */
    etaMs: z.number().nullable(),
    /** A cheap latent→RGB preview as a PNG data URL, when the worker made one. */
    preview: z.string().nullable(),
    /** Training: loss points since the previous progress event. */
    loss: z.array(lossPoint),
    /** Which image of a batch (0-based) for generation jobs. */
    image: z.number().int(),
    message: z.string().nullable(),
  }),
  /** Any change of a job's status or result. */
  'jobs.updated': job,
};

export type JobSpec = z.output<typeof jobSpec>;
export type JobSpecInput = z.input<typeof submittedSpec>;
export type SubmittedSpec = z.output<typeof submittedSpec>;
export type Txt2imgSpec = z.output<typeof txt2imgSpec>;
export type Img2imgSpec = z.output<typeof img2imgSpec>;
export type InpaintSpec = z.output<typeof inpaintSpec>;
export type TrainSpec = z.output<typeof trainSpec>;
export type UpscaleSpec = z.output<typeof upscaleSpec>;
export type GenerateSpec = Txt2imgSpec | Img2imgSpec | InpaintSpec;
export type ImageSource = z.output<typeof imageSource>;
export type Job = z.output<typeof job>;
export type JobStatus = z.output<typeof jobStatus>;
export type JobProgress = z.output<(typeof jobsEvents)['jobs.progress']>;
export type LossPoint = z.output<typeof lossPoint>;
