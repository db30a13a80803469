// The model families, and the one entry the rest of the studio uses: probe a file or folder, ask each
// family whether it is theirs, describe it or open it as a LoadedModel. Nothing outside this folder
// branches on a family's name. Adding a family: write its module (types.ts: ModelFamily) and add it to
// FAMILIES, before any family whose files it could also match.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { sha256Files } from '../io/hash.ts';
import { readSafetensorsHeader } from '../io/safetensors.ts';

export { sha256Files };
import { LoadedModel, type RuntimeOptions } from '../pipelines/loaded-model.ts';
import { diffusers } from './diffusers.ts';
import { packageFamily } from './package.ts';
import { sd1 } from './sd1.ts';
import { sd2 } from './sd2.ts';
import { FamilyError, type ModelFamily, type ModelSource, type OpenedModel, type OpenOptions, type Prediction, type Recognised } from './types.ts';
import { UNSUPPORTED } from './unsupported.ts';

export { FamilyError } from './types.ts';
export type { ModelFamily, OpenedModel, Prediction, Recognised } from './types.ts';

export const FAMILIES: readonly ModelFamily[] = [packageFamily, diffusers, sd2, sd1];

const PICKLE = /\.(ckpt|pt|pth|bin|pkl)$/i;

/** Reads what the families decide on: a safetensors header, or a folder's entry names. */
export async function probe(file: string): Promise<ModelSource> {
  const abs = path.resolve(file);
  let st;
  try {
    st = await fsp.stat(abs);
  } catch {
    throw new FamilyError(`nothing at ${abs}: give an existing model file or folder`);
  }
  if (st.isDirectory()) return { path: abs, isDir: true, entries: await fsp.readdir(abs) };
  if (PICKLE.test(abs)) {
    throw new FamilyError(`${path.basename(abs)} is a pickle checkpoint, which can run code when loaded; use its .safetensors version`);
  }
  if (!/\.safetensors$/i.test(abs)) throw new FamilyError(`${path.basename(abs)} is not a model: use a .safetensors file, a diffusers folder or a model package folder`);
  let header;
  try {
    header = await readSafetensorsHeader(abs);
  } catch (err) {
    throw new FamilyError(`${path.basename(abs)} is not a valid safetensors file: ${(err as Error).message}`);
  }
  return { path: abs, isDir: false, header, tensors: new Map(header.entries.map((e) => [e.name, e])) };
}

/** The family of a probed source, or a FamilyError with one line naming what it is. */
export function familyOf(source: ModelSource): ModelFamily {
  const f = FAMILIES.find((x) => x.recognise(source));
  if (f) return f;
  for (const u of UNSUPPORTED) {
    const why = u.detect(source);
    if (why) throw new FamilyError(`${path.basename(source.path)}: ${why}`);
  }
  if (source.isDir) {
    throw new FamilyError(`${source.path} is neither a model package (model.json) nor a diffusers Stable Diffusion folder (model_index.json with unet/)`);
  }
  throw new FamilyError(
    `${path.basename(source.path)} holds ${source.tensors?.size ?? 0} tensors but none with the names of a Stable Diffusion checkpoint (model.diffusion_model.* with cond_stage_model.*)`,
  );
}

/**
 * For the import dialog: the family's description, or the one line saying why the file cannot be used
 * (a family recognised it but its shapes do not fit, or it is SDXL, a LoRA, …); null when no family here
 * knows the file (another reader may: the paper's releases, ONNX folders).
 */
export async function checkModel(file: string): Promise<{ recognised: Recognised } | { problem: string } | null> {
  let source: ModelSource;
  try {
    source = await probe(file);
  } catch (err) {
    return { problem: (err as Error).message };
  }
  const f = FAMILIES.find((x) => x.recognise(source));
  if (f) {
    try {
      return { recognised: await f.describe(source) };
    } catch (err) {
      return { problem: (err as Error).message };
    }
  }
  for (const u of UNSUPPORTED) {
    const why = u.detect(source);
    if (why) return { problem: `${path.basename(source.path)}: ${why}` };
  }
  return null;
}

/** What a file or folder is (family, kind, stated prediction type), without opening the weights. */
export async function recogniseModel(file: string): Promise<Recognised> {
  const source = await probe(file);
  return familyOf(source).describe(source);
}

export interface OpenModelOptions extends OpenOptions, RuntimeOptions {
  /** The model's A1111 hash (first 10 hex of the sha256) when known (the registry caches it); else computed. */
  readonly hash?: string;
}

/** Opens any supported model as the configs, weights and defaults a LoadedModel needs. */
export async function openFamilyModel(file: string, o: OpenOptions = {}): Promise<OpenedModel> {
  const source = await probe(file);
  return familyOf(source).open(source, o);
}

/** Opens any supported model ready to sample (sessions are built on first use, or by warmUp). */
export async function openModel(file: string, o: OpenModelOptions = {}): Promise<{ model: LoadedModel; opened: OpenedModel }> {
  const opened = await openFamilyModel(file, o);
  const hash = o.hash ?? (await sha256Files(opened.files)).slice(0, 10);
  const model = new LoadedModel(
    {
      name: opened.name,
      hash,
      unet: opened.unet,
      autoencoder: opened.autoencoder,
      textEncoder: opened.textEncoder,
      scaleFactor: opened.scaleFactor,
      preview: opened.preview,
      defaults: opened.defaults,
      schedulerConfig: opened.schedulerConfig,
      tokenize: opened.tokenize,
      textTokenizer: opened.textTokenizer,
      weights: opened.weights,
    },
    o,
  );
  return { model, opened };
}


/** The prediction setting as users type it (--prediction v|eps, the Models view). */
export function parsePrediction(v: string): Prediction {
  const s = v.trim().toLowerCase();
  if (s === 'v' || s === 'v_prediction' || s === 'v-prediction') return 'v_prediction';
  if (s === 'eps' || s === 'epsilon' || s === 'ε') return 'epsilon';
  throw new FamilyError(`prediction must be 'v' or 'eps', got '${v}'`);
}
