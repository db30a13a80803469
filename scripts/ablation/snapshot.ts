// The ablation LDMs' EMA snapshots: written by the training stage when its CPU time passes each of
// SNAPSHOT_CPU_MINUTES, read by the evaluation with the inference graphs' parameter names. A snapshot
// holds only the UNet's and text encoder's EMA weights (the loss graph names them as the inference
// graphs do, like the embedded model's packaging takes them from ldm.ckpt); the decoder comes from the
// variant's autoencoder checkpoint and the scale factor from its latents.json.
import { readFileSync } from 'node:fs';
import type { TokenizerSpec } from '../../electron/engine/io/model-package.ts';
import { loadSafetensors, saveSafetensors } from '../../electron/engine/io/safetensors.ts';
import { WordTokenizer } from '../../electron/engine/io/tokenizer.ts';
import type { TextEncoderConfig } from '../../electron/engine/nn/config.ts';
import type { Param } from '../../electron/engine/onnx/graph.ts';
import { buildVaeDecoderGraph, textEncoderParams, unetParams } from '../../electron/engine/nn/models.ts';
import type { TensorData } from '../../electron/engine/tensor.ts';
import { loadCheckpoint } from '../../electron/engine/training/index.ts';
import { textEncoderConfig } from '../embedded/config.ts';
import { ABLATION_DIR, autoencoderCheckpoint, latentMetaFile, snapshotFile, type AblationVariant, type LatentMeta } from './variants.ts';

/** The shipped embedded model, whose tokenizer every variant uses. */
export const SHIPPED_MODEL_JSON = 'resources/models/emoji-ldm-32/model.json';

export interface AblationTokenizer {
  spec: TokenizerSpec;
  vocabSize: number;
  encode(text: string): BigInt64Array;
}

export function shippedTokenizer(): AblationTokenizer {
  const spec = (JSON.parse(readFileSync(SHIPPED_MODEL_JSON, 'utf8')) as { tokenizer: TokenizerSpec }).tokenizer;
  const tok = WordTokenizer.fromSpec(spec);
  return { spec, vocabSize: tok.vocabSize, encode: (text) => BigInt64Array.from(tok.encode(text), (v) => BigInt(v)) };
}

/** The text encoder of every variant: the embedded one over the shipped vocabulary. */
export function ablationTextEncoder(tok: AblationTokenizer = shippedTokenizer()): TextEncoderConfig {
  return textEncoderConfig(tok.vocabSize);
}

export interface SnapshotInfo {
  step: number;
  cpuSeconds: number;
}

/** Writes the EMA weights (loss-graph names) of the UNet and text encoder as snapshotFile(v, cpuMinutes). */
export async function saveSnapshot(v: AblationVariant, cpuMinutes: number, weights: ReadonlyMap<string, Float32Array>,
  info: SnapshotInfo, root = ABLATION_DIR): Promise<string> {
  const params = new Map<string, Param>([...unetParams(v.unet), ...textEncoderParams(ablationTextEncoder())]);
  const tensors = new Map<string, TensorData>();
  for (const [name, p] of params) {
    const w = weights.get(name);
    if (!w) throw new Error(`snapshot of ${v.name}: no weights for ${name}`);
    tensors.set(name, { dtype: 'float32', shape: p.shape, data: w });
  }
  const file = snapshotFile(v, cpuMinutes, root);
  await saveSafetensors(file, tensors, { variant: v.name, cpuMinutes: String(cpuMinutes), step: String(info.step), cpuSeconds: String(info.cpuSeconds) });
  return file;
}

export interface LoadedSnapshot {
  /** keyed as buildUNetGraph(v.unet, …) names its params */
  unet: Map<string, Float32Array>;
  /** keyed as buildTextEncoderGraph(ablationTextEncoder(), …) names its params */
  textEncoder: Map<string, Float32Array>;
  /** keyed as buildVaeDecoderGraph(v.autoencoder, …) names its params; null for f1 (pixel space) */
  decoder: Map<string, Float32Array> | null;
  scaleFactor: number;
  tokenizer: TokenizerSpec;
  textEncoderConfig: TextEncoderConfig;
  /** optimiser steps and training CPU seconds when the snapshot was taken */
  steps: number;
  cpuSeconds: number;
}

function pick(from: ReadonlyMap<string, Float32Array>, names: Iterable<string>, what: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const n of names) {
    const w = from.get(n);
    if (!w) throw new Error(`${what} has no weights for ${n}`);
    out.set(n, w);
  }
  return out;
}

export function readLatentMeta(v: AblationVariant, root = ABLATION_DIR): LatentMeta {
  return JSON.parse(readFileSync(latentMetaFile(v, root), 'utf8')) as LatentMeta;
}

export async function loadSnapshot(v: AblationVariant, cpuMinutes: number, root = ABLATION_DIR): Promise<LoadedSnapshot> {
  const file = snapshotFile(v, cpuMinutes, root);
  const { tensors, metadata } = await loadSafetensors(file);
  const weights = new Map([...tensors].map(([k, t]) => [k, t.data as Float32Array]));
  const tok = shippedTokenizer();
  const textCfg = ablationTextEncoder(tok);
  let decoder: Map<string, Float32Array> | null = null;
  if (v.autoencoder) {
    const ae = await loadCheckpoint(autoencoderCheckpoint(v, root));
    const g = buildVaeDecoderGraph(v.autoencoder, 1, v.latentSize, v.latentSize);
    decoder = pick(ae.params, g.params.keys(), autoencoderCheckpoint(v, root));
  }
  return {
    unet: pick(weights, unetParams(v.unet).keys(), file),
    textEncoder: pick(weights, textEncoderParams(textCfg).keys(), file),
    decoder,
    scaleFactor: v.autoencoder ? readLatentMeta(v, root).scaleFactor : 1,
    tokenizer: tok.spec,
    textEncoderConfig: textCfg,
    steps: Number(metadata.step),
    cpuSeconds: Number(metadata.cpuSeconds),
  };
}
