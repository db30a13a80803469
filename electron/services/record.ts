// Recording a finished image: gallery file with its `parameters` chunk, thumbnail and history row.
// The job queue and the CLI (`ldm generate --data DIR`) both record through here.
import type { Generation } from '../api/history.ts';
import type { SeedOptions } from '../engine/diffusion/noise.ts';
import { openDatabase } from './db.ts';
import { ensureDataDir } from './files.ts';
import { Gallery } from './gallery.ts';
import { HistoryStore } from './history.ts';
import { newId } from './ids.ts';
import { ModelRegistry } from './models.ts';
import { formatParameters } from '../engine/io/generation-params.ts';
import { generationParams } from '../engine/pipelines/output.ts';
import { APP_VERSION } from './system.ts';

/** Field names follow the pipelines' GenerationRecord, so `{ ...generated.record, png }` fits. */
export interface GenerationInput extends SeedOptions {
  kind: 'txt2img' | 'img2img' | 'inpaint' | 'upscale' | 'upload';
  prompt: string;
  negativePrompt: string;
  sampler: string | null;
  /** A1111's Schedule type (the pipelines' record carries it; absent = the sampler's automatic one). */
  scheduleType?: string;
  steps: number | null;
  guidance: number | null;
  seed: number | null;
  width: number;
  height: number;
  eta?: number | null;
  strength?: number | null;
  feather?: number | null;
  model: { id?: string | null; name: string | null; hash: string | null };
  loras?: readonly { readonly name: string; readonly hash: string | null; readonly strength: number }[];
  /** The image, PNG-encoded (any metadata in it is kept; `parameters` is added). */
  png: Uint8Array;
  mask?: Uint8Array | null;
  parentId?: string | null;
  jobId?: string | null;
  timings?: Record<string, number>;
  tags?: string[];
  /** Further `Key: value` facts for the parameters chunk and the history (e.g. the execution provider). */
  extra?: Record<string, string>;
}

/** The A1111-style `parameters` text of a generation: the engine's, plus our extras and version. */
export function infotextOf(g: GenerationInput): string {
  const params = generationParams(g);
  return formatParameters({ ...params, extras: { ...params.extras, ...g.extra, Version: `ldm-studio ${APP_VERSION}` } });
}

export async function storeGeneration(history: HistoryStore, gallery: Gallery, g: GenerationInput): Promise<Generation> {
  const id = newId();
  const createdAt = Date.now();
  const stored = await gallery.store(id, g.png, { parameters: infotextOf(g), createdAt });
  const maskPath = g.mask ? await gallery.storeMask(id, g.mask, createdAt) : null;
  const gen: Generation = {
    id,
    kind: g.kind,
    prompt: g.prompt,
    negativePrompt: g.negativePrompt,
    params: {
      sampler: g.sampler,
      steps: g.steps,
      guidance: g.guidance,
      seed: g.seed,
      width: stored.width,
      height: stored.height,
      strength: g.strength ?? null,
      eta: g.eta ?? null,
      ...reproducingSettings(g),
      extra: { ...(g.feather !== undefined && g.feather !== null ? { feather: String(g.feather) } : {}), ...g.extra },
    },
    model: { id: g.model.id ?? null, name: g.model.name, hash: g.model.hash },
    loras: (g.loras ?? []).map((l) => ({ ...l })),
    imagePath: stored.imagePath,
    thumbnailPath: stored.thumbnailPath,
    maskPath,
    parentId: g.parentId ?? null,
    jobId: g.jobId ?? null,
    timings: g.timings ?? {},
    createdAt,
    favourite: false,
    tags: g.tags ?? [],
    trashedAt: null,
  };
  history.insert(gen);
  return gen;
}

/** The schedule type and seed settings a rerun needs, only where they differ from the defaults. */
function reproducingSettings(g: GenerationInput): Partial<Generation['params']> {
  const out: Partial<Generation['params']> = {};
  if (g.scheduleType && g.scheduleType !== 'automatic') out.scheduleType = g.scheduleType;
  if (g.rngSource && g.rngSource !== 'gpu') out.rngSource = g.rngSource;
  if (g.variationStrength) {
    out.variationStrength = g.variationStrength;
    if (g.variationSeed !== undefined) out.variationSeed = g.variationSeed;
  }
  if (g.resizeSeedFrom && g.resizeSeedFrom.width > 0 && g.resizeSeedFrom.height > 0) out.resizeSeedFrom = { ...g.resizeSeedFrom };
  if (g.ensd) out.ensd = g.ensd;
  return out;
}

/**
 * Records one generation into a data folder exactly as the studio would (for `ldm generate --data DIR`).
 * Safe while a studio has the same folder open (SQLite WAL; writes are atomic).
 */
export async function recordGeneration(dataDir: string, g: GenerationInput): Promise<Generation> {
  const paths = ensureDataDir(dataDir);
  const db = openDatabase(paths.db);
  try {
    const gallery = new Gallery(paths);
    // The CLI knows the model by its file; the history links it to the registry entry with that hash.
    const modelId = g.model.id ?? new ModelRegistry(db, paths).findByHash(g.model.hash)?.id ?? null;
    return await storeGeneration(new HistoryStore(db, gallery), gallery, { ...g, model: { ...g.model, id: modelId } });
  } finally {
    db.close();
  }
}
