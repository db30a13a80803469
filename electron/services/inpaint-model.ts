// Which model inpaints when the user picks a model: the one rule, used by the studio's inpaint jobs (the
// Canvas), the models list (the Canvas says which model will inpaint) and `ldm inpaint` / `ldm outpaint`.
// - An inpainting model package (kind 'inpaint') that names a model as its base (model.json `baseModel`:
//   emoji-ldm-32-inpaint names emoji-ldm-32) inpaints for that model,
// - when the job adds nothing to the model the user picked (no LoRA or embedding, no VAE of the user's).
// - Every other model inpaints itself: ordinary models by blending latents, inpainting models through their
//   mask channels (engine/pipelines/inpaint.ts).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ModelInfo } from '../api/models.ts';
import { MODEL_JSON, validateManifest, type ModelManifest } from '../engine/io/model-package.ts';
import type { ModelRegistry } from './models.ts';

async function manifestOf(dir: string): Promise<ModelManifest | null> {
  try {
    return validateManifest(JSON.parse(await fsp.readFile(path.join(dir, MODEL_JSON), 'utf8')));
  } catch {
    return null; // not a model package (a single file, a diffusers folder) or a broken one
  }
}

/** The package folder among `candidates` that inpaints for the package folder `base`, or null (it inpaints itself). */
export async function inpaintingPackageFor(base: string, candidates: readonly string[]): Promise<string | null> {
  const m = await manifestOf(base);
  if (!m || m.kind === 'inpaint') return null;
  for (const c of candidates) {
    if (path.resolve(c) === path.resolve(base)) continue;
    const cm = await manifestOf(c);
    if (cm?.kind === 'inpaint' && cm.baseModel === m.name) return c;
  }
  return null;
}

/**
 * The registered model an inpaint job on `model` runs on: its inpainting counterpart when it has one and
 * the job adds nothing to it (`adds`: the job brings LoRAs or embeddings), else `model` itself.
 */
export async function inpaintingModel(models: ModelRegistry, model: ModelInfo, adds = false): Promise<ModelInfo> {
  if (adds || model.vaeId || model.format !== 'package') return model;
  const packages = models.list('ldm').filter((m) => m.format === 'package');
  const dir = await inpaintingPackageFor(model.path, packages.map((m) => m.path));
  return packages.find((m) => m.path === dir) ?? model;
}
