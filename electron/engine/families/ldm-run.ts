// Opening and running the paper's released models (ldm-release.ts says what a file is): weights from a
// .ckpt (through the restricted reader) or a .safetensors, the noise schedule from the file's DDPM
// buffers, and the job that fits each release: decode/round-trip for the autoencoders, sampling for the
// unconditional and class-conditional LDMs, ×4 upscaling (bsr_sr) and inpainting (inpainting_big), all
// through the engine's graphs, samplers and denoising loop.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../io/checkpoint.ts';
import { writeAll } from '../io/atomic.ts';
import { readSafetensorsHeader, type SafetensorsHeader } from '../io/safetensors.ts';
import { autoencoderFactor } from '../nn/config.ts';
import { ldmBertForward } from '../nn/ldm-bert.ts';
import { WordPieceTokenizer, frame } from '../io/tokenizers/index.ts';
import { Graph } from '../onnx/graph.ts';
import { buildClassEmbedderGraph, buildUNetGraph, buildVaeDecoderGraph, buildVaeEncoderGraph } from '../nn/models.ts';
import { timestepEmbedding } from '../nn/unet.ts';
import { createSession, type Session } from '../onnx/runtime.ts';
import { safetensorsWeights, toModelProto } from '../onnx/serialize.ts';
import { denoise } from '../pipelines/denoise.ts';
import { makeScratchDir, scratchRoot } from '../pipelines/weight-cache.ts';
import type { DiffusionModel, SamplingDefaults } from '../pipelines/model.ts';
import { createImageSampler, createNoiseSource } from '../pipelines/sampling.ts';
import { bf16ToFloat, halfToFloat, tensor, type Shape, type TensorData } from '../tensor.ts';
import { imagenetClassIndex } from './ldm-classes.ts';
import { FIRST_STAGE, LdmReleaseError, readReleaseYaml, recogniseLdmRelease, type LdmRelease, type ReleaseYaml } from './ldm-release.ts';

/** Above this the weights go to a temporary file the sessions read as external data (ONNX protobuf stops at 2 GB). */
const MAX_EMBEDDED_BYTES = 2 ** 30;
/** The releases' configs: linear_start 0.0015, linear_end 0.0195 (cin256-v2, CelebA-HQ, FFHQ). */
const DEFAULT_SCHEDULE = { betaStart: 0.0015, betaEnd: 0.0195, trainTimesteps: 1000 };

export interface OpenedLdm {
  readonly release: LdmRelease;
  readonly model: LdmModel;
  readonly notes: string[];
}

/** Tensor shapes of a .ckpt/.pt/.pth or .safetensors file, without reading the weights. */
export async function readShapes(file: string): Promise<Map<string, Shape>> {
  if (/\.safetensors$/i.test(file)) return new Map((await readSafetensorsHeader(file)).entries.map((e) => [e.name, e.shape]));
  const ckpt = await openCheckpoint(file);
  try {
    return new Map(ckpt.tensors.map((t) => [t.name, t.shape]));
  } finally {
    await ckpt.close();
  }
}

/** The release's yaml beside the file: <stem>.yaml, or config.yaml in the same folder (the CompVis download layout). */
export function yamlPathBeside(file: string): string | null {
  const dir = path.dirname(file);
  for (const name of [`${path.basename(file, path.extname(file))}.yaml`, 'config.yaml']) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

async function yamlBeside(file: string): Promise<{ yaml: ReleaseYaml; from: string | null }> {
  const from = yamlPathBeside(file);
  return from ? { yaml: readReleaseYaml(await fsp.readFile(from, 'utf8')), from } : { yaml: {}, from: null };
}

function toFloat32(dtype: string, shape: Shape, bytes: Uint8Array): TensorData<'float32'> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] =
      dtype === 'F32' ? v.getFloat32(i * 4, true)
      : dtype === 'F16' ? halfToFloat(v.getUint16(i * 2, true))
      : dtype === 'BF16' ? bf16ToFloat(v.getUint16(i * 2, true))
      : dtype === 'F64' ? v.getFloat64(i * 8, true)
      : dtype === 'I64' ? Number(v.getBigInt64(i * 8, true))
      : dtype === 'I32' ? v.getInt32(i * 4, true)
      : NaN;
  }
  return tensor('float32', shape, out);
}

/** One tensor the runner uses, under the graphs' name, read on demand as float32. */
interface SourceTensor {
  readonly name: string;
  readonly shape: Shape;
  read(): Promise<TensorData<'float32'>>;
}

/** The graphs' names for a file's tensors: a first stage alone gets the prefix; loss, EMA and other buffers stay out. */
function graphName(name: string, release: LdmRelease): string | null {
  if (release.autoencoderPrefix === '') return name.startsWith('loss.') ? null : `${FIRST_STAGE}.${name}`;
  if (name.startsWith('model.diffusion_model.') || name.startsWith(`${FIRST_STAGE}.`) || name.startsWith('cond_stage_model.')) return name;
  if (name === 'betas' || name === 'scale_factor') return name;
  return null;
}

/**
 * LitEma's name for a UNet parameter: the module path under `model.` with its dots removed
 * (model.diffusion_model.out.2.bias → model_ema.diffusion_modelout2bias).
 */
export function emaName(name: string): string {
  return `model_ema.${name.slice('model.'.length).replace(/\./g, '')}`;
}

/** The UNet's tensors taken from the EMA copy where it has them (same shapes); how many were swapped. */
function preferEma(all: SourceTensor[], raw: ReadonlyMap<string, SourceTensor>): number {
  let swapped = 0;
  all.forEach((t, i) => {
    if (!t.name.startsWith('model.diffusion_model.')) return;
    const e = raw.get(emaName(t.name));
    if (e && e.shape.join() === t.shape.join()) {
      all[i] = { name: t.name, shape: t.shape, read: e.read };
      swapped++;
    }
  });
  return swapped;
}

/** Runs `use` over the file's tensors (read one at a time: a multi-GB file is never held whole). */
async function withTensors<T>(file: string, release: LdmRelease, ema: boolean, use: (tensors: SourceTensor[], emaSwapped: number) => Promise<T>): Promise<T> {
  const useRaw = (raw: ReadonlyMap<string, SourceTensor>): Promise<T> => {
    const list: SourceTensor[] = [];
    for (const t of raw.values()) {
      const name = graphName(t.name, release);
      if (name) list.push({ ...t, name });
    }
    return use(list, ema ? preferEma(list, raw) : 0);
  };
  if (/\.safetensors$/i.test(file)) {
    const header = await readSafetensorsHeader(file);
    const fh = await fsp.open(file, 'r');
    try {
      const raw = new Map<string, SourceTensor>();
      for (const e of header.entries) {
        raw.set(e.name, {
          name: e.name,
          shape: e.shape,
          read: async () => {
            const b = new Uint8Array(e.length);
            const { bytesRead } = await fh.read(b, 0, e.length, e.offset);
            if (bytesRead !== e.length) throw new LdmReleaseError(`${path.basename(file)}: the file ended inside ${e.name}`);
            return toFloat32(e.dtype, e.shape, b);
          },
        });
      }
      return await useRaw(raw);
    } finally {
      await fh.close();
    }
  }
  const ckpt = await openCheckpoint(file);
  try {
    const raw = new Map<string, SourceTensor>();
    for (const t of ckpt.tensors) raw.set(t.name, { name: t.name, shape: t.shape, read: async () => toFloat32(t.dtype, t.shape, await ckpt.readTensor(t)) });
    return await useRaw(raw);
  } finally {
    await ckpt.close();
  }
}

/** Where the graphs' weights are: in memory, or a float32 safetensors file the sessions read as external data. */
type RunnerWeights =
  | { readonly kind: 'memory'; readonly tensors: ReadonlyMap<string, TensorData<'float32'>> }
  | { readonly kind: 'file'; readonly file: string; readonly header: SafetensorsHeader; readonly tempDir: string };

/** float32 tensors written one at a time to a safetensors file (header first, from the shapes). */
async function spill(tensors: SourceTensor[], file: string): Promise<void> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1));
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const t of sorted) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  const fh = await fsp.open(file, 'wx');
  try {
    await writeAll(fh, head);
    for (const t of sorted) {
      const d = (await t.read()).data;
      await writeAll(fh, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  } finally {
    await fh.close();
  }
}

/**
 * Removes the spilled weights of processes that are gone: a worker stopped with SIGKILL (the idle stop)
 * never runs its close, and a multi-GB file must not stay behind.
 */
async function sweepSpills(): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(scratchRoot());
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^ldm-paper-(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') await fsp.rm(path.join(scratchRoot(), n), { recursive: true, force: true });
    }
  }
}

export interface OpenLdmOptions {
  /**
   * Weights above this many bytes as float32 (default 1 GiB) are written once to a temporary safetensors
   * file that the sessions read as external data: an ONNX model with embedded weights cannot pass 2 GB.
   */
  readonly maxEmbeddedBytes?: number;
  /** Sample with the EMA copy of the UNet (model_ema.*) where the file has one; default: the model's own weights, as the paper's scripts. */
  readonly ema?: boolean;
}

/** Which release a file is (its shapes, and the yaml beside it), without reading the weights. */
export async function describeLdmFile(file: string): Promise<{ release: LdmRelease; yaml: ReleaseYaml; notes: string[] }> {
  const { yaml, from } = await yamlBeside(file);
  let release: LdmRelease;
  try {
    release = recogniseLdmRelease(await readShapes(file), yaml);
  } catch (err) {
    if (err instanceof LdmReleaseError) throw new LdmReleaseError(`${path.basename(file)}: ${err.message}`);
    throw err;
  }
  const notes = [...release.notes];
  if (from) notes.push(`settings read from ${path.basename(from)}`);
  return { release, yaml, notes };
}

/**
 * The release file a models folder holds (resources/models/<name>/ as the paper's layout is saved there:
 * one .safetensors, its yaml beside it optionally); null when the folder has none or several.
 */
export async function releaseFileIn(dir: string): Promise<string | null> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return null;
  }
  const files = names.filter((n) => /\.safetensors$/i.test(n));
  return files.length === 1 ? path.join(dir, files[0]!) : null;
}

/** Opens one of the paper's releases for its job. */
export async function openLdmRelease(file: string, o: OpenLdmOptions = {}): Promise<OpenedLdm> {
  const { release, yaml, notes } = await describeLdmFile(file);
  const buffers = new Map<string, TensorData<'float32'>>();
  const weights = await withTensors(file, release, o.ema === true, async (all, emaSwapped): Promise<RunnerWeights> => {
    if (o.ema) notes.push(emaSwapped ? `the UNet's ${emaSwapped} tensors taken from the EMA copy (model_ema.*)` : 'no EMA copy in the file: the model\'s own weights are used');
    for (const t of all) if (t.name === 'betas' || t.name === 'scale_factor') buffers.set(t.name, await t.read());
    const graph = all.filter((t) => t.name !== 'betas' && t.name !== 'scale_factor');
    const bytes = graph.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 4, 0);
    if (bytes <= (o.maxEmbeddedBytes ?? MAX_EMBEDDED_BYTES)) {
      const tensors = new Map<string, TensorData<'float32'>>();
      for (const t of graph) tensors.set(t.name, await t.read());
      return { kind: 'memory', tensors };
    }
    await sweepSpills();
    const tempDir = await makeScratchDir(`ldm-paper-${process.pid}-`);
    try {
      const spilled = path.join(tempDir, 'weights.safetensors');
      await spill(graph, spilled);
      notes.push(`weights (${(bytes / 2 ** 30).toFixed(2)} GiB as float32) written once to a temporary safetensors file the sessions read in place`);
      return { kind: 'file', file: spilled, header: await readSafetensorsHeader(spilled), tempDir };
    } catch (err) {
      await fsp.rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  });
  let scaleFactor = release.scaleFactor;
  const sf = buffers.get('scale_factor');
  if (sf && yaml.scaleFactor === undefined) scaleFactor = sf.data[0]!;
  let schedule = { ...DEFAULT_SCHEDULE, ...(yaml.linearStart !== undefined ? { betaStart: yaml.linearStart } : {}), ...(yaml.linearEnd !== undefined ? { betaEnd: yaml.linearEnd } : {}) };
  const betas = buffers.get('betas');
  if (betas && betas.data.length > 1) {
    schedule = { betaStart: betas.data[0]!, betaEnd: betas.data[betas.data.length - 1]!, trainTimesteps: betas.data.length };
    notes.push(`noise schedule from the file's betas (${schedule.betaStart.toPrecision(4)} → ${schedule.betaEnd.toPrecision(4)}, ${schedule.trainTimesteps} steps)`);
  } else if (release.task !== 'autoencoder' && yaml.linearStart === undefined) {
    notes.push(`noise schedule assumed: linear ${schedule.betaStart} → ${schedule.betaEnd} (the releases' config)`);
  }
  const model = new LdmModel(path.basename(file, path.extname(file)), release, weights, scaleFactor, {
    betaSchedule: 'linear',
    ...schedule,
    prediction: 'epsilon',
  });
  return { release: { ...release, scaleFactor }, model, notes };
}

/** A class given as an index ('12') or one of the model's own class names (exact case first, then any case). */
export function namedClassIndex(names: readonly string[], text: string): number | null {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const exact = names.indexOf(t);
  if (exact >= 0) return exact;
  const i = names.findIndex((n) => n.toLowerCase() === t.toLowerCase());
  return i < 0 ? null : i;
}

/**
 * What the studio offers for each release before the user changes anything: DDIM as the paper's
 * scripts, 50 steps (100 for super-resolution, as its notebook), guidance 5 for text (txt2img.py's
 * --scale) and 3 for classes where the model has its "no class" entry (the cin256-v2 notebook),
 * the release's training size (its yaml's image_size × f, else 256; inpainting_big: 512).
 */
export function releaseDefaults(r: LdmRelease): SamplingDefaults {
  const guidance = r.task === 'text-to-image' ? 5 : r.task === 'class-conditional' && r.unconditionalClass !== null ? 3 : 1;
  const side = r.task === 'inpainting' ? 512 : (r.imageSide ?? 256);
  return { sampler: 'ddim', steps: r.task === 'super-resolution' ? 100 : 50, guidance, width: side, height: side };
}

/**
 * A paper release as a DiffusionModel: the context is a class embedding (class-conditional) or nothing
 * (unconditional); concat conditioning (low-res image, masked image + mask) is set per job and appended
 * to the latents at every UNet call.
 */
export class LdmModel implements DiffusionModel {
  readonly hash = '';
  readonly latentChannels: number;
  readonly downscale: number;
  readonly unetInChannels: number;
  readonly preview = null;
  readonly defaults: SamplingDefaults;
  private readonly sessions = new Map<string, Promise<Session>>();
  /** Concat conditioning of the current job: [1, concatChannels, h, w]. */
  private concat: Float32Array | null = null;

  constructor(
    readonly name: string,
    readonly release: LdmRelease,
    private readonly weights: RunnerWeights,
    readonly scaleFactor: number,
    readonly schedulerConfig: Readonly<Record<string, unknown>>,
  ) {
    this.latentChannels = release.autoencoder.embedDim;
    this.downscale = autoencoderFactor(release.autoencoder);
    this.unetInChannels = this.latentChannels; // the denoising loop sees the latents; concat is added here
    this.defaults = releaseDefaults(release);
  }

  private async run(key: string, build: () => Graph, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const g = build();
        const w = this.weights;
        if (w.kind === 'file') return createSession(toModelProto(g, safetensorsWeights(w.header, path.basename(w.file))), { weightsFile: w.file });
        return createSession(toModelProto(g, {
          kind: 'embedded',
          get: (name) => {
            const t = w.tensors.get(name);
            if (!t) throw new LdmReleaseError(`${this.name}: the file has no tensor ${name}`);
            return t;
          },
        }));
      })();
      this.sessions.set(key, s);
    }
    return (await s).run(feeds);
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
    if (this.weights.kind === 'file') await fsp.rm(this.weights.tempDir, { recursive: true, force: true });
  }

  private tokenizer: WordPieceTokenizer | null = null;

  /** Text-to-image: prompts → bert-base-uncased WordPiece ids ([CLS] … [SEP] [PAD]…) → the τθ context. */
  private async encodePrompts(prompts: readonly string[]): Promise<TensorData<'float32'>> {
    const cfg = this.release.bert!;
    this.tokenizer ??= WordPieceTokenizer.bertBaseUncased(cfg.maxLength);
    if (this.tokenizer.vocabSize !== cfg.vocabSize) {
      throw new LdmReleaseError(`${this.name}: the text encoder has ${cfg.vocabSize} token embeddings, but bert-base-uncased has ${this.tokenizer.vocabSize} entries`);
    }
    const b = prompts.length;
    const ids = new BigInt64Array(b * cfg.maxLength);
    prompts.forEach((p, i) => frame(this.tokenizer!, this.tokenizer!.textIds(p)).forEach((id, j) => (ids[i * cfg.maxLength + j] = BigInt(id))));
    const out = await this.run(`bert:${b}`, () => {
      const g = new Graph('ldm_bert');
      g.output(ldmBertForward(g, cfg, g.input('input_ids', 'int64', [b, cfg.maxLength])), 'context');
      return g;
    }, { input_ids: tensor('int64', [b, cfg.maxLength], ids) });
    return out.context as TensorData<'float32'>;
  }

  /** Class-conditional: each prompt is a class index ('388') or an ImageNet name ('giant panda'); unconditional models take any prompt. */
  async encodeText(prompts: readonly string[]): Promise<TensorData<'float32'>> {
    if (this.release.bert) return this.encodePrompts(prompts);
    const ce = this.release.classEmbedder;
    if (!ce) return tensor('float32', [prompts.length, 1, 1]);
    const labels = BigInt64Array.from(prompts.map((p) => BigInt(this.classIndex(p))));
    const b = prompts.length;
    const out = await this.run(`class:${b}`, () => buildClassEmbedderGraph(ce, b), { class_labels: tensor('int64', [b], labels) });
    return out.context as TensorData<'float32'>;
  }

  private classIndex(p: string): number {
    const names = this.release.classNames;
    const n = names ? namedClassIndex(names, p) : imagenetClassIndex(p);
    const max = this.release.classEmbedder!.nClasses;
    if (n === null || n >= max) {
      const hint = names ? `one of its ${names.length} class names (${names.slice(0, 3).join(', ')}, …)` : 'an ImageNet class name';
      throw new LdmReleaseError(`${this.name} takes a class index from 0 to ${max - 1} or ${hint}, got '${p}'`);
    }
    return n;
  }

  /** ε for the latents x [B, C, h, w] (the job's concat conditioning appended here), or for x that already carries it [B, C + concat, h, w]. */
  async predictNoise(x: TensorData<'float32'>, timestep: number, context: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const unet = this.release.unet!;
    const [b, c, h, w] = x.shape as [number, number, number, number];
    let sample = x;
    if (this.release.concatChannels > 0 && c === this.latentChannels) {
      if (!this.concat) {
        throw new LdmReleaseError(
          this.release.task === 'super-resolution'
            ? `${this.name} is a super-resolution model: it upscales a picture (Upscale ×4, \`ldm upscale\`) and cannot make one from a prompt`
            : `${this.name} (${this.release.release}) needs its conditioning image for this job`,
        );
      }
      const k = this.release.concatChannels;
      const data = new Float32Array(b * (c + k) * h * w);
      for (let i = 0; i < b; i++) {
        data.set(x.data.subarray(i * c * h * w, (i + 1) * c * h * w), i * (c + k) * h * w);
        data.set(this.concat, (i * (c + k) + c) * h * w);
      }
      sample = tensor('float32', [b, c + k, h, w], data);
    }
    const feeds: Record<string, TensorData> = {
      sample,
      timestep_embedding: timestepEmbedding(new Array<number>(b).fill(timestep), unet.modelChannels),
    };
    const L = context.shape[1]!;
    if (unet.contextDim) feeds.encoder_hidden_states = context;
    const out = await this.run(`unet:${b}x${h}x${w}:${L}`, () => buildUNetGraph(unet, { batch: b, height: h, width: w, contextLength: L }), feeds);
    return out.out_sample as TensorData<'float32'>;
  }

  /** [1, 3, H, W] in [−1, 1] → latents × scale factor (KL: posterior mean; VQ: before quantisation). */
  async encodeImage(image: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, , H, W] = image.shape as [number, number, number, number];
    const out = await this.run(`enc:${b}x${H}x${W}`, () => buildVaeEncoderGraph(this.release.autoencoder, b, H, W), { sample: image });
    const m = out.latent_parameters as TensorData<'float32'>;
    const c = this.latentChannels;
    const [, mc, h, w] = m.shape as [number, number, number, number];
    const z = new Float32Array(b * c * h * w);
    for (let i = 0; i < b; i++) {
      const src = m.data.subarray(i * mc * h * w, (i * mc + c) * h * w);
      for (let j = 0; j < src.length; j++) z[i * c * h * w + j] = src[j]! * this.scaleFactor;
    }
    return tensor('float32', [b, c, h, w], z);
  }

  /** Latents × scale factor → [1, 3, h·f, w·f]; VQ latents are snapped to their nearest codebook entries first. */
  async decodeLatents(latents: TensorData<'float32'>): Promise<TensorData<'float32'>> {
    const [b, , h, w] = latents.shape as [number, number, number, number];
    const z = tensor('float32', latents.shape, latents.data.map((v) => v / this.scaleFactor));
    const out = await this.run(`dec:${b}x${h}x${w}`, () => buildVaeDecoderGraph(this.release.autoencoder, b, h, w), { latent_sample: z });
    return out.sample as TensorData<'float32'>;
  }

  setConcat(c: Float32Array | null): void {
    this.concat = c;
  }
}

export interface LdmSampleOptions {
  readonly seed: number;
  readonly steps?: number;
  readonly sampler?: string;
  readonly eta?: number;
  /** Classifier-free guidance scale (class-conditional models with a "no class" entry); 1 = off. */
  readonly guidance?: number;
  /** Text-to-image: the prompt. */
  readonly prompt?: string;
  /** Class-conditional: the class index, or an ImageNet class name. */
  readonly classLabel?: number | string;
  /** Output size in pixels (multiples of the first stage's factor × the UNet's). */
  readonly width?: number;
  readonly height?: number;
  readonly signal?: AbortSignal;
}

function requireTask(m: LdmModel, tasks: string[]): void {
  if (!tasks.includes(m.release.task)) {
    throw new LdmReleaseError(`${m.name} is a ${m.release.label}; this job needs ${tasks.join(' or ')}`);
  }
}

async function sampleLatents(m: LdmModel, o: LdmSampleOptions, h: number, w: number): Promise<TensorData<'float32'>> {
  const sampler = createImageSampler(o.sampler ?? 'ddim', o.steps ?? 50, o.eta ?? 0, m.schedulerConfig);
  const rng = createNoiseSource(o.seed);
  const noise = rng.normal(m.latentChannels * h * w);
  const latents = tensor('float32', [1, m.latentChannels, h, w], noise.map((v) => v * sampler.initNoiseSigma));
  let cond = tensor('float32', [1, 1, 1]); // unconditional: no context
  let uncond = null;
  let guidance = 1;
  if (m.release.task === 'text-to-image') {
    cond = await m.encodeText([o.prompt ?? '']);
    guidance = o.guidance ?? 1;
    if (guidance !== 1) uncond = await m.encodeText(['']); // as the paper's txt2img script: the empty prompt
  } else if (m.release.task === 'class-conditional') {
    if (o.classLabel === undefined) throw new LdmReleaseError(`${m.name} is class-conditional: give a class (0…${m.release.classEmbedder!.nClasses - 1})`);
    cond = await m.encodeText([String(o.classLabel)]);
    guidance = o.guidance ?? 1;
    if (guidance !== 1) {
      if (m.release.unconditionalClass === null) throw new LdmReleaseError(`${m.name} has no "no class" entry, so it cannot use guidance; use guidance 1`);
      uncond = await m.encodeText([String(m.release.unconditionalClass)]);
    }
  }
  return denoise({ model: m, sampler, latents, startIndex: 0, cond, uncond, guidance, rng, signal: o.signal });
}

function sizeOf(m: LdmModel, o: { width?: number; height?: number }): { h: number; w: number } {
  const f = m.downscale;
  const width = o.width ?? 256;
  const height = o.height ?? 256;
  const u = 2 ** (m.release.unet!.channelMult.length - 1);
  if (width % (f * u) !== 0 || height % (f * u) !== 0) {
    throw new LdmReleaseError(`${width}×${height} must be multiples of ${f * u} for ${m.name} (first stage f=${f}, UNet ${u})`);
  }
  return { h: height / f, w: width / f };
}

/** Unconditional, class-conditional or text-to-image sampling: the latents (× scale factor) before decoding. */
export async function sampleLdmLatents(m: LdmModel, o: LdmSampleOptions): Promise<TensorData<'float32'>> {
  requireTask(m, ['unconditional', 'class-conditional', 'text-to-image']);
  const { h, w } = sizeOf(m, o);
  m.setConcat(null);
  return sampleLatents(m, o, h, w);
}

/** Unconditional, class-conditional or text-to-image sampling: the picture [1, 3, H, W] in [−1, 1]. */
export async function sampleLdm(m: LdmModel, o: LdmSampleOptions): Promise<TensorData<'float32'>> {
  return m.decodeLatents(await sampleLdmLatents(m, o));
}

/** bsr_sr: a low-res picture [1, 3, h, w] in [−1, 1] → ×4 (the first stage's factor) picture. */
export async function upscaleLdm(m: LdmModel, lowRes: TensorData<'float32'>, o: LdmSampleOptions): Promise<TensorData<'float32'>> {
  requireTask(m, ['super-resolution']);
  const [, c, h, w] = lowRes.shape as [number, number, number, number];
  if (c !== m.release.concatChannels) throw new LdmReleaseError(`the low-res picture must have ${m.release.concatChannels} channels`);
  sizeOf(m, { width: w * m.downscale, height: h * m.downscale });
  m.setConcat(Float32Array.from(lowRes.data));
  try {
    return await m.decodeLatents(await sampleLatents(m, o, h, w));
  } finally {
    m.setConcat(null);
  }
}

/**
 * inpainting_big: picture [1, 3, H, W] in [−1, 1] and mask [H·W] (1 = repaint) → the picture with the
 * masked area redrawn (the rest pasted back); the UNet sees concat(latents, first-stage encoding of the
 * masked picture, mask at latent size, nearest).
 */
export async function inpaintLdm(m: LdmModel, image: TensorData<'float32'>, mask: Float32Array, o: LdmSampleOptions): Promise<TensorData<'float32'>> {
  requireTask(m, ['inpainting']);
  const [, , H, W] = image.shape as [number, number, number, number];
  const { h, w } = sizeOf(m, { width: W, height: H });
  if (mask.length !== H * W) throw new LdmReleaseError(`the mask must have ${H}×${W} values`);
  const masked = Float32Array.from(image.data);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) if (mask[i]! >= 0.5) masked[c * H * W + i] = 0;
  const encoded = await m.encodeImage(tensor('float32', image.shape, masked));
  const f = m.downscale;
  const small = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) small[y * w + x] = mask[y * f * W + x * f]! >= 0.5 ? 1 : 0; // nearest
  const concat = new Float32Array(m.release.concatChannels * h * w);
  concat.set(encoded.data.map((v) => v / m.scaleFactor), 0);
  concat.set(small, m.latentChannels * h * w);
  m.setConcat(concat);
  let decoded: TensorData<'float32'>;
  try {
    decoded = await m.decodeLatents(await sampleLatents(m, { ...o, width: W, height: H }, h, w));
  } finally {
    m.setConcat(null);
  }
  // as the paper's inpainting script: the known pixels pasted back, (1 − mask)·image + mask·sample
  const out = Float32Array.from(decoded.data);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) if (mask[i]! < 0.5) out[c * H * W + i] = image.data[c * H * W + i]!;
  return tensor('float32', decoded.shape, out);
}

/** Autoencoder job: picture → latents → picture (VQ: through the codebook). */
export async function roundTrip(m: LdmModel, image: TensorData<'float32'>): Promise<{ latents: TensorData<'float32'>; image: TensorData<'float32'> }> {
  const latents = await m.encodeImage(image);
  return { latents, image: await m.decodeLatents(latents) };
}
