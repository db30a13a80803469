// Where `ldm` finds model packages: --model DIR or NAME, else the installed default in resources/models/.
// Shared by the generation commands and `ldm train`.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeLdmFile, releaseFileIn } from '../engine/families/ldm-run.ts';
import type { LdmTask } from '../engine/families/ldm-release.ts';
import { MODEL_JSON } from '../engine/io/model-package.ts';
import { isReleaseFile } from '../engine/pipelines/release.ts';
import { UsageError } from './args.ts';

/** resources/models/ of this checkout or installation; LDM_MODELS_DIR overrides it. */
export function modelsDir(): string {
  return process.env.LDM_MODELS_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../resources/models');
}

/** --model DIR, --model NAME (a folder of resources/models/), or the one installed default. */
export async function resolveModelDir(model: string | undefined): Promise<string> {
  if (model !== undefined) {
    if (/\.(ckpt|pt|pth|bin)$/i.test(model)) {
      throw new UsageError(`--model ${model}: pickle checkpoints are refused (loading one can run code); use a safetensors model package`);
    }
    if (/\.safetensors$/i.test(model)) {
      throw new UsageError(`--model ${model}: a bare weights file; ldm loads model package folders (model.json + .safetensors)`);
    }
    if (await exists(path.join(model, MODEL_JSON))) return model;
    const named = path.join(modelsDir(), model);
    if (!model.includes('/') && !model.includes('\\') && (await exists(path.join(named, MODEL_JSON)))) return named;
    throw new UsageError(`--model ${model}: no model package there (a folder with ${MODEL_JSON}); 'ldm models' lists the installed ones`);
  }
  const found = await listPackageDirs(modelsDir());
  if (found.length === 0) {
    throw new UsageError(
      `no default model is installed (nothing in ${modelsDir()}); pass --model DIR with a model package folder`,
    );
  }
  return defaultOf(found)!;
}

/**
 * What `ldm generate --model` opens: a model package folder or a name in resources/models/ (as
 * resolveModelDir), or any file or folder a model family reads (SD 1.x/2.x .safetensors, a diffusers
 * folder); the family says what is wrong with anything else when it is opened.
 */
export async function resolveModelPath(model: string | undefined, flag = '--model'): Promise<string> {
  if (model === undefined) return resolveModelDir(undefined);
  if (model.trim() === '') throw new UsageError(`${flag} needs a model file, folder or name`);
  if (/\.(ckpt|pt|pth|bin)$/i.test(model)) {
    throw new UsageError(`${flag} ${model}: pickle checkpoints are refused (loading one can run code); use a .safetensors file`);
  }
  if (await exists(path.join(model, MODEL_JSON))) return model;
  const named = path.join(modelsDir(), model);
  if (!model.includes('/') && !model.includes('\\') && (await exists(path.join(named, MODEL_JSON)))) return named;
  if (await exists(model)) return model;
  throw new UsageError(`${flag} ${model}: no such file or folder, and no installed model of that name ('ldm models' lists them)`);
}

/** The package used without --model: one named 'default', else the first by name. */
export function defaultOf(dirs: readonly string[]): string | undefined {
  return dirs.find((d) => path.basename(d) === 'default') ?? dirs[0];
}

export async function listPackageDirs(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) if (await exists(path.join(dir, n, MODEL_JSON))) out.push(path.join(dir, n));
  return out;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

/** A release named by --model: the file in a folder of resources/models/ of that name, or in that folder path (null: neither). */
export async function namedReleaseFile(model: string): Promise<string | null> {
  const named = model.includes('/') || model.includes('\\') ? null : await releaseFileIn(path.join(modelsDir(), model));
  return named ?? (await releaseFileIn(model));
}

/** The first release in resources/models/ (folders by name) that does `task`, or null. */
export async function firstInstalledRelease(task: LdmTask): Promise<string | null> {
  let names: string[] = [];
  try {
    names = (await fsp.readdir(modelsDir())).sort();
  } catch {
    return null;
  }
  for (const n of names) {
    const file = await releaseFileIn(path.join(modelsDir(), n));
    if (file && (await isReleaseFile(file)) && (await describeLdmFile(file).catch(() => null))?.release.task === task) return file;
  }
  return null;
}
