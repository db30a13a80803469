// What a fine-tuning run's training step holds in memory, estimated from its forward graph before any
// session is built, and whether activation recomputation (gradient checkpointing) is needed to fit.
import os from 'node:os';
import { activationBytes } from '../autodiff/recompute.ts';
import type { Graph } from '../onnx/graph.ts';

export interface TrainingMemory {
  /** Frozen weights as onnxruntime holds them (float32). */
  readonly weights: number;
  /** Trained weights with their gradient, AdamW moments (and EMA shadow). */
  readonly trained: number;
  /** Forward values kept for the backward pass and the backward pass's own. */
  readonly activations: number;
  readonly total: number;
  readonly recompute: boolean;
}

/** The runtime, the process, latents and the worker's encoders (released before training, but RSS keeps some). */
const BASE_BYTES = 768 * 2 ** 20;
/**
 * Measured peak / estimated activations: the backward pass's gradients and scratch come on top of the kept
 * forward values (bench/training.bench.ts, bench/finetune.bench.ts --sd; see the README's Performance section).
 */
const ACTIVATION_FACTOR = 1.5;

export function estimateTrainingMemory(forward: Graph, loss: string, trained: ReadonlySet<string>, recompute: boolean, ema = false): TrainingMemory {
  let weights = 0;
  let mine = 0;
  for (const p of forward.params.values()) {
    const bytes = 4 * p.shape.reduce((a, b) => a * b, 1);
    if (trained.has(p.name)) mine += bytes * (ema ? 5 : 4);
    else weights += bytes;
  }
  for (const t of forward.constants.values()) weights += t.data.byteLength;
  const activations = ACTIVATION_FACTOR * activationBytes(forward, loss, recompute);
  return { weights, trained: mine, activations, total: weights + mine + activations + BASE_BYTES, recompute };
}

/** The share of the machine's memory a training run may plan for before it recomputes activations. */
export const TRAINING_BUDGET_SHARE = 0.5;

export function trainingBudget(total = os.totalmem()): number {
  return TRAINING_BUDGET_SHARE * total;
}

/**
 * Recomputation when asked for (true/false), or when the run would not fit `budget` without it ('auto').
 * Returns the estimate of the choice made.
 */
export function chooseRecompute(forward: Graph, loss: string, trained: ReadonlySet<string>, mode: boolean | 'auto', budget = trainingBudget(), ema = false): TrainingMemory {
  if (mode !== 'auto') return estimateTrainingMemory(forward, loss, trained, mode, ema);
  const plain = estimateTrainingMemory(forward, loss, trained, false, ema);
  return plain.total <= budget ? plain : estimateTrainingMemory(forward, loss, trained, true, ema);
}
