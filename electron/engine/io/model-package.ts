// Model packages: a folder with model.json (what the model is: kind, architecture configs, tokenizer,
// scheduler and sampling defaults, latent scale factor, latent→RGB preview, provenance, licence, files)
// and *.safetensors weights named as in LDM/SD checkpoints. Validation reads only model.json and the
// safetensors headers, so a big model is checked without loading it; errors name the missing or
// wrong piece.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Param } from '../onnx/graph.ts';
import {
  ConfigError,
  SD_V1_SCALE_FACTOR,
  autoencoderFactor,
  type AutoencoderConfig,
  type ClassEmbedderConfig,
  type TextEncoderConfig,
  type UNetConfig,
  validateAutoencoderConfig,
  validateClassEmbedderConfig,
  validateTextEncoderConfig,
  validateUNetConfig,
} from '../nn/config.ts';
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
const KINDS: readonly ModelKind[] = ['txt2img', 'class2img', 'inpaint', 'unconditional', 'autoencoder'];

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
  betaSchedule: 'scaled_linear' | 'linear' | 'cosine';
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

function finite(v: unknown, where: string, positive = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
    fail(`model.json: ${where} must be a ${positive ? 'positive' : 'finite'} number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') fail(`model.json: ${where} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(`model.json: ${where} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

// A file name inside the package folder: no separators, no '..', so a manifest can never point outside.
function checkFileName(name: unknown, where: string): string {
  const s = str(name, where);
  if (s.includes('/') || s.includes('\\') || s === '.' || s === '..' || s.includes('\0')) {
    fail(`model.json: ${where} "${s}" must be a plain file name inside the package folder`);
  }
  return s;
}

function checkArchitecture(kind: ModelKind, a: unknown): Architecture {
  if (!isRecord(a)) fail('model.json: architecture must be an object with the network configs');
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof ConfigError) fail(`model.json: architecture.${err.message}`);
      throw err;
    }
  };
  if (a.autoencoder === undefined) fail('model.json: architecture.autoencoder is missing');
  const ae = wrap(() => validateAutoencoderConfig(a.autoencoder, 'autoencoder'));
  const unet = a.unet === undefined ? undefined : wrap(() => validateUNetConfig(a.unet, 'unet'));
  const te = a.textEncoder === undefined ? undefined : wrap(() => validateTextEncoderConfig(a.textEncoder, 'textEncoder'));
  const ce = a.classEmbedder === undefined ? undefined : wrap(() => validateClassEmbedderConfig(a.classEmbedder, 'classEmbedder'));
  if (kind === 'autoencoder') {
    if (unet || te || ce) fail('model.json: kind "autoencoder" holds only architecture.autoencoder');
    return { autoencoder: ae };
  }
  if (!unet) fail(`model.json: kind "${kind}" needs architecture.unet`);
  const z = ae.embedDim;
  const wantIn = kind === 'inpaint' ? 2 * z + 1 : z;
  if (unet.inChannels !== wantIn) {
    fail(`model.json: architecture.unet.inChannels is ${unet.inChannels} but a ${kind} model over ${z} latent channels needs ${wantIn}`);
  }
  if (unet.outChannels !== z) fail(`model.json: architecture.unet.outChannels is ${unet.outChannels} but the autoencoder has ${z} latent channels`);
  const ctxWidth = te?.width ?? ce?.embedDim;
  if (te && ce) fail('model.json: give either architecture.textEncoder or architecture.classEmbedder, not both');
  if (kind === 'txt2img' && !te) fail('model.json: kind "txt2img" needs architecture.textEncoder');
  if (kind === 'class2img' && !ce && !unet.numClasses) fail('model.json: kind "class2img" needs architecture.classEmbedder or unet.numClasses');
  if (ctxWidth !== undefined && unet.contextDim !== ctxWidth) {
    fail(`model.json: the conditioning encoder outputs width ${ctxWidth} but architecture.unet.contextDim is ${unet.contextDim ?? 'not set'}`);
  }
  if (ctxWidth === undefined && unet.contextDim) fail('model.json: architecture.unet.contextDim is set but no textEncoder or classEmbedder provides a context');
  return { autoencoder: ae, unet, textEncoder: te, classEmbedder: ce };
}

function checkTokenizer(t: unknown, te: TextEncoderConfig | undefined, files: PackageFile[]): TokenizerSpec | undefined {
  if (t === undefined) {
    if (te) fail('model.json: tokenizer is missing (the text encoder needs one)');
    return undefined;
  }
  if (!isRecord(t)) fail('model.json: tokenizer must be an object');
  str(t.type, 'tokenizer.type');
  const maxLength = posInt(t.maxLength, 'tokenizer.maxLength');
  if (te && maxLength !== te.maxLength) fail(`model.json: tokenizer.maxLength ${maxLength} differs from architecture.textEncoder.maxLength ${te.maxLength}`);
  if (t.vocabulary !== undefined && t.file !== undefined) fail('model.json: tokenizer needs exactly one of vocabulary (inline) or file');
  if (t.vocabulary === undefined && t.file === undefined) {
    if (t.type === BUILTIN_TOKENIZER) return t as TokenizerSpec; // the CLIP BPE vocabulary the studio ships
    fail(`model.json: tokenizer needs exactly one of vocabulary (inline) or file (only type "${BUILTIN_TOKENIZER}" has a built-in vocabulary)`);
  }
  if (t.vocabulary !== undefined) {
    if (!Array.isArray(t.vocabulary) || !t.vocabulary.every((w) => typeof w === 'string')) {
      fail('model.json: tokenizer.vocabulary must be a list of strings');
    }
    if (te && t.vocabulary.length > te.vocabSize) {
      fail(`model.json: tokenizer.vocabulary has ${t.vocabulary.length} entries but the text encoder embeds only ${te.vocabSize}`);
    }
  } else {
    const f = checkFileName(t.file, 'tokenizer.file');
    if (!files.some((x) => x.path === f)) fail(`model.json: tokenizer.file "${f}" is not listed in files`);
  }
  return t as TokenizerSpec;
}

function checkPreview(p: unknown, channels: number): LatentPreview | undefined {
  if (p === undefined) return undefined;
  const bad = (): never =>
    fail(`model.json: latentPreview must be {weights: 3 rows of ${channels} numbers, bias: 3 numbers}, got ${JSON.stringify(p)}`);
  if (!isRecord(p) || !Array.isArray(p.weights) || !Array.isArray(p.bias) || p.weights.length !== 3 || p.bias.length !== 3) bad();
  const rows = (p as { weights: unknown[] }).weights;
  for (const r of rows) if (!Array.isArray(r) || r.length !== channels || !r.every((x) => Number.isFinite(x))) bad();
  if (!(p as { bias: unknown[] }).bias.every((x) => Number.isFinite(x))) bad();
  return p as unknown as LatentPreview;
}

function checkFiles(v: unknown): PackageFile[] {
  if (!Array.isArray(v)) fail('model.json: files must be a list of {path, role, bytes, sha256}');
  const seen = new Set<string>();
  return v.map((f, i) => {
    if (!isRecord(f)) fail(`model.json: files[${i}] must be an object`);
    const p = checkFileName(f.path, `files[${i}].path`);
    if (p === MODEL_JSON) fail(`model.json: files[${i}] must not list model.json itself`);
    if (seen.has(p)) fail(`model.json: files lists "${p}" twice`);
    seen.add(p);
    if (!['weights', 'tokenizer', 'card', 'other'].includes(f.role as string)) {
      fail(`model.json: files[${i}].role must be weights, tokenizer, card or other, got ${JSON.stringify(f.role)}`);
    }
    if (f.role === 'weights' && !p.endsWith('.safetensors')) fail(`model.json: weights file "${p}" must be a .safetensors file`);
    if (typeof f.bytes !== 'number' || !Number.isInteger(f.bytes) || f.bytes < 0) fail(`model.json: files[${i}].bytes must be a byte count`);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) fail(`model.json: files[${i}].sha256 must be 64 hex digits`);
    return f as unknown as PackageFile;
  });
}

/** Checks a parsed model.json (no file access). */
export function validateManifest(m: unknown): ModelManifest {
  if (!isRecord(m)) fail('model.json must hold a JSON object');
  if (m.format !== MODEL_FORMAT) fail(`model.json: format must be "${MODEL_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== MODEL_VERSION) {
    fail(`model.json: unknown version ${JSON.stringify(m.version)}; this build reads version ${MODEL_VERSION} (a newer studio may read it)`);
  }
  str(m.name, 'name');
  if (!KINDS.includes(m.kind as ModelKind)) fail(`model.json: kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(m.kind)}`);
  const kind = m.kind as ModelKind;
  const arch = checkArchitecture(kind, m.architecture);
  const files = checkFiles(m.files);
  if (!files.some((f) => f.role === 'weights')) fail('model.json: files lists no weights (.safetensors) file');
  checkTokenizer(m.tokenizer, arch.textEncoder, files);
  finite(m.latentScaleFactor, 'latentScaleFactor', true);
  checkPreview(m.latentPreview, arch.autoencoder.embedDim);
  if (m.scheduler !== undefined) {
    const s = m.scheduler;
    if (!isRecord(s)) fail('model.json: scheduler must be an object');
    if (!['scaled_linear', 'linear', 'cosine'].includes(s.betaSchedule as string)) {
      fail(`model.json: scheduler.betaSchedule must be scaled_linear, linear or cosine, got ${JSON.stringify(s.betaSchedule)}`);
    }
    finite(s.betaStart, 'scheduler.betaStart', true);
    finite(s.betaEnd, 'scheduler.betaEnd', true);
    posInt(s.trainTimesteps, 'scheduler.trainTimesteps');
    if (s.prediction !== 'epsilon' && s.prediction !== 'v_prediction') {
      fail(`model.json: scheduler.prediction must be epsilon or v_prediction, got ${JSON.stringify(s.prediction)}`);
    }
  }
  if (m.sampling !== undefined) {
    const s = m.sampling;
    if (!isRecord(s)) fail('model.json: sampling must be an object');
    str(s.sampler, 'sampling.sampler');
    posInt(s.steps, 'sampling.steps');
    finite(s.guidance, 'sampling.guidance');
    posInt(s.width, 'sampling.width');
    posInt(s.height, 'sampling.height');
  }
  if (!isRecord(m.provenance)) fail('model.json: provenance must be an object (who made the model, from what data, how)');
  str(m.license, 'license');
  return m as unknown as ModelManifest;
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

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return h.digest('hex');
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
    if (opts.checkHashes && (await sha256File(file)) !== f.sha256) fail(`${abs}: ${f.path} does not match its sha256 in model.json`);
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
    files.push({ ...f, bytes: (await fsp.stat(file)).size, sha256: await sha256File(file) });
  }
  const manifest: ModelManifest = { format: MODEL_FORMAT, version: MODEL_VERSION, ...desc, architecture: arch, files };
  validateManifest(manifest);
  await writeBytesAtomic(path.join(dir, MODEL_JSON), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return manifest;
}
