// The options, progress events and result of a fine-tuning run (../finetune/train.ts), apart from the run
// so the modules it uses can name them without importing it.
import type { Prediction } from '../families/index.ts';
import type { BucketOptions } from '../io/buckets.ts';
import type { RejectedFile } from '../io/dataset.ts';
import type { ImageLimits } from '../io/image.ts';
import type { Provider } from '../onnx/runtime.ts';
import type { LoraTarget } from './lora.ts';
import type { FinetuneMethod } from './methods/catalog.ts';

export interface FinetuneOptions {
  /** Base model: a model package folder, an SD 1.x / 2.x .safetensors file or a diffusers folder (lora only for the last two). */
  readonly base: string;
  /** The user's prediction-type setting for the base (wins over what its file says): the training target. */
  readonly prediction?: Prediction;
  /** Folder of training pictures (PNG/JPEG/WebP) with optional .txt/.caption sidecars. */
  readonly data: string;
  /** Output: a .safetensors file (lora, ti) or a model package folder (full). */
  readonly out: string;
  readonly method: FinetuneMethod;
  /** Optimiser steps in all (a resumed run counts the steps already done). */
  readonly steps: number;
  /** Checkpoints, the latent cache and sample images (default `<out>.work`). */
  readonly workDir?: string;
  readonly recursive?: boolean;
  /** Prepended to every caption; for ti, the new word (required there). */
  readonly triggerWord?: string;
  /** Training size in pixels (default: the model's sampling size). */
  readonly resolution?: number;
  /**
   * Aspect-ratio buckets (kohya's): pictures keep their shape, each trained at its bucket around
   * resolution² (io/buckets.ts; default steps 64, never enlarged). Absent: every picture centre-cropped square.
   */
  readonly buckets?: Omit<BucketOptions, 'resolution'>;
  readonly batchSize?: number;
  /** Micro-batches of batchSize whose gradients add up before each optimiser step (default 1). */
  readonly accumulate?: number;
  readonly learningRate?: number;
  readonly rank?: number;
  readonly alpha?: number;
  readonly targets?: readonly LoraTarget[];
  /** Fraction of the steps spent warming the learning rate up (then cosine to 0). */
  readonly warmup?: number;
  readonly clipNorm?: number;
  /** EMA decay of the trained weights (off when absent). */
  readonly ema?: number;
  /** Per-channel offset added to the noise (brightness and colour range; Draw Things' 0.05). */
  readonly noiseOffset?: number;
  /** min-SNR-γ loss weighting (default 5, as kohya recommends; 0 = off). */
  readonly minSnrGamma?: number;
  /** Checkpoint every this many steps (default 50). */
  readonly saveEvery?: number;
  /** Sample images every this many steps (0 = never) and at the end, with the same seeds each time. */
  readonly sampleEvery?: number;
  readonly samplePrompts?: readonly string[];
  readonly sampleSeed?: number;
  readonly sampleSteps?: number;
  /** Pictures held out of training to measure the held-out loss before and after (default 0). */
  readonly holdOut?: number;
  readonly seed?: number;
  /** Name of the result (kohya ss_output_name / the package's name). */
  readonly name?: string;
  readonly minSide?: number;
  readonly limits?: ImageLimits;
  readonly threads?: number;
  readonly provider?: Provider | 'auto';
  /** The base's sha256 when known (the model registry's for a single file): saves hashing the file again. */
  readonly baseSha256?: string;
  /**
   * Activation recomputation (gradient checkpointing) per UNet block: less memory for about one more
   * forward pass per step. 'auto' (default): on when the step's estimate exceeds `memoryBudget`.
   */
  readonly recompute?: boolean | 'auto';
  /** Bytes a training step may plan for before recomputing (default half the machine's memory). */
  readonly memoryBudget?: number;
  readonly signal?: AbortSignal;
  /** Called at every step boundary; the run continues when it resolves (pause/resume). A pending pause checkpoints first. */
  readonly pause?: () => Promise<void>;
  readonly onProgress?: (e: FinetuneProgress) => void;
}

export interface FinetuneProgress {
  readonly phase: 'data' | 'train' | 'sample' | 'done';
  readonly step: number;
  readonly total: number;
  /** Training phase: this step's loss and learning rate. */
  readonly loss?: number;
  readonly lr?: number;
  readonly message?: string;
  /** Sample phase: the PNG files written. */
  readonly samples?: readonly string[];
}

export interface FinetuneResult {
  readonly out: string;
  readonly method: FinetuneMethod;
  readonly steps: number;
  /** The checkpoint step the run resumed from, or null for a fresh run. */
  readonly resumedFrom: number | null;
  readonly images: number;
  readonly rejected: readonly RejectedFile[];
  readonly losses: readonly { step: number; loss: number }[];
  /** With holdOut > 0: mean ε-MSE on the held-out pictures at fixed noise, before and after training. */
  readonly heldOutLoss: { before: number; after: number } | null;
  readonly samples: readonly string[];
  readonly seconds: number;
  /** Things the user should know (e.g. caption words the model's tokenizer does not know). */
  readonly warnings: readonly string[];
}
