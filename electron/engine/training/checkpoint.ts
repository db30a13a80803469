// Trainer checkpoints as one safetensors file, written atomically (temp file + rename), so a crash
// mid-write leaves the previous checkpoint intact. Params keep their own (LDM/SD) names, so a
// checkpoint is also a weights file; optimiser moments and EMA shadows sit under reserved prefixes;
// step, optimiser counters and the RNG state go in the metadata.
import { loadSafetensors, saveSafetensors } from '../io/safetensors.ts';
import type { RngState } from '../diffusion/rng.ts';
import type { TensorData } from '../tensor.ts';
import { TrainingError } from './errors.ts';

export const CHECKPOINT_FORMAT = 'ldm-studio-trainer/1';
const M = '@adam.m/';
const V = '@adam.v/';
const EMA = '@ema/';

export interface TrainerState {
  step: number;
  params: ReadonlyMap<string, Float32Array>;
  shapes: ReadonlyMap<string, readonly number[]>;
  adam: { t: number; m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> };
  ema?: { updates: number; shadow: ReadonlyMap<string, Float32Array> };
  rng: RngState;
  /** Caller's own string metadata (run config, data cursor...). */
  extra: Record<string, string>;
}

export async function saveCheckpoint(file: string, s: TrainerState): Promise<void> {
  const tensors = new Map<string, TensorData>();
  const put = (key: string, name: string, data: Float32Array) => {
    const shape = s.shapes.get(name);
    if (!shape) throw new TrainingError(`checkpoint: no shape known for '${name}'`);
    tensors.set(key, { dtype: 'float32', shape, data });
  };
  for (const [k, p] of s.params) {
    if (k.startsWith('@')) throw new TrainingError(`checkpoint: param name '${k}' starts with '@', which is reserved`);
    put(k, k, p);
  }
  for (const [k, m] of s.adam.m) put(M + k, k, m);
  for (const [k, v] of s.adam.v) put(V + k, k, v);
  if (s.ema) for (const [k, e] of s.ema.shadow) put(EMA + k, k, e);
  const meta: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    step: String(s.step),
    adam_t: String(s.adam.t),
    rng: JSON.stringify(s.rng),
    extra: JSON.stringify(s.extra),
  };
  if (s.ema) meta.ema_updates = String(s.ema.updates);
  await saveSafetensors(file, tensors, meta);
}

export interface LoadedCheckpoint {
  step: number;
  params: Map<string, Float32Array>;
  adam: { t: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  ema?: { updates: number; shadow: Map<string, Float32Array> };
  rng: RngState;
  extra: Record<string, string>;
}

function wholeNumber(meta: Record<string, string>, key: string, file: string): number {
  const v = Number(meta[key]);
  if (!Number.isSafeInteger(v) || v < 0) throw new TrainingError(`${file}: checkpoint metadata '${key}' is missing or not a whole number`);
  return v;
}

export async function loadCheckpoint(file: string): Promise<LoadedCheckpoint> {
  const { tensors, metadata } = await loadSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new TrainingError(`${file} is not a trainer checkpoint (format ${JSON.stringify(metadata.format)}, expected ${CHECKPOINT_FORMAT})`);
  }
  const params = new Map<string, Float32Array>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  const shadow = new Map<string, Float32Array>();
  for (const [k, t] of tensors) {
    if (t.dtype !== 'float32') throw new TrainingError(`${file}: tensor '${k}' is ${t.dtype}, expected float32`);
    const data = t.data as Float32Array;
    if (k.startsWith(M)) m.set(k.slice(M.length), data);
    else if (k.startsWith(V)) v.set(k.slice(V.length), data);
    else if (k.startsWith(EMA)) shadow.set(k.slice(EMA.length), data);
    else params.set(k, data);
  }
  let rng: RngState;
  let extra: Record<string, string>;
  try {
    rng = JSON.parse(metadata.rng ?? '') as RngState;
    extra = JSON.parse(metadata.extra ?? '{}') as Record<string, string>;
  } catch {
    throw new TrainingError(`${file}: checkpoint metadata 'rng' or 'extra' is not valid JSON`);
  }
  return {
    step: wholeNumber(metadata, 'step', file),
    params,
    adam: { t: wholeNumber(metadata, 'adam_t', file), m, v },
    ema: metadata.ema_updates !== undefined ? { updates: wholeNumber(metadata, 'ema_updates', file), shadow } : undefined,
    rng,
    extra,
  };
}
