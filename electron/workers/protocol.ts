// Messages between the studio's job queue and a worker process (structured clone: Uint8Array travels as is).
import type { JobSpec, LossPoint } from '../api/jobs.ts';

/** A registry model as the worker needs it: where it lies and what it is. */
export interface WorkerModel {
  id: string;
  name: string;
  path: string;
  hash: string;
  kind: string;
  format: string;
  /** The user's prediction-type setting (null: the file's or its family's). */
  prediction?: string | null;
  /** A VAE .safetensors used instead of the model's own autoencoder (the model's registry setting). */
  vaePath?: string | null;
  /** Linear weights for sampling: fp32, or int8/int4 quantised at load (the model's registry setting). */
  weights?: 'fp32' | 'int8' | 'int4';
}

export interface RunJob {
  type: 'run';
  jobId: string;
  spec: JobSpec;
  /** The model to sample with, or the base model of a training job. */
  model: WorkerModel;
  /** LoRAs and embeddings to apply: the job's list, then those its prompt names (<lora:…> tags, embedding words). */
  loras: (WorkerModel & { strength: number; textStrength?: number })[];
  /** Decoded by the studio: init image and mask bytes (PNG/JPEG/WebP) for img2img and inpaint. */
  init: Uint8Array | null;
  mask: Uint8Array | null;
  /** The seed of the first image (the studio picks one when the spec says null). */
  seed: number;
  /** Images of the batch already in the history (a job run again after a restart): start after them. */
  skipImages: number;
  /** A folder for this job's checkpoints and outputs (training). */
  workDir: string;
  /** The weights cache folder (fp16/bf16 checkpoints widened to float32 once; engine/pipelines/weight-cache.ts); default: the OS temp folder. */
  cacheDir?: string;
}

export type ToWorker =
  | RunJob
  | { type: 'cancel'; jobId: string }
  | { type: 'pause'; jobId: string }
  | { type: 'resume'; jobId: string };

export interface ProgressMessage {
  type: 'progress';
  jobId: string;
  step: number;
  total: number;
  /** Index of the image within a batch. */
  image: number;
  /** PNG bytes of a cheap preview. */
  preview: Uint8Array | null;
  loss: LossPoint[];
  message: string | null;
}

export interface ImageMessage {
  type: 'image';
  jobId: string;
  index: number;
  png: Uint8Array;
  seed: number;
  timings: Record<string, number>;
  /** The onnxruntime execution provider that ran the model (provenance: a seed reproduces per provider). */
  provider: string | null;
}

export type FromWorker =
  | { type: 'ready'; pid: number }
  | ProgressMessage
  | ImageMessage
  | { type: 'paused'; jobId: string }
  | { type: 'resumed'; jobId: string }
  /** modelLoads: how many times this worker has loaded a model since it started (the warm-session rule). */
  | { type: 'done'; jobId: string; modelLoads: number; output: { modelPath: string; name: string } | null }
  | { type: 'failed'; jobId: string; error: string; cancelled: boolean; modelLoads: number };

/** The worker's end of its channel to the studio (workers/channel.ts makes one from the process). */
export interface WorkerPort {
  send(msg: FromWorker): void;
  onMessage(listener: (msg: ToWorker) => void): void;
}
