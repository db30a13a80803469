// onnxruntime-node sessions: execution-provider choice with an honest report of what runs, thread
// settings, TensorData in and out, and a cache of sessions keyed by a hash of the model.
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { numel, type DType, type TensorData } from '../tensor.ts';
import { modelHash } from './serialize.ts';
import type { Float16Options } from './float16.ts';

/**
 * The execution providers the engine can run on, best first, cpu (always there) last: the one list.
 * availableProviders, 'auto', system.info, the CLI's --provider and its help read it.
 */
export const PROVIDERS = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;
export type Provider = (typeof PROVIDERS)[number];
/** What a user may ask for: a provider by name, or 'auto'. */
export const PROVIDER_CHOICES = ['auto', ...PROVIDERS] as const;
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

export interface SessionOptions {
  /** 'auto' (default): the best accelerator that initialises (cuda, dml, coreml; webgpu only by name), else cpu. */
  provider?: Provider | 'auto';
  /** Intra-op threads; default: onnxruntime's choice (one per physical core). */
  threads?: number;
  /**
   * The file that the model's external data (serialize.ts 'external' mode) points into, by its base name.
   * The model is loaded from memory and onnxruntime told the file's folder, so nothing is written
   * beside the user's checkpoint and the weights are read (mapped) from where they lie.
   */
  weightsFile?: string;
  /** onnxruntime graph optimisation level on the CPU; default 'all'. */
  optimization?: OptimizationLevel;
  /**
   * The level on GPU providers; default 'all'. The reason CPU sessions over mapped weights run 'disabled'
   * (any level copies every mapped weight into onnxruntime's host memory) does not apply where the weights
   * are copied to the device anyway, and 'all' folds float16.ts's weight Casts and fuses for the GPU.
   */
  acceleratorOptimization?: OptimizationLevel;
  /**
   * Outputs onnxruntime should leave in device memory (IO binding), where the provider supports it
   * (deviceOutputsFor): run() then gives them as DeviceTensor, which a later run takes as an input without
   * a copy to the host and back. Elsewhere they come back as ordinary tensors (the fallback).
   */
  deviceOutputs?: readonly string[];
  /** The precision a ModelFor builds in, whatever the provider (default: precisionFor each provider tried). */
  precision?: GraphPrecision;
  /**
   * onnxruntime's memory pattern (default on): it plans one arena block per run from the first run's
   * allocations. Off for the sampling networks: at SD size it grew the UNet's peak from 6.0 to 7.5 GB
   * (VAE decoder 2.2 → 3.5 GB) at equal speed (bench/memory.bench.ts).
   */
  memoryPattern?: boolean;
  /**
   * Whether onnxruntime pre-packs constant weights of MatMul/Gemm at session start (default true). Off,
   * a session over mapped external weights starts in about a second and holds no second copy of the
   * linear layers' weights, at a small cost per run (bench/sd.bench.ts).
   */
  prepack?: boolean;
  /** onnxruntime's CPU memory arena (default on): off, each tensor is its own allocation, returned when freed. */
  memoryArena?: boolean;
}

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** The precision inference graphs are built in for a provider: float16.ts's variant on GPU providers. */
export type GraphPrecision = 'float32' | 'float16';

/**
 * float16 graphs on GPU providers (half the weights' memory and bandwidth, tensor cores), float32 on the
 * CPU: its float16 kernels are few, and onnxruntime runs the rest by casting around them (slower, no gain).
 */
export function precisionFor(provider: Provider): GraphPrecision {
  return provider === 'cpu' ? 'float32' : 'float16';
}

/**
 * What stays float32 in a provider's float16 graphs besides the inputs, outputs and normalisation
 * statistics: Softmax where the provider's float16 kernel may accumulate in float16 (WebGPU's shaders use
 * the tensor's type; CoreML's is not documented). CUDA and DirectML accumulate float16 Softmax in float32.
 */
export function float16OptionsFor(provider: Provider): Float16Options {
  return { keepFloat32: provider === 'webgpu' || provider === 'coreml' ? ['Softmax'] : [] };
}

/**
 * Whether onnxruntime-node can leave this provider's outputs in device memory. In onnxruntime-node 1.30
 * only WebGPU's buffers can be handed to JavaScript ('gpu-buffer'); CUDA, DirectML and CoreML outputs are
 * always copied to the host.
 */
export function deviceOutputsFor(provider: Provider): boolean {
  return provider === 'webgpu';
}

/**
 * Whether inference graphs for this provider should use the fused com.microsoft MultiHeadAttention
 * (CPU, CUDA, DirectML and WebGPU run it; CoreML would hand it back to the CPU, splitting the graph).
 */
export function fusedAttentionFor(provider: Provider | 'auto'): boolean {
  const p = provider === 'auto' ? autoProviderCandidates()[0] ?? 'cpu' : provider;
  return p !== 'coreml';
}

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

function bindingDir(): string {
  const req = createRequire(import.meta.url);
  const pkg = path.dirname(req.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Providers this installation can try, best first, cpu last. Trying may still fail (no device, no driver). */
export function availableProviders(): Provider[] {
  const listed = new Set(ort.listSupportedBackends().map((b) => b.name)); // onnxruntime's names are ours
  const cudaLib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  const installed = (p: Provider) => p === 'cpu' || (listed.has(p) && (p !== 'cuda' || existsSync(path.join(bindingDir(), cudaLib))));
  return PROVIDERS.filter(installed);
}

const failedProviders = new Map<Provider, string>();

/**
 * The providers 'auto' tries, in order, cpu last: the available ones that have not failed in this
 * process. WebGPU in onnxruntime-node is experimental, and without a GPU adapter it prints a Vulkan
 * warning on every start before failing: it is used only when asked for by name. The first entry is
 * what 'auto' will use unless that provider fails to start.
 */
export function autoProviderCandidates(): Provider[] {
  return availableProviders().filter((p) => p !== 'webgpu' && !failedProviders.has(p));
}

const ORT_TYPES: Partial<Record<string, DType>> = {
  float32: 'float32', float16: 'float16', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

/**
 * A tensor that onnxruntime left in device memory (SessionOptions.deviceOutputs): feed it to a later run
 * of a session on the same provider. onnxruntime-node 1.30 cannot download it; ask for the output on the
 * host instead where its values are needed. Dispose it when done (device memory is not garbage-collected).
 */
export class DeviceTensor {
  constructor(readonly inner: ort.Tensor, readonly provider: Provider) {}
  get dtype(): string { return this.inner.type; }
  get shape(): readonly number[] { return this.inner.dims; }
  dispose(): void { this.inner.dispose(); }
}

export type Feed = TensorData | DeviceTensor;

function toOrt(name: string, t: Feed): ort.Tensor {
  if (t instanceof DeviceTensor) return t.inner;
  if (t.data.length !== numel(t.shape)) {
    throw new RuntimeError(`input '${name}': ${t.data.length} values for shape [${t.shape.join(', ')}]`);
  }
  return new ort.Tensor(t.dtype, t.data as never, t.shape as number[]);
}

function fromOrt(name: string, v: ort.OnnxValue): TensorData {
  const t = v as ort.Tensor;
  const dtype = ORT_TYPES[t.type];
  if (!dtype) throw new RuntimeError(`output '${name}' has type ${t.type}, which the engine does not handle`);
  return { dtype, shape: [...t.dims], data: t.data as TensorData['data'] };
}

interface TensorMeta { type: string; shape: readonly (number | string)[] }

function checkAgainst(what: string, t: Feed, meta: TensorMeta): void {
  const shapeOk = meta.shape.length === t.shape.length && meta.shape.every((d, i) => typeof d !== 'number' || d === t.shape[i]);
  if (meta.type !== t.dtype || !shapeOk) {
    throw new RuntimeError(`${what} is ${t.dtype}[${t.shape.join(', ')}] but the model expects ${meta.type}[${meta.shape.join(', ')}]`);
  }
}

export class Session {
  readonly inputNames: string[];
  readonly outputNames: string[];
  private readonly inputs = new Map<string, TensorMeta>();
  private readonly outputs = new Map<string, TensorMeta>();
  private released = false;
  /** Outputs this session leaves in device memory (SessionOptions.deviceOutputs, where the provider can). */
  readonly deviceOutputs: ReadonlySet<string>;

  constructor(private readonly inner: ort.InferenceSession, readonly provider: Provider, deviceOutputs: readonly string[] = [],
    /** The precision of the graph it runs (createSession with a ModelFor picks it per provider). */
    readonly precision: GraphPrecision = 'float32') {
    this.deviceOutputs = new Set(deviceOutputsFor(provider) ? deviceOutputs : []);
    this.inputNames = [...inner.inputNames];
    this.outputNames = [...inner.outputNames];
    for (const m of inner.inputMetadata) if (m.isTensor) this.inputs.set(m.name, { type: m.type, shape: m.shape });
    for (const m of inner.outputMetadata) if (m.isTensor) this.outputs.set(m.name, { type: m.type, shape: m.shape });
  }

  /**
   * Runs the model. Fetching only some outputs saves the copies, not the work: onnxruntime still runs
   * every node (measured), so build a pruned model (prune.ts) for a cheaper subset.
   */
  async run(feeds: Record<string, TensorData>, outputs?: string[]): Promise<Record<string, TensorData>> {
    const fetches = outputs ?? this.outputNames;
    for (const o of fetches) if (!this.outputNames.includes(o)) throw new RuntimeError(`unknown output '${o}' (the model gives ${this.outputNames.join(', ')})`);
    const res = await this.exec(feeds, fetches);
    const out: Record<string, TensorData> = {};
    for (const o of fetches) {
      if (this.deviceOutputs.has(o)) throw new RuntimeError(`output '${o}' stays on the device; use runOnDevice`);
      out[o] = fromOrt(o, res[o]!);
    }
    return out;
  }

  /**
   * Runs the model, taking device tensors as inputs and giving the outputs named in deviceOutputs as
   * DeviceTensor where the provider keeps them on the device (elsewhere as ordinary tensors).
   */
  async runOnDevice(feeds: Record<string, Feed>, outputs?: string[]): Promise<Record<string, TensorData | DeviceTensor>> {
    const fetches = outputs ?? this.outputNames;
    for (const o of fetches) if (!this.outputNames.includes(o)) throw new RuntimeError(`unknown output '${o}' (the model gives ${this.outputNames.join(', ')})`);
    const res = await this.exec(feeds, fetches);
    const out: Record<string, TensorData | DeviceTensor> = {};
    for (const o of fetches) {
      const v = res[o] as ort.Tensor;
      out[o] = v.location === 'gpu-buffer' ? new DeviceTensor(v, this.provider) : fromOrt(o, v);
    }
    return out;
  }

  /**
   * Runs and writes the named outputs into the given tensors (no allocation per run; for training
   * loops). Only those outputs are computed.
   */
  async runInto(feeds: Record<string, TensorData>, into: Record<string, TensorData>): Promise<void> {
    const fetches: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(into)) {
      const meta = this.outputs.get(name);
      if (!meta) throw new RuntimeError(`unknown output '${name}' (the model gives ${this.outputNames.join(', ')})`);
      checkAgainst(`output '${name}'`, t, meta);
      fetches[name] = toOrt(name, t);
    }
    await this.exec(feeds, fetches);
  }

  private async exec(feeds: Record<string, Feed>, fetches: string[] | Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
    if (this.released) throw new RuntimeError('session was released');
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const t = feeds[name];
      if (!t) throw new RuntimeError(`missing input '${name}' (the model takes ${this.inputNames.join(', ')})`);
      const meta = this.inputs.get(name);
      if (meta) checkAgainst(`input '${name}'`, t, meta);
      ortFeeds[name] = toOrt(name, t);
    }
    for (const name of Object.keys(feeds)) {
      if (!(name in ortFeeds)) throw new RuntimeError(`unknown input '${name}' (the model takes ${this.inputNames.join(', ')})`);
    }
    try {
      return await this.inner.run(ortFeeds, fetches as never);
    } catch (err) {
      throw new RuntimeError(`onnxruntime (${this.provider}) failed to run: ${(err as Error).message}`);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.inner.release();
  }
}

async function open(model: Uint8Array | string, provider: Provider, opts: SessionOptions, quiet: boolean): Promise<ort.InferenceSession> {
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: (provider === 'cpu' ? opts.optimization : opts.acceleratorOptimization) ?? 'all',
    executionMode: 'sequential',
    enableMemPattern: opts.memoryPattern ?? true,
    enableCpuMemArena: opts.memoryArena ?? true,
    logSeverityLevel: quiet ? 4 : 3,
  };
  // Not set: session.set_denormal_as_zero. Measured here it is process-wide and order-dependent (the
  // first session decides, later ones cannot change it) and it also flushes denormals in JavaScript
  // arithmetic on the main thread, so it would make results depend on which session came first.
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RuntimeError(`threads must be a positive integer, got ${opts.threads}`);
    o.intraOpNumThreads = opts.threads;
    o.interOpNumThreads = 1;
  }
  const config: Record<string, string> = {};
  if (typeof model !== 'string' && opts.weightsFile) {
    // External data is resolved against this folder instead of the model file's (which it has none of):
    // onnxruntime refuses absolute locations and ones that leave the model's folder, even by a symlink.
    config.model_external_initializers_file_folder_path = path.dirname(path.resolve(opts.weightsFile));
  }
  if (opts.prepack === false) config.disable_prepacking = '1';
  if (opts.deviceOutputs?.length && deviceOutputsFor(provider)) {
    o.preferredOutputLocation = Object.fromEntries(opts.deviceOutputs.map((n) => [n, 'gpu-buffer' as const]));
  }
  if (Object.keys(config).length) o.extra = { session: config };
  return ort.InferenceSession.create(model as Uint8Array, o);
}

/** A model built for the provider it will run on: graph precision (precisionFor) and its weights file. */
export interface ProviderModel {
  readonly model: Uint8Array;
  /** The file its external data points into (SessionOptions.weightsFile), when it has any. */
  readonly weightsFile?: string;
}

/**
 * Builds the model for a graph precision and provider; createSession calls it for each provider it tries
 * (a GPU that fails to start, then the CPU: float32 again).
 */
export type ModelFor = (precision: GraphPrecision, provider: Provider) => Promise<ProviderModel>;

/**
 * A session on the requested provider ('auto': the best that starts, cpu last). The model is bytes, a
 * path, or a ModelFor that builds it in the precision each provider tried wants.
 */
export async function createSession(model: Uint8Array | string | ModelFor, opts: SessionOptions = {}): Promise<Session> {
  const start = async (p: Provider, quiet: boolean): Promise<Session> => {
    if (typeof model !== 'function') return new Session(await open(model, p, opts, quiet), p, opts.deviceOutputs);
    const precision = opts.precision ?? precisionFor(p);
    const { model: bytes, weightsFile } = await model(precision, p);
    return new Session(await open(bytes, p, { ...opts, weightsFile: weightsFile ?? opts.weightsFile }, quiet), p, opts.deviceOutputs, precision);
  };
  const want = opts.provider ?? 'auto';
  if (want !== 'auto') {
    if (!availableProviders().includes(want)) {
      const hint = want === 'cuda'
        ? ' (install the CUDA build with `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12`)'
        : '';
      throw new RuntimeError(`execution provider '${want}' is not available in this installation${hint}; available: ${availableProviders().join(', ')}`);
    }
    try {
      return await start(want, false);
    } catch (err) {
      throw new RuntimeError(`execution provider '${want}' failed to start: ${(err as Error).message}`);
    }
  }
  for (const p of autoProviderCandidates()) {
    if (p === 'cpu') break;
    try {
      return await start(p, true);
    } catch (err) {
      failedProviders.set(p, (err as Error).message);
    }
  }
  try {
    return await start('cpu', false);
  } catch (err) {
    throw new RuntimeError(`onnxruntime could not load the model: ${(err as Error).message}`);
  }
}

/** Why each accelerator that 'auto' tried was skipped (for diagnostics screens). */
export function providerFailures(): ReadonlyMap<Provider, string> {
  return failedProviders;
}

/** Cache key for a model under given options. */
export function sessionKey(model: Uint8Array, opts: SessionOptions = {}): string {
  return `${modelHash(model)}|${opts.provider ?? 'auto'}|${opts.threads ?? 0}|${opts.optimization ?? 'all'}|${opts.weightsFile ?? ''}|${opts.prepack ?? true}`;
}

/**
 * Sessions by key (see sessionKey); concurrent gets of one key share one build. Beyond `capacity` the
 * least recently used session is released, so get the session again for each job rather than keeping it.
 */
export class SessionCache {
  private readonly entries = new Map<string, Promise<Session>>();

  constructor(private readonly capacity = 8) {}

  get size(): number {
    return this.entries.size;
  }

  async get(key: string, build: () => Promise<Session>): Promise<Session> {
    let p = this.entries.get(key);
    if (p) {
      this.entries.delete(key);
      this.entries.set(key, p);
      return p;
    }
    p = build();
    this.entries.set(key, p);
    // Trim only once the new session exists, so a failed build never evicts a working one.
    p.then(() => this.trim(), () => {
      if (this.entries.get(key) === p) this.entries.delete(key);
    });
    return p;
  }

  private trim(): void {
    while (this.entries.size > this.capacity) {
      const [oldest, old] = this.entries.entries().next().value as [string, Promise<Session>];
      this.entries.delete(oldest);
      void old.then((s) => s.release(), () => undefined);
    }
  }

  async delete(key: string): Promise<void> {
    const p = this.entries.get(key);
    this.entries.delete(key);
    if (p) await p.then((s) => s.release(), () => undefined);
  }

  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((p) => p.then((s) => s.release(), () => undefined)));
  }
}
