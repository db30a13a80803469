// Model packages: a folder with model.json (what the model is: kind, architecture configs, tokenizer,
// scheduler and sampling defaults, latent scale factor, latent→RGB preview, provenance, licence, files)
// and *.safetensors weights named as in LDM/SD checkpoints. Validation reads only model.json and the
// safetensors headers, so a big model is checked without loading it; errors name the missing or
// wrong piece.
import { promises as fsp } from 'node:fs';
import { sha256Files } from './hash.ts';
import * as path from 'node:path';
import { z } from 'zod';
import { betaScheduleFromModelJson } from '../diffusion/schedule.ts';
import type { Param } from '../onnx/graph.ts';
import { addProblem, finiteNumber, firstProblem, nonEmptyString, positiveInt, positiveNumber, record, whenFieldsValid } from '../schema.ts';
import { type AutoencoderConfig, type ClassEmbedderConfig, CONFIG_SCHEMAS, type TextEncoderConfig, type UNetConfig } from '../nn/config.ts';
import { modelParams } from '../nn/models.ts';
import type { TensorData } from '../tensor.ts';
import { writeBytesAtomic } from './atomic.ts';
import {
  type SafetensorsEntry,
  type SafetensorsHeader,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
} from './safetensors.ts';

export class ModelPackageError extends Error {
  override name = 'ModelPackageError';
}

export const MODEL_JSON = 'model.json';
export const MODEL_FORMAT = 'latent-diffusion-studio/model';
export const MODEL_VERSION = 1;
/** Tokenizer type whose vocabulary ships with the studio (SD 1.x's CLIP BPE), so packages need not carry it. */
export const BUILTIN_TOKENIZER = 'clip-bpe';
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024; // a vocabulary inline can be a few MB, never more

export type ModelKind = 'txt2img' | 'class2img' | 'inpaint' | 'unconditional' | 'autoencoder';
const KINDS = ['txt2img', 'class2img', 'inpaint', 'unconditional', 'autoencoder'] as const satisfies readonly ModelKind[];

export interface Architecture {
  autoencoder: AutoencoderConfig;
  unet?: UNetConfig;
  textEncoder?: TextEncoderConfig;
  classEmbedder?: ClassEmbedderConfig;
}

export interface TokenizerSpec {
  type: string; // which tokenizer reads the vocabulary ('word', 'clip-bpe', …)
  vocabulary?: string[]; // inline …
  file?: string; // … or a file of the package
  maxLength: number;
  [option: string]: unknown;
}

export interface SchedulerDefaults {
  betaSchedule: 'scaled_linear' | 'linear' | 'sqrt_linear' | 'cosine' | 'squaredcos_cap_v2'; // CompVis's names ('linear' is scaled-linear) and diffusers' cosine
  betaStart: number;
  betaEnd: number;
  trainTimesteps: number;
  prediction: 'epsilon' | 'v_prediction';
  [option: string]: unknown; // timestep spacing, steps offset, …
}

export interface SamplingDefaults {
  sampler: string;
  steps: number;
  guidance: number;
  width: number;
  height: number;
}

/** rgb = weights·z + bias per latent pixel: 3 rows (r, g, b) of one weight per latent channel. */
export interface LatentPreview {
  weights: number[][];
  bias: number[];
}

export interface PackageFile {
  path: string; // relative to the package folder, no sub-folders
  role: 'weights' | 'tokenizer' | 'card' | 'other';
  bytes: number;
  sha256: string;
}

export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  version: number;
  name: string;
  kind: ModelKind;
  architecture: Architecture;
  tokenizer?: TokenizerSpec;
  scheduler?: SchedulerDefaults;
  sampling?: SamplingDefaults;
  latentScaleFactor: number;
  latentPreview?: LatentPreview;
  provenance: Record<string, unknown>;
  license: string;
  files: PackageFile[];
  /**
   * The model this one was made from, by name (an inpainting model fine-tuned from a text model names
   * that model): the studio and `ldm inpaint` inpaint with it for that model (services/inpaint-model.ts).
   */
  baseModel?: string;
}

/** What a caller describes; format, version and files are filled in by saveModelPackage. */
export type ModelDescription = Omit<ModelManifest, 'format' | 'version' | 'files'>;

export interface TensorLocation {
  file: string; // absolute path of the safetensors file
  entry: SafetensorsEntry;
}

export interface ValidatedPackage {
  dir: string;
  manifest: ModelManifest;
  /** Where each parameter lies (absolute offsets): for ONNX external data. */
  tensors: Map<string, TensorLocation>;
  /** Tensors in the weight files that no network of the architecture uses (e.g. EMA copies). */
  unused: string[];
}

export interface LoadedPackage extends ValidatedPackage {
  /** Every parameter, as float32 (F16/BF16 are widened on load). */
  weights: Map<string, TensorData>;
}

// ------------------------------------------------------------------------------------ manifest checks

function fail(msg: string): never {
  throw new ModelPackageError(msg);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// One schema per section of model.json; checks that join sections (the architecture against the kind,
// the tokenizer against the text encoder and the files) run once every section is valid.

/** A file name inside the package folder: no separators, no '..', so a manifest can never point outside. */
const fileName = z.custom<string>(
  (v) => typeof v === 'string' && v !== '' && !v.includes('/') && !v.includes('\\') && v !== '.' && v !== '..' && !v.includes('\0'),
  { error: 'a plain file name inside the package folder' },
);

function checkFileName(name: unknown, where: string): string {
  const problem = firstProblem(fileName, name, where);
  if (problem) fail(problem);
  return name as string;
}

const architectureSchema = record(
  {
    autoencoder: CONFIG_SCHEMAS.autoencoder,
    unet: CONFIG_SCHEMAS.unet.optional(),
    textEncoder: CONFIG_SCHEMAS.textEncoder.optional(),
    classEmbedder: CONFIG_SCHEMAS.classEmbedder.optional(),
  },
  'an object with the network configs',
);

const fileSchema = record({
  path: fileName,
  role: z.enum(['weights', 'tokenizer', 'card', 'other'], { error: 'weights, tokenizer, card or other' }),
  bytes: z.int({ error: 'a byte count' }).min(0, { error: 'a byte count' }),
  sha256: z.string({ error: '64 hex digits' }).regex(/^[0-9a-f]{64}$/, { error: '64 hex digits' }),
}).superRefine((f, ctx) => {
  if (f.path === MODEL_JSON) return addProblem(ctx, 'model.json does not list itself', 'path');
  if (f.role === 'weights' && !f.path.endsWith('.safetensors')) addProblem(ctx, `weights file "${f.path}" must be a .safetensors file`);
}, whenFieldsValid);

const filesSchema = z.array(fileSchema, { error: 'a list of {path, role, bytes, sha256}' }).superRefine((files, ctx) => {
  const twice = files.find((f, i) => files.findIndex((g) => g.path === f.path) !== i);
  if (twice) addProblem(ctx, `"${twice.path}" is listed twice`);
}, whenFieldsValid);

const tokenizerSchema = record({
  type: nonEmptyString,
  maxLength: positiveInt,
  vocabulary: z.array(z.string({ error: 'a string' }), { error: 'a list of strings' }).optional(),
  file: fileName.optional(),
}).superRefine((t, ctx) => {
  if (t.vocabulary !== undefined && t.file !== undefined) return addProblem(ctx, 'give exactly one of vocabulary (inline) or file');
  if (t.vocabulary === undefined && t.file === undefined && t.type !== BUILTIN_TOKENIZER) {
    addProblem(ctx, `give exactly one of vocabulary (inline) or file (only type "${BUILTIN_TOKENIZER}" has a built-in vocabulary)`);
  }
}, whenFieldsValid);

/** rgb = weights·z + bias: judged whole, as its size depends on the autoencoder's latent channels. */
const previewSchema = (channels: number) =>
  z.custom<LatentPreview>(
    (p) =>
      isRecord(p) && Array.isArray(p.weights) && Array.isArray(p.bias) && p.weights.length === 3 && p.bias.length === 3 &&
      p.weights.every((r) => Array.isArray(r) && r.length === channels && r.every((x) => Number.isFinite(x))) &&
      p.bias.every((x) => Number.isFinite(x)),
    { error: `{weights: 3 rows of ${channels} numbers, bias: 3 numbers}` },
  );

const schedulerSchema = record({
  betaSchedule: z.custom<SchedulerDefaults['betaSchedule']>((v) => typeof v === 'string' && samplersRun(v), {
    error: 'scaled_linear (CompVis "linear"), sqrt_linear (linear β) or cosine',
  }),
  betaStart: positiveNumber,
  betaEnd: positiveNumber,
  trainTimesteps: positiveInt,
  prediction: z.enum(['epsilon', 'v_prediction'], { error: 'epsilon or v_prediction' }),
});

/** The schedule names the samplers read (diffusion/schedule.ts is the one rule). */
function samplersRun(name: string): boolean {
  try {
    betaScheduleFromModelJson(name);
    return true;
  } catch {
    return false;
  }
}

const samplingSchema = record({
  sampler: nonEmptyString,
  steps: positiveInt,
  guidance: finiteNumber,
  width: positiveInt,
  height: positiveInt,
});

const manifestSchema = record({
  name: nonEmptyString,
  kind: z.enum(KINDS, { error: `one of ${KINDS.join(', ')}` }),
  architecture: architectureSchema,
  files: filesSchema,
  tokenizer: tokenizerSchema.optional(),
  latentScaleFactor: positiveNumber,
  latentPreview: z.unknown().optional(),
  scheduler: schedulerSchema.optional(),
  sampling: samplingSchema.optional(),
  provenance: record({}, 'an object (who made the model, from what data, how)'),
  license: nonEmptyString,
  baseModel: nonEmptyString.optional(),
}).superRefine((m, ctx) => {
  const arch = m.architecture as Architecture; // the config schemas check what the interfaces say
  const problem = architectureProblem(m.kind, arch) ?? tokenizerProblem(m.tokenizer as TokenizerSpec | undefined, arch.textEncoder, m.files);
  if (problem) return addProblem(ctx, problem);
  if (m.latentPreview !== undefined) {
    const preview = firstProblem(previewSchema(arch.autoencoder.embedDim), m.latentPreview, 'latentPreview');
    if (preview) addProblem(ctx, preview);
  }
}, whenFieldsValid);

/** What the model's kind asks of its networks: channels in and out, and who supplies the context. */
function architectureProblem(kind: ModelKind, a: Architecture): string | null {
  const { autoencoder: ae, unet, textEncoder: te, classEmbedder: ce } = a;
  if (kind === 'autoencoder') return unet || te || ce ? 'kind "autoencoder" holds only architecture.autoencoder' : null;
  if (!unet) return `kind "${kind}" needs architecture.unet`;
  const z = ae.embedDim;
  const wantIn = kind === 'inpaint' ? 2 * z + 1 : z;
  if (unet.inChannels !== wantIn) return `architecture.unet.inChannels is ${unet.inChannels} but a ${kind} model over ${z} latent channels needs ${wantIn}`;
  if (unet.outChannels !== z) return `architecture.unet.outChannels is ${unet.outChannels} but the autoencoder has ${z} latent channels`;
  const ctxWidth = te?.width ?? ce?.embedDim;
  if (te && ce) return 'give either architecture.textEncoder or architecture.classEmbedder, not both';
  if (kind === 'txt2img' && !te) return 'kind "txt2img" needs architecture.textEncoder';
  if (kind === 'class2img' && !ce && !unet.numClasses) return 'kind "class2img" needs architecture.classEmbedder or unet.numClasses';
  if (ctxWidth !== undefined && unet.contextDim !== ctxWidth) {
    return `the conditioning encoder outputs width ${ctxWidth} but architecture.unet.contextDim is ${unet.contextDim ?? 'not set'}`;
  }
  if (ctxWidth === undefined && unet.contextDim) return 'architecture.unet.contextDim is set but no textEncoder or classEmbedder provides a context';
  return null;
}

/** The tokenizer against the text encoder it feeds and the files that carry its vocabulary. */
function tokenizerProblem(t: TokenizerSpec | undefined, te: TextEncoderConfig | undefined, files: PackageFile[]): string | null {
  if (!files.some((f) => f.role === 'weights')) return 'files lists no weights (.safetensors) file';
  if (t === undefined) return te ? 'tokenizer is missing (the text encoder needs one)' : null;
  if (te && t.maxLength !== te.maxLength) return `tokenizer.maxLength ${t.maxLength} differs from architecture.textEncoder.maxLength ${te.maxLength}`;
  if (te && t.vocabulary && t.vocabulary.length > te.vocabSize) {
    return `tokenizer.vocabulary has ${t.vocabulary.length} entries but the text encoder embeds only ${te.vocabSize}`;
  }
  if (t.file !== undefined && !files.some((x) => x.path === t.file)) return `tokenizer.file "${t.file}" is not listed in files`;
  return null;
}

/** Checks a parsed model.json (no file access). Format and version come first: they say whether this schema applies. */
export function validateManifest(m: unknown): ModelManifest {
  if (!isRecord(m)) fail('model.json must hold a JSON object');
  if (m.format !== MODEL_FORMAT) fail(`model.json: format must be "${MODEL_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== MODEL_VERSION) {
    fail(`model.json: unknown version ${JSON.stringify(m.version)}; this build reads version ${MODEL_VERSION} (a newer studio may read it)`);
  }
  const problem = firstProblem(manifestSchema, m);
  if (problem) fail(`model.json: ${problem}`);
  return m as unknown as ModelManifest; // as given: options the schema does not name are kept
}

// ------------------------------------------------------------------------------------ folder checks

async function readManifest(dir: string): Promise<ModelManifest> {
  const file = path.join(dir, MODEL_JSON);
  let stat;
  try {
    stat = await fsp.stat(file);
  } catch {
    fail(`${dir} is not a model package: ${MODEL_JSON} is missing`);
  }
  if (stat.size > MAX_MODEL_JSON_BYTES) fail(`${file} is ${stat.size} bytes, over the ${MAX_MODEL_JSON_BYTES}-byte limit`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    fail(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return validateManifest(parsed);
  } catch (err) {
    if (err instanceof ModelPackageError) fail(`${dir}: ${err.message}`);
    throw err;
  }
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** The parameters the architecture needs, checked against the weight files' headers. */
function locateParams(dir: string, params: Map<string, Param>, headers: [string, SafetensorsHeader][]): Omit<ValidatedPackage, 'dir' | 'manifest'> {
  const tensors = new Map<string, TensorLocation>();
  for (const [file, h] of headers) {
    for (const e of h.entries) {
      const prev = tensors.get(e.name);
      if (prev) fail(`${dir}: tensor ${e.name} is in both ${path.basename(prev.file)} and ${path.basename(file)}`);
      tensors.set(e.name, { file, entry: e });
    }
  }
  const missing: string[] = [];
  for (const p of params.values()) {
    const t = tensors.get(p.name);
    if (!t) {
      missing.push(p.name);
      continue;
    }
    const shape = t.entry.shape;
    if (shape.length !== p.shape.length || shape.some((d, i) => d !== p.shape[i])) {
      fail(`${dir}: tensor ${p.name} in ${path.basename(t.file)} has shape [${shape.join(', ')}] but the architecture needs [${p.shape.join(', ')}]`);
    }
    if (!FLOAT_DTYPES.has(t.entry.dtype)) fail(`${dir}: tensor ${p.name} in ${path.basename(t.file)} is ${t.entry.dtype}; weights must be floating point`);
  }
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ');
    fail(`${dir}: the weight files lack ${missing.length} tensor${missing.length > 1 ? 's' : ''} the architecture needs: ${shown}${missing.length > 5 ? ', …' : ''}`);
  }
  const located = new Map<string, TensorLocation>();
  for (const name of params.keys()) located.set(name, tensors.get(name)!);
  const unused = [...tensors.keys()].filter((k) => !params.has(k));
  return { tensors: located, unused };
}

export interface ValidateOptions {
  /** Also hash every file against model.json (reads every byte; off by default). */
  checkHashes?: boolean;
}

/** Checks model.json, that every listed file exists with its size, and every weight tensor by name and shape. */
export async function validateModelPackage(dir: string, opts: ValidateOptions = {}): Promise<ValidatedPackage> {
  const abs = path.resolve(dir);
  const manifest = await readManifest(abs);
  for (const f of manifest.files) {
    const file = path.join(abs, f.path);
    let size: number;
    try {
      size = (await fsp.stat(file)).size;
    } catch {
      fail(`${abs}: ${f.role} file ${f.path} listed in model.json is missing`);
    }
    if (size !== f.bytes) fail(`${abs}: ${f.path} is ${size} bytes but model.json says ${f.bytes} (damaged or replaced?)`);
    if (opts.checkHashes && (await sha256Files([file])) !== f.sha256) fail(`${abs}: ${f.path} does not match its sha256 in model.json`);
  }
  const headers: [string, SafetensorsHeader][] = [];
  for (const f of manifest.files.filter((x) => x.role === 'weights')) {
    const file = path.join(abs, f.path);
    headers.push([file, await readSafetensorsHeader(file)]);
  }
  return { dir: abs, manifest, ...locateParams(abs, modelParams(manifest.architecture), headers) };
}

/** Validates, then loads the architecture's parameters as float32. */
export async function loadModelPackage(dir: string, opts: ValidateOptions = {}): Promise<LoadedPackage> {
  const v = await validateModelPackage(dir, opts);
  const weights = new Map<string, TensorData>();
  const files = new Set([...v.tensors.values()].map((t) => t.file));
  for (const file of files) {
    const loaded = await loadSafetensors(file);
    for (const [name, t] of loaded.tensors) if (v.tensors.has(name)) weights.set(name, t);
  }
  return { ...v, weights };
}

export interface SaveOptions {
  /** Storage dtype of the weights ('F16' halves the size). */
  dtype?: 'F32' | 'F16';
  /** Weights file name (default 'model.safetensors'). */
  weightsFile?: string;
  /** Further files to write into the package (tokenizer vocabulary, model card, …). */
  extraFiles?: { path: string; role: PackageFile['role']; data: Uint8Array | string }[];
  /** safetensors __metadata__ for the weights file. */
  metadata?: Record<string, string>;
}

/**
 * Writes a package folder: weights, extra files, then model.json last (each atomically), so a folder
 * with a model.json is complete. Weights must cover every parameter of the architecture.
 */
export async function saveModelPackage(
  dir: string,
  desc: ModelDescription,
  weights: ReadonlyMap<string, TensorData | Float32Array>,
  opts: SaveOptions = {},
): Promise<ModelManifest> {
  const weightsFile = checkFileName(opts.weightsFile ?? 'model.safetensors', 'weightsFile');
  if (!weightsFile.endsWith('.safetensors')) fail(`weightsFile "${weightsFile}" must end in .safetensors`);
  const planned: PackageFile[] = [{ path: weightsFile, role: 'weights', bytes: 0, sha256: '0'.repeat(64) }];
  for (const f of opts.extraFiles ?? []) planned.push({ path: f.path, role: f.role, bytes: 0, sha256: '0'.repeat(64) });
  // Check the whole description before writing anything.
  const arch = validateManifest({ format: MODEL_FORMAT, version: MODEL_VERSION, ...desc, files: planned }).architecture;
  const params = modelParams(arch);
  const tensors = new Map<string, TensorData>();
  for (const p of params.values()) {
    const w = weights.get(p.name);
    if (!w) fail(`saveModelPackage: no weights given for ${p.name}`);
    const t: TensorData = w instanceof Float32Array ? { dtype: 'float32', shape: p.shape, data: w } : w;
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      fail(`saveModelPackage: weights for ${p.name} have shape [${t.shape.join(', ')}] (${t.data.length} values) but the architecture needs [${p.shape.join(', ')}]`);
    }
    tensors.set(p.name, t);
  }
  await fsp.mkdir(dir, { recursive: true });
  const written: { path: string; role: PackageFile['role'] }[] = [];
  await saveSafetensors(path.join(dir, weightsFile), tensors, opts.metadata, { dtype: opts.dtype });
  written.push({ path: weightsFile, role: 'weights' });
  for (const f of opts.extraFiles ?? []) {
    const name = f.path;
    await writeBytesAtomic(path.join(dir, name), typeof f.data === 'string' ? new TextEncoder().encode(f.data) : f.data);
    written.push({ path: name, role: f.role });
  }
  const files: PackageFile[] = [];
  for (const f of written) {
    const file = path.join(dir, f.path);
    files.push({ ...f, bytes: (await fsp.stat(file)).size, sha256: await sha256Files([file]) });
  }
  const manifest: ModelManifest = { format: MODEL_FORMAT, version: MODEL_VERSION, ...desc, architecture: arch, files };
  validateManifest(manifest);
  await writeBytesAtomic(path.join(dir, MODEL_JSON), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return manifest;
}
