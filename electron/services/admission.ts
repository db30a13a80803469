// Before a generation job reaches a worker: its input pictures pass the one decode path (io/image.ts:
// header limits, EXIF rotation, alpha on white), and its memory is estimated and compared with the
// machine's, so that a job that cannot fit is refused with the figure instead of ending in the OOM killer.
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { StudioError } from '../api/contract.ts';
import { ImageError, MAX_JOB_SIDE, normalizeImage } from '../engine/io/image.ts';
import { readSafetensorsHeader } from '../engine/io/safetensors.ts';
import { modelParams } from '../engine/nn/models.ts';
import type { ModelConfigs } from '../engine/pipelines/loaded-model.ts';
import { kernelOomVerdict, type ExitEvidence } from '../workers/adapter.ts';
import type { WorkerModel } from '../workers/protocol.ts';
import { releaseModelShape } from './model-traits.ts';

const JOB_IMAGE_LIMITS = { maxDimension: MAX_JOB_SIDE, maxPixels: MAX_JOB_SIDE * MAX_JOB_SIDE };

/** An input picture (init image or mask) as the worker gets it: checked, upright, flattened, PNG. */
export async function jobPicture(bytes: Uint8Array, what: string): Promise<{ png: Buffer; width: number; height: number }> {
  try {
    // img2img and inpaint run at the picture's own size: the same cap as a job's width and height,
    // checked from the header before anything is decoded.
    return await normalizeImage(bytes, JOB_IMAGE_LIMITS, what);
  } catch (err) {
    if (err instanceof ImageError) throw new StudioError(`${err.message}. Scale it down to at most ${MAX_JOB_SIDE} pixels a side.`, 'bad_image');
    throw err;
  }
}

/** What the estimate needs to know of a model's architecture (defaults: Stable Diffusion 1.x). */
export interface ModelShape {
  /** Pixels per latent pixel along a side (8 for SD: 2^(levels of the autoencoder − 1)). */
  factor: number;
  /** The UNet's downsampling rates that have attention (SD: 1, 2, 4). */
  attentionRates: number[];
  /** Attention heads at the finest attention level. */
  heads: number;
}

const SD_SHAPE: ModelShape = { factor: 8, attentionRates: [1, 2, 4], heads: 8 };

/** Reads the shape from a model package's model.json; other formats are taken as SD-like (the larger case). */
export async function modelShape(model: Pick<WorkerModel, 'path' | 'format'>): Promise<ModelShape> {
  if (model.format !== 'package') return (await releaseModelShape(model.path)) ?? SD_SHAPE;
  try {
    const m = JSON.parse(await readFile(join(model.path, 'model.json'), 'utf8')) as {
      architecture?: { autoencoder?: { chMult?: number[] }; unet?: { attentionResolutions?: number[]; numHeads?: number; numHeadChannels?: number; modelChannels?: number; channelMult?: number[] } };
    };
    const a = m.architecture ?? {};
    const levels = a.autoencoder?.chMult?.length;
    const rates = a.unet?.attentionResolutions ?? SD_SHAPE.attentionRates;
    const finest = Math.min(...rates);
    const level = Math.round(Math.log2(finest));
    const channels = (a.unet?.modelChannels ?? 320) * (a.unet?.channelMult?.[level] ?? 1);
    const heads = a.unet?.numHeads ?? (a.unet?.numHeadChannels ? Math.max(1, Math.round(channels / a.unet.numHeadChannels)) : SD_SHAPE.heads);
    return { factor: levels ? 2 ** (levels - 1) : SD_SHAPE.factor, attentionRates: rates, heads };
  } catch {
    return SD_SHAPE;
  }
}

/**
 * Bytes a model's weights take once loaded as float32 (onnxruntime's copy): a safetensors file counts
 * 4 bytes per float value whatever its stored dtype (fp16 files are widened), other files their size;
 * folders (packages, diffusers) are summed two levels deep.
 */
export async function weightBytes(path: string, depth = 2): Promise<number> {
  const st = await stat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) {
    if (!/\.safetensors$/i.test(path)) return st.size;
    const header = await readSafetensorsHeader(path).catch(() => null);
    if (!header) return st.size;
    return header.entries.reduce((sum, e) => sum + (FLOAT_BYTES[e.dtype] ? (4 * e.length) / FLOAT_BYTES[e.dtype]! : e.length), 0);
  }
  if (depth === 0) return 0;
  let total = 0;
  for (const name of await readdir(path)) total += await weightBytes(join(path, name), depth - 1);
  return total;
}

const FLOAT_BYTES: Partial<Record<string, number>> = { F32: 4, F16: 2, BF16: 2 };

export interface MemoryEstimate {
  total: number;
  weights: number;
  attention: number;
  decode: number;
}

/** The runtime, the worker process and the text encoder's small activations. */
const BASE_BYTES = 512 * 2 ** 20;
/** onnxruntime's own per-session overhead on top of the float32 weights (pre-packed kernels, arenas). */
const WEIGHT_OVERHEAD = 1.1;

/**
 * A generation's peak memory, in bytes, calibrated against measured peaks (bench/sd.bench.ts: SD 1.x at
 * 512² with CFG from an fp16 file, 5.4 GiB; this gives 5.3 GiB):
 *   weights   the float32 weights (weightBytes) × 1.1
 *   attention with fused attention (onnxruntime's MultiHeadAttention, the CPU default): q, k, v and the
 *             output at the finest attention level, tokens × 2 (CFG) × 4 tensors × 640 channels × 4 bytes;
 *             with plain MatMul+Softmax: tokens² × 4 bytes × heads × 2 (scores, softmax) × 2 (CFG)
 *   decode    width × height × 128 channels × 4 bytes × 3 live buffers (the autoencoder's last level)
 *   + 512 MiB for the runtime and the process.
 * At 4096² the decode term alone is 24 GiB (and plain attention 8 TiB): refused on most machines.
 */
export function estimateMemory(o: { weightBytes: number; width: number; height: number; shape: ModelShape; fusedAttention?: boolean }): MemoryEstimate {
  const rate = Math.min(...o.shape.attentionRates);
  const tokens = o.shape.attentionRates.length === 0 ? 0 : (o.width / o.shape.factor / rate) * (o.height / o.shape.factor / rate);
  const weights = WEIGHT_OVERHEAD * o.weightBytes;
  const attention = o.fusedAttention === false ? tokens * tokens * 4 * o.shape.heads * 2 * 2 : tokens * 2 * 4 * 640 * 4;
  const decode = o.width * o.height * 128 * 4 * 3;
  return { total: weights + attention + decode + BASE_BYTES, weights, attention, decode };
}

/** The estimate for a model already opened (the CLI): its weights counted from its configs. */
export function estimateForModel(spec: ModelConfigs, width: number, height: number): MemoryEstimate {
  let values = 0;
  for (const p of modelParams({ unet: spec.unet, autoencoder: spec.autoencoder, textEncoder: spec.textEncoder }).values()) values += p.shape.reduce((a, b) => a * b, 1);
  const u = spec.unet;
  const rates = u.attentionResolutions;
  const channels = u.modelChannels * (u.channelMult[Math.round(Math.log2(rates.length ? Math.min(...rates) : 1))] ?? 1);
  const heads = u.numHeads ?? (u.numHeadChannels ? Math.max(1, Math.round(channels / u.numHeadChannels)) : SD_SHAPE.heads);
  return estimateMemory({ weightBytes: 4 * values, width, height, shape: { factor: 2 ** (spec.autoencoder.chMult.length - 1), attentionRates: rates, heads } });
}

/** The memory this computer has and what is free now (a warm worker's weights count as free). */
export function availableMemory(e: Pick<MemoryEstimate, 'weights'>, o: { warm: boolean; total?: number; free?: number } = { warm: false }): { total: number; free: number } {
  const total = o.total ?? os.totalmem();
  return { total, free: Math.min(total, (o.free ?? os.freemem()) + (o.warm ? e.weights : 0)) };
}

/** "needs about 5.3 GiB of memory (19.2 GiB free of 23.4 GiB)": the line the CLI and the status bar show before a job. */
export function describeEstimate(e: MemoryEstimate, available: { total: number; free: number }): string {
  return `needs about ${gib(e.total)} of memory (${gib(available.free)} free of ${gib(available.total)})`;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

/**
 * Refuses a job whose estimate does not fit: more than 90% of the machine's memory, or more than is free
 * now (a warm worker already holds the weights, so they count as free when `warm`).
 */
export function checkMemory(e: MemoryEstimate, what: string, o: { warm: boolean; total?: number; free?: number } = { warm: false }): void {
  const { total, free } = availableMemory(e, o);
  if (e.total > 0.9 * total) {
    throw new StudioError(
      `${what} would need about ${gib(e.total)} of memory (weights ${gib(e.weights)}, attention ${gib(e.attention)}, decoding ${gib(e.decode)}); ` +
        `this computer has ${gib(total)}, of which a job may use ${gib(0.9 * total)}. Use a smaller size.`,
      'out_of_memory',
    );
  }
  if (e.total > free) {
    throw new StudioError(`${what} would need about ${gib(e.total)} of memory; only ${gib(free)} is free now. Close other programs or use a smaller size.`, 'out_of_memory');
  }
}

/**
 * Admits a generation job before it runs: its pictures normalised (jobPicture) and its memory checked
 * (at the init picture's size for img2img and inpaint, which run at their input's size).
 */
export async function admitGeneration(
  spec: { kind: string; width: number; height: number },
  model: WorkerModel,
  loras: readonly WorkerModel[],
  init: Uint8Array | null,
  mask: Uint8Array | null,
  warm: boolean,
): Promise<{ init: Buffer | null; mask: Buffer | null; estimate: MemoryEstimate; line: string }> {
  const pic = init ? await jobPicture(init, 'the init image') : null;
  const m = mask ? await jobPicture(mask, 'the mask') : null;
  const shape = await modelShape(model);
  // an upscale makes a picture the first stage's factor larger than its input
  const scale = spec.kind === 'upscale' ? shape.factor : 1;
  const width = (pic?.width ?? spec.width) * scale;
  const height = (pic?.height ?? spec.height) * scale;
  let weights = await weightBytes(model.path);
  for (const l of loras) weights += await weightBytes(l.path);
  const estimate = estimateMemory({ weightBytes: weights, width, height, shape });
  const what = `A ${width}x${height} ${spec.kind} job`;
  checkMemory(estimate, what, { warm });
  return { init: pic?.png ?? null, mask: m?.png ?? null, estimate, line: `${what} ${describeEstimate(estimate, availableMemory(estimate, { warm }))}` };
}

/** What is known when a job's worker was killed: its estimate, the machine's memory, the kernel log. */
export function exitEvidence(estimateBytes: number | undefined, pid: number | undefined): ExitEvidence {
  return { estimateBytes, totalBytes: os.totalmem(), kernel: kernelOomVerdict(pid) };
}
