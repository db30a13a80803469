// The models registry: embedded model packages, imported models and models trained here, with hash,
// size, kind and licence; validation before anything is imported.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { sha256Files } from '../engine/io/hash.ts';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative } from 'node:path';
import { StudioError } from '../api/contract.ts';
import type { ModelInfo, ModelKind, ModelValidation } from '../api/models.ts';
import { convertCheckpoint, openCheckpoint } from '../engine/io/checkpoint.ts';
import { paperRelease } from '../engine/families/ldm-paper.ts';
import { describeLdmFile, releaseFileIn, yamlPathBeside } from '../engine/families/ldm-run.ts';
import { isReleaseFile } from '../engine/pipelines/release.ts';
import { validateModelPackage, type ValidatedPackage } from '../engine/io/model-package.ts';
import { checkModel } from '../engine/families/index.ts';
import { readSafetensorsHeader } from '../engine/io/safetensors.ts';
import type { WorkerModel } from '../workers/protocol.ts';
import type { Db } from './db.ts';
import type { DataPaths } from './files.ts';
import { newId } from './ids.ts';
import { onnxProblem } from './onnx-check.ts';

const PICKLE = new Set(['.pkl']);
/** PyTorch zip checkpoints: read by the restricted reader and converted to .safetensors on import. */
const TORCH_CHECKPOINT = new Set(['.ckpt', '.pt', '.pth', '.bin']);

interface Described {
  kind: ModelKind;
  format: ModelInfo['format'];
  name: string;
  licence: string | null;
  description: string | null;
  weights: string[];
  /** Known without reading the weights (a package lists its files' sha256). */
  hash?: { hash: string; size: number };
  warnings: string[];
}

interface Row {
  id: string;
  name: string;
  kind: string;
  format: string;
  source: string;
  hash: string;
  size_bytes: number;
  licence: string | null;
  description: string | null;
  path: string;
  base_model_id: string | null;
  created_at: number;
  prediction: string | null;
  vae_id: string | null;
  weights: string | null;
}

const fromRow = (r: Row): ModelInfo => ({
  id: r.id,
  name: r.name,
  kind: r.kind as ModelKind,
  format: r.format as ModelInfo['format'],
  source: r.source as ModelInfo['source'],
  hash: r.hash,
  sizeBytes: r.size_bytes,
  licence: r.licence,
  description: r.description,
  path: r.path,
  baseModelId: r.base_model_id,
  createdAt: r.created_at,
  prediction: (r.prediction as ModelInfo['prediction']) ?? null,
  vaeId: r.vae_id ?? null,
  weights: (r.weights as ModelInfo['weights']) ?? 'fp32',
});

export class ModelRegistry {
  constructor(
    private readonly db: Db,
    private readonly paths: DataPaths,
  ) {}

  list(kind?: ModelKind): ModelInfo[] {
    const rows = (kind
      ? this.db.prepare('SELECT * FROM models WHERE kind = ? ORDER BY source, name').all(kind)
      : this.db.prepare('SELECT * FROM models ORDER BY source, name').all()) as Row[];
    return rows.map(fromRow);
  }

  get(id: string): ModelInfo {
    const row = this.db.prepare('SELECT * FROM models WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new StudioError(`No model with id "${id}"; see models.list for the models available.`, 'not_found');
    return fromRow(row);
  }

  /** The registered model whose sha256 starts with `hash` (A1111's short "Model hash", our 10-character one). */
  findByHash(hash: string | null, kind: ModelKind = 'ldm'): ModelInfo | null {
    if (!hash || !/^[0-9a-f]{8,64}$/i.test(hash)) return null;
    const row = this.db
      .prepare("SELECT * FROM models WHERE kind = ? AND hash LIKE ? || '%' ORDER BY source = 'embedded' DESC, created_at LIMIT 1")
      .get(kind, hash.toLowerCase()) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /**
   * Registers every model package under `dir` (shipped with the app) that is not registered yet.
   * Returns what was wrong with the folders it had to skip.
   */
  async registerEmbedded(dir: string): Promise<string[]> {
    if (!existsSync(dir)) return [];
    const problems: string[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const folder = join(dir, entry.name);
      if (!entry.isDirectory()) continue;
      // a model package, or one of the paper's releases saved in its own layout (<name>/<file>.safetensors)
      const release = existsSync(join(folder, 'model.json')) ? null : await releaseFileIn(folder);
      if (!release && !existsSync(join(folder, 'model.json'))) continue;
      if (release && !(await isReleaseFile(release))) continue;
      const path = release ?? folder;
      const id = `embedded:${entry.name}`;
      const known = this.db.prepare('SELECT path FROM models WHERE id = ?').get(id) as { path: string } | undefined;
      if (known?.path === path) continue;
      try {
        const info = await this.describeForRegistry(path);
        this.db.transaction(() => {
          this.db.prepare('DELETE FROM models WHERE id = ?').run(id);
          this.insert(id, path, 'embedded', null, null, info);
        })();
      } catch (err) {
        problems.push(`${path}: ${(err as Error).message}`);
      }
    }
    return problems;
  }

  async validate(path: string): Promise<ModelValidation> {
    try {
      const d = await describe(path);
      return { ok: true, kind: d.kind, format: d.format, errors: [], warnings: d.warnings };
    } catch (err) {
      const summary = err instanceof ModelValidationError ? err.summary : 'it could not be read';
      return { ok: false, kind: null, format: null, errors: [(err as Error).message], warnings: [], summary };
    }
  }

  /** Validates, copies into models/ (temp name + rename) and registers. */
  async import(path: string, name?: string): Promise<ModelInfo> {
    if (TORCH_CHECKPOINT.has(extname(path).toLowerCase())) return this.importCheckpoint(path, name);
    const d = await describe(path, true);
    const id = newId();
    const dest = join(this.paths.models, `${id}${(await stat(path)).isDirectory() ? '' : extname(path)}`);
    const tmp = join(this.paths.models, `.${id}.importing`);
    try {
      await cp(path, tmp, { recursive: true, errorOnExist: true });
      await rename(tmp, dest);
      await copyReleaseYaml(path, dest);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw new StudioError(`Could not copy the model into the data folder: ${(err as Error).message}`, 'io');
    }
    return this.register(id, dest, 'imported', name ?? d.name, null);
  }

  /**
   * A PyTorch checkpoint: its tensors are written once to models/<id>.safetensors (the original is left as
   * it is); the registry keeps the original's sha256 (the hash other tools show for it) and says what was converted.
   */
  private async importCheckpoint(path: string, name?: string): Promise<ModelInfo> {
    const d = await describe(path);
    const id = newId();
    const dest = join(this.paths.models, `${id}.safetensors`);
    const original = await hashFiles([path]);
    let r;
    try {
      r = await convertCheckpoint(path, dest, { converted_from: basename(path), converted_from_sha256: original.hash });
    } catch (err) {
      throw new ModelValidationError(`${basename(path)} could not be converted: ${(err as Error).message}`);
    }
    let converted: Described;
    try {
      converted = await describeSafetensors(dest);
    } catch (err) {
      await rm(dest, { force: true });
      throw new ModelValidationError((err as Error).message.replaceAll(basename(dest), basename(path)));
    }
    const dtypes = Object.entries(r.dtypes).map(([t, n]) => `${n} ${t}`).join(', ');
    const description = [
      ...(converted.description ? [`${converted.description}.`] : []),
      `Converted from ${basename(path)} (sha256 ${original.hash}) to safetensors: ${r.tensors} tensors (${dtypes})${r.stateDictKey ? ` from its '${r.stateDictKey}'` : ''}.`,
      ...r.notes.map((n) => `${n[0]!.toUpperCase()}${n.slice(1)}.`),
    ].join(' ');
    const size = (await stat(dest)).size;
    await copyReleaseYaml(path, dest);
    this.insert(id, dest, 'imported', name ?? d.name, null, { ...converted, name: d.name, description, hash: { hash: original.hash, size } });
    return this.get(id);
  }

  /** A model a training job wrote (inside the data folder already). */
  async registerTrained(path: string, name: string, baseModelId: string | null): Promise<ModelInfo> {
    return this.register(newId(), path, 'trained', name, baseModelId);
  }

  toWorkerModel(m: ModelInfo): WorkerModel {
    const vae = m.vaeId ? this.list('vae').find((v) => v.id === m.vaeId) : undefined;
    return { id: m.id, name: m.name, path: m.path, hash: m.hash, kind: m.kind, format: m.format, prediction: m.prediction ?? null, vaePath: vae?.path ?? null, weights: m.weights ?? 'fp32' };
  }

  /** The VAE a diffusion model decodes and encodes with (a registry model of kind 'vae'), or null for its own. */
  setVae(id: string, vaeId: string | null): ModelInfo {
    const m = this.get(id);
    if (m.kind !== 'ldm') throw new StudioError(`"${m.name}" is a ${m.kind}, not a diffusion model: it has no VAE to replace.`, 'invalid_input');
    if (vaeId !== null) {
      const v = this.get(vaeId);
      if (v.kind !== 'vae') throw new StudioError(`"${v.name}" is a ${v.kind}, not a VAE; import the VAE .safetensors first.`, 'invalid_input');
    }
    this.db.prepare('UPDATE models SET vae_id = ? WHERE id = ?').run(vaeId, id);
    return this.get(id);
  }

  /** How a diffusion model's linear weights are held for sampling: fp32, or int8/int4 quantised at load ("Low memory"). */
  setWeights(id: string, weights: NonNullable<ModelInfo['weights']>): ModelInfo {
    const m = this.get(id);
    if (m.kind !== 'ldm') throw new StudioError(`"${m.name}" is a ${m.kind}, not a diffusion model: its weights are not quantised.`, 'invalid_input');
    if (!['fp32', 'int8', 'int4'].includes(weights)) throw new StudioError(`weights must be fp32, int8 or int4, not '${String(weights)}'`, 'invalid_input');
    this.db.prepare('UPDATE models SET weights = ? WHERE id = ?').run(weights === 'fp32' ? null : weights, id);
    return this.get(id);
  }

  /** The user's prediction-type setting for a model (null: what the file or its family says). */
  setPrediction(id: string, prediction: ModelInfo['prediction']): ModelInfo {
    const m = this.get(id);
    if (m.kind !== 'ldm') throw new StudioError(`"${m.name}" is a ${m.kind}, not a diffusion model: it has no prediction type.`, 'invalid_input');
    this.db.prepare('UPDATE models SET prediction = ? WHERE id = ?').run(prediction ?? null, id);
    return this.get(id);
  }

  /** The name the studio shows for a model (its files are not touched). */
  rename(id: string, name: string): ModelInfo {
    this.get(id);
    const trimmed = name.trim();
    if (!trimmed) throw new StudioError('A model needs a name: type one.', 'invalid_input');
    this.db.prepare('UPDATE models SET name = ? WHERE id = ?').run(trimmed, id);
    return this.get(id);
  }

  /**
   * Unregisters a model. Files the studio holds (imported copies in models/, results in training/) move to
   * trash/models/; a file anywhere else is never touched. Models using it as their VAE go back to their own.
   * Returns where the files went (null: left where they were).
   */
  async delete(id: string): Promise<string | null> {
    const m = this.get(id);
    if (m.source === 'embedded') throw new StudioError(`"${m.name}" ships with the app and cannot be deleted.`, 'invalid_input');
    let trashedTo: string | null = null;
    if ([this.paths.models, this.paths.training].some((dir) => isInside(m.path, dir)) && existsSync(m.path)) {
      const dir = join(this.paths.trash, 'models');
      await mkdir(dir, { recursive: true });
      trashedTo = join(dir, basename(m.path).startsWith(m.id) ? basename(m.path) : `${m.id}-${basename(m.path)}`);
      await rename(m.path, trashedTo);
    }
    this.db.transaction(() => {
      this.db.prepare('UPDATE models SET vae_id = NULL WHERE vae_id = ?').run(id);
      this.db.prepare('DELETE FROM models WHERE id = ?').run(id);
    })();
    return trashedTo;
  }

  private async register(id: string, path: string, source: ModelInfo['source'], name: string | null, baseModelId: string | null): Promise<ModelInfo> {
    this.insert(id, path, source, name, baseModelId, await this.describeForRegistry(path));
    return this.get(id);
  }

  private async describeForRegistry(path: string): Promise<Described & { hash: { hash: string; size: number } }> {
    const d = await describe(path);
    return { ...d, hash: d.hash ?? (await hashFiles(d.weights)) };
  }

  private insert(id: string, path: string, source: ModelInfo['source'], name: string | null, baseModelId: string | null, d: Described & { hash: { hash: string; size: number } }): void {
    this.db
      .prepare(
        `INSERT INTO models (id, name, kind, format, source, hash, size_bytes, licence, description, path, base_model_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, name ?? d.name, d.kind, d.format, source, d.hash.hash, d.hash.size, d.licence, d.description, path, baseModelId, Date.now());
  }
}

class ModelValidationError extends StudioError {
  /** `message` is the technical detail; `summary` says in plain words what the file is not ("not a model file: …"). */
  constructor(
    message: string,
    readonly summary = 'not a model this studio can use',
  ) {
    super(message, 'invalid_model');
  }
}

/** What a file or folder holds, or a ModelValidationError saying why it cannot be used. */
async function describe(path: string, checkHashes = false): Promise<Described> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ModelValidationError(`Nothing at ${path}: pick an existing model file or folder.`, 'nothing at that path: pick an existing model file or folder');
  }
  const ext = extname(path).toLowerCase();
  if (st.isFile() && PICKLE.has(ext)) {
    throw new ModelValidationError(
      `${basename(path)} is a pickle checkpoint (${ext}), which can run arbitrary code when loaded; only .safetensors and ONNX models are accepted. Convert it to .safetensors first.`,
      'not accepted: a pickle file can run code when it is loaded; convert it to .safetensors first',
    );
  }
  if (st.isFile() && TORCH_CHECKPOINT.has(ext)) return describeCheckpoint(path);
  if (st.isFile() && ext === '.safetensors') return describeSafetensors(path);
  if (st.isFile() && ext === '.onnx') {
    const problem = await onnxProblem(path);
    if (problem) throw new ModelValidationError(`${basename(path)} ${problem}.`, 'not a usable ONNX model');
    return { kind: 'ldm', format: 'onnx', name: basename(path, ext), licence: null, description: null, weights: [path], warnings: [] };
  }
  if (st.isDirectory()) {
    if (existsSync(join(path, 'model.json'))) return describePackage(path, checkHashes);
    if (existsSync(join(path, 'model_index.json'))) {
      return existsSync(join(path, 'unet', 'model.onnx')) ? describeOnnxFolder(path) : describeDiffusers(path);
    }
    throw new ModelValidationError(`${path} is neither a model package (model.json) nor a diffusers ONNX folder (model_index.json).`, 'not a model folder: it has no model.json or model_index.json');
  }
  throw new ModelValidationError(`${basename(path)} is not a model: use a .safetensors file, an ONNX model or a model package folder.`, 'not a model file: use a .safetensors file, an ONNX model or a model package folder');
}

async function safetensorsKeys(file: string): Promise<string[]> {
  try {
    return (await readSafetensorsHeader(file)).entries.map((e) => e.name);
  } catch (err) {
    throw new ModelValidationError(`${basename(file)} is not a valid safetensors file: ${(err as Error).message}`, 'not a model file: its header is not valid safetensors');
  }
}

/** A PyTorch checkpoint, read without running anything in it; import converts it to safetensors. */
async function describeCheckpoint(file: string): Promise<Described> {
  let keys: string[];
  let notes: string[];
  let paper: ReturnType<typeof paperRelease>;
  try {
    const ckpt = await openCheckpoint(file);
    keys = ckpt.tensors.map((t) => t.name);
    notes = ckpt.notes;
    paper = paperRelease(new Map(ckpt.tensors.map((t) => [t.name, t.shape])));
    await ckpt.close();
  } catch (err) {
    throw new ModelValidationError(
      `${basename(file)} is a pickle checkpoint (${extname(file)}) that cannot be read safely: ${(err as Error).message}. Convert it to .safetensors with a tool you trust, or use another copy.`,
      'not a checkpoint this studio can read safely: convert it to .safetensors with a tool you trust',
    );
  }
  if (paper && 'problem' in paper) throw new ModelValidationError(`${basename(file)}: ${paper.problem}`, 'one of the latent diffusion paper\'s releases, of a kind the studio cannot run');
  const d = classifyKeys(keys, file);
  return { ...d, description: paper ? paper.release.label : d.description, warnings: [`a PyTorch checkpoint: importing converts its ${keys.length} tensors to .safetensors (the original is not changed)`, ...notes] };
}

async function describeSafetensors(file: string): Promise<Described> {
  const d = classifyKeys(await safetensorsKeys(file), file);
  if (d.kind !== 'ldm') return d;
  return (await isReleaseFile(file)) ? withRelease(d, file) : withFamily(d, file);
}

/** One of the latent diffusion paper's releases (pipelines/release.ts runs them): its label, what was assumed. */
async function withRelease(d: Described, file: string): Promise<Described> {
  try {
    const { release, notes } = await describeLdmFile(file);
    return { ...d, description: d.description ?? release.label, warnings: [...d.warnings, ...notes] };
  } catch (err) {
    throw new ModelValidationError((err as Error).message, 'one of the latent diffusion paper\'s releases, of a kind the studio cannot run');
  }
}

/** The release's yaml beside the original (its settings the shapes cannot tell) goes beside the copy. */
async function copyReleaseYaml(original: string, copy: string): Promise<void> {
  const yaml = /\.(safetensors|ckpt|pt|pth)$/i.test(original) ? yamlPathBeside(original) : null;
  if (yaml && (await isReleaseFile(copy))) await cp(yaml, join(dirname(copy), `${basename(copy, extname(copy))}.yaml`));
}

/** A diffusion model as its family sees it: SDXL, a bad SD file … refused with the family's line; its notes as warnings. */
async function withFamily(d: Described, file: string): Promise<Described> {
  const c = await checkModel(file);
  if (c === null) return d;
  if ('problem' in c) throw new ModelValidationError(c.problem, 'a kind of model this studio cannot run');
  const r = c.recognised;
  const what = `${r.label}${r.kind === 'inpaint' ? ' (inpainting)' : ''}${r.prediction ? `, predicts ${r.prediction === 'epsilon' ? 'ε' : 'v'}` : ''}`;
  return { ...d, description: d.description ?? what, weights: [...r.files], warnings: [...d.warnings, ...r.notes] };
}

/** A diffusers Stable Diffusion folder (safetensors weights; ONNX exports go through describeOnnxFolder). */
async function describeDiffusers(dir: string): Promise<Described> {
  const d: Described = { kind: 'ldm', format: 'diffusers', name: basename(dir), licence: null, description: null, weights: [], warnings: ['diffusers folders carry no licence field: check that you may use this model'] };
  const c = await withFamily(d, dir);
  if (c.weights.length === 0) throw new ModelValidationError(`${dir} is not a diffusers Stable Diffusion folder this studio can read.`, 'not a diffusers folder this studio can read');
  return c;
}

function classifyKeys(keys: string[], file: string): Described {
  const name = basename(file, extname(file));
  const base = { format: 'safetensors' as const, name, licence: null, description: null, weights: [file], warnings: [] };
  if (keys.some((k) => k.startsWith('lora_unet_') || k.startsWith('lora_te_') || k.includes('.lora_down.'))) return { ...base, kind: 'lora' };
  if (keys.some((k) => k.startsWith('model.diffusion_model.'))) return { ...base, kind: 'ldm' };
  if (keys.some((k) => k.startsWith('encoder.') || k.startsWith('first_stage_model.')) && keys.some((k) => k.includes('decoder.'))) {
    return { ...base, kind: 'vae' };
  }
  // A1111 embeddings: emb_params, the flattened string_to_param.*, or SDXL's clip_l/clip_g.
  if (keys.some((k) => k === 'emb_params' || k === 'string_to_param.*' || k === 'clip_l')) return { ...base, kind: 'embedding' };
  throw new ModelValidationError(
    `${basename(file)} holds ${keys.length} tensors but none with the names of an LDM/SD checkpoint (model.diffusion_model.*), a LoRA (lora_unet_*), a VAE or an embedding.`,
    'not a model this studio knows: its tensors are not named like a diffusion model, LoRA, VAE or embedding',
  );
}

async function describePackage(dir: string, checkHashes: boolean): Promise<Described> {
  let pkg: ValidatedPackage;
  try {
    pkg = await validateModelPackage(dir, { checkHashes });
  } catch (err) {
    throw new ModelValidationError(`${dir} is not a usable model package: ${(err as Error).message}`, 'not a usable model package: its model.json or files are wrong');
  }
  const m = pkg.manifest;
  const weights = m.files.filter((f) => f.role === 'weights');
  const hash =
    weights.length === 1 ? weights[0]!.sha256 : createHash('sha256').update(weights.map((f) => f.sha256).join('')).digest('hex');
  const description = typeof m.provenance.description === 'string' ? m.provenance.description : null;
  return {
    kind: m.kind === 'autoencoder' ? 'vae' : 'ldm',
    format: 'package',
    name: m.name,
    licence: m.license,
    description,
    weights: weights.map((f) => join(pkg.dir, f.path)),
    hash: { hash, size: m.files.reduce((a, f) => a + f.bytes, 0) },
    warnings: pkg.unused.length ? [`${pkg.unused.length} tensors in the weights are not used by the architecture (e.g. ${pkg.unused[0]})`] : [],
  };
}

async function describeOnnxFolder(dir: string): Promise<Described> {
  const missing = ['unet', 'vae_decoder', 'text_encoder'].filter((sub) => !existsSync(join(dir, sub, 'model.onnx')));
  if (missing.length) throw new ModelValidationError(`The ONNX folder ${dir} lacks ${missing.map((m) => `${m}/model.onnx`).join(', ')}.`, 'an incomplete ONNX model folder');
  for (const sub of ['unet', 'vae_decoder', 'text_encoder']) {
    const problem = await onnxProblem(join(dir, sub, 'model.onnx'));
    if (problem) throw new ModelValidationError(`${sub}/model.onnx in ${dir} ${problem}.`, 'not a usable ONNX model folder');
  }
  return {
    kind: 'ldm',
    format: 'onnx',
    name: basename(dir),
    licence: null,
    description: null,
    weights: ['text_encoder', 'unet', 'vae_decoder'].map((s) => join(dir, s, 'model.onnx')),
    warnings: ['diffusers ONNX folders carry no licence field: check that you may use this model'],
  };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function hashFiles(files: readonly string[]): Promise<{ hash: string; size: number }> {
  let size = 0;
  for (const f of files) size += (await stat(f)).size;
  return { hash: await sha256Files(files), size };
}
