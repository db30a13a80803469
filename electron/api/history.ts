// History: every generation the studio made or imported, searchable, restorable from the trash.
import { z } from 'zod';
import { request } from './contract.ts';
import { submittedSpec } from './jobs.ts';

export const generationKind = z.enum(['txt2img', 'img2img', 'inpaint', 'upscale', 'import', 'upload']);

export const loraRef = z.object({
  /** Model id in the registry, or the file name for imported images. */
  name: z.string(),
  hash: z.string().nullable().default(null),
  strength: z.number(),
});

/** Every parameter that reproduces an image; unknown keys from other tools live in `extra`. */
export const generationParams = z.object({
  sampler: z.string().nullable().default(null),
  steps: z.number().int().nullable().default(null),
  guidance: z.number().nullable().default(null),
  seed: z.number().int().nullable().default(null),
  width: z.number().int(),
  height: z.number().int(),
  /** img2img / inpaint denoising strength. */
  strength: z.number().nullable().default(null),
  eta: z.number().nullable().default(null),
  /** A1111's Schedule type and seed settings, when the generation used them (absent: the defaults). */
  scheduleType: z.string().optional(),
  rngSource: z.enum(['gpu', 'cpu', 'nv']).optional(),
  variationSeed: z.number().int().optional(),
  variationStrength: z.number().optional(),
  resizeSeedFrom: z.object({ width: z.number().int(), height: z.number().int() }).optional(),
  ensd: z.number().int().optional(),
  extra: z.record(z.string(), z.string()).default({}),
});

export const generation = z.object({
  id: z.string(),
  kind: generationKind,
  prompt: z.string(),
  negativePrompt: z.string(),
  params: generationParams,
  model: z.object({ id: z.string().nullable(), name: z.string().nullable(), hash: z.string().nullable() }),
  loras: z.array(loraRef),
  /** Paths relative to the data folder (serve them with the web server's file route or gallery.image). */
  imagePath: z.string(),
  thumbnailPath: z.string(),
  maskPath: z.string().nullable(),
  parentId: z.string().nullable(),
  jobId: z.string().nullable(),
  timings: z.record(z.string(), z.number()),
  /** Milliseconds since the epoch. */
  createdAt: z.number(),
  favourite: z.boolean(),
  tags: z.array(z.string()),
  /** Set while the generation is in the trash. */
  trashedAt: z.number().nullable(),
});

export const historyFilter = z.object({
  /** Full-text query over prompts (FTS5): words match by prefix, results ranked by bm25. */
  query: z.string().max(500).default(''),
  modelId: z.string().optional(),
  favourite: z.boolean().optional(),
  tag: z.string().optional(),
  kind: generationKind.optional(),
  /** createdAt range, milliseconds since the epoch, inclusive. */
  from: z.number().optional(),
  to: z.number().optional(),
  /** Search the trash instead of the live history. */
  trashed: z.boolean().default(false),
});

export const promptSuggestion = z.object({
  prompt: z.string(),
  negativePrompt: z.string(),
  uses: z.number().int(),
  lastUsedAt: z.number(),
  /** The newest generation with this prompt: pass it to history.reuse. */
  lastGenerationId: z.string(),
});

const ids = z.object({ ids: z.array(z.string()).min(1).max(10_000) });

export const historyRequests = {
  'history.search': request(
    historyFilter.extend({
      limit: z.number().int().min(1).max(500).default(60),
      offset: z.number().int().min(0).default(0),
    }),
    z.object({ items: z.array(generation), total: z.number().int(), nextOffset: z.number().int().nullable() }),
  ),
  'history.get': request(z.object({ id: z.string() }), generation),
  'history.favourite': request(z.object({ id: z.string(), favourite: z.boolean() }), generation),
  'history.tag': request(
    z.object({ id: z.string(), add: z.array(z.string().min(1).max(100)).default([]), remove: z.array(z.string()).default([]) }),
    generation,
  ),
  /** Moves the images to the data folder's trash/; restorable. */
  'history.delete': request(ids, z.object({ trashed: z.number().int() })),
  'history.restore': request(ids, z.object({ restored: z.number().int() })),
  /** Permanently removes generations that are already in the trash (an explicit user request). */
  'history.purge': request(ids, z.object({ purged: z.number().int() })),
  /**
   * Writes the whole history (trash included) as JSON Lines; default path under the data folder's exports/.
   * withImages: each line also carries its image, thumbnail and mask (base64), so the file moves a
   * history to another data folder on its own. A path given must lie in the data folder, a folder allowed
   * at start, or one picked in a dialog; an existing file is replaced only with overwrite.
   */
  'history.export': request(
    z.object({ path: z.string().optional(), withImages: z.boolean().default(false), overwrite: z.boolean().default(false) }),
    z.object({ path: z.string(), count: z.number().int() }),
  ),
  /** Reads a JSON Lines export; rows whose id already exists are skipped. */
  'history.import': request(
    z.object({ path: z.string() }),
    z.object({ imported: z.number().int(), skipped: z.number().int(), errors: z.array(z.object({ line: z.number().int(), message: z.string() })) }),
  ),
  /** Imports PNG/JPEG/WebP files (reads A1111, ComfyUI and InvokeAI metadata) into the gallery and history. */
  'history.importImages': request(
    z.object({ paths: z.array(z.string()).min(1).max(10_000) }),
    z.object({ imported: z.array(generation), errors: z.array(z.object({ path: z.string(), message: z.string() })) }),
  ),
  /** "Reuse these parameters": a job spec that reproduces the generation (submit it as is, or edit it first). */
  /** Sampling fields the picture does not record are left out: the model's defaults apply. */
  'history.reuse': request(z.object({ id: z.string() }), submittedSpec),
  /** Prompt history with duplicates folded, newest first; `query` filters by prefix words. */
  'history.prompts': request(
    z.object({ query: z.string().max(500).default(''), limit: z.number().int().min(1).max(200).default(20) }),
    z.array(promptSuggestion),
  ),
};

export const historyEvents = {
  /** A generation was added, changed, trashed, restored or purged. */
  'history.changed': z.object({
    change: z.enum(['added', 'updated', 'trashed', 'restored', 'purged', 'imported']),
    ids: z.array(z.string()),
  }),
};

export type Generation = z.output<typeof generation>;
export type GenerationParams = z.output<typeof generationParams>;
export type HistoryFilter = z.output<typeof historyFilter>;
export type PromptSuggestion = z.output<typeof promptSuggestion>;
