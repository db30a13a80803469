// What a fine-tuning run produces: the run's metadata for the result its method writes (kohya LoRA,
// embedding or model package), and sample images from the current weights merged the way generation
// merges them.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeBytesAtomic } from '../io/atomic.ts';
import type { RejectedFile } from '../io/dataset.ts';
import type { ModelManifest, TokenizerSpec } from '../io/model-package.ts';
import type { Provider } from '../onnx/runtime.ts';
import { LoadedModel, type ModelSpec } from '../pipelines/loaded-model.ts';
import { generatedPng } from '../pipelines/output.ts';
import { txt2img } from '../pipelines/txt2img.ts';
import type { Trainer } from '../training/index.ts';
import { adaptSpec, type LoadedAdapter } from './adapters.ts';
import { FINETUNE_DEFAULTS } from './defaults.ts';
import type { LoraModule } from './lora.ts';
import type { FinetuneMethodModule, MethodSetup } from './methods/method.ts';
import type { FinetuneOptions } from './options.ts';

/** The base weights with the trained params of the same name in place (full fine-tuning); copies, so callers may change them. */
export function withTrained(base: ReadonlyMap<string, Float32Array>, params: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  for (const [k, v] of base) w.set(k, params.get(k) ?? v.slice());
  return w;
}

export interface SampleOptions {
  seed: number; steps?: number; dir: string; step: number; signal?: AbortSignal; threads?: number; provider?: Provider | 'auto';
}

export async function sampleImages(
  spec: ModelSpec, base: ReadonlyMap<string, Float32Array>, params: ReadonlyMap<string, Float32Array>,
  adapters: readonly LoadedAdapter[], tokenizer: TokenizerSpec | undefined, prompts: readonly string[], s: SampleOptions,
): Promise<string[]> {
  const weights = withTrained(base, params);
  const model = new LoadedModel(adaptSpec(spec, weights, adapters.map((adapter) => ({ adapter, strength: 1 })), tokenizer), {
    threads: s.threads, provider: s.provider,
  });
  await fsp.mkdir(s.dir, { recursive: true });
  const files: string[] = [];
  try {
    for (const [i, prompt] of prompts.entries()) {
      const [img] = await txt2img(model, { prompt, seed: s.seed + i, steps: s.steps, signal: s.signal, previewEvery: 0 });
      const file = path.join(s.dir, `step-${String(s.step).padStart(6, '0')}-${i}.png`);
      await writeBytesAtomic(file, await generatedPng(img!));
      files.push(file);
    }
  } finally {
    await model.release();
  }
  return files;
}

/** What the run keeps of the data set once its latents are encoded. */
export interface DatasetSummary {
  dir: string; hash: string; rejected: readonly RejectedFile[]; captions: readonly string[];
}

export interface RunFacts {
  baseSha: string; ds: DatasetSummary; size: number; batch: number; accumulate: number; lr: number; warmup: number; trainImages: number;
  /** More `ss_*` keys (aspect-ratio buckets: ss_enable_bucket, ss_bucket_info, ss_bucket_no_upscale, …). */
  extraMetadata?: Record<string, string>;
}

/** Writes the run's result through its method, with the run's metadata in kohya's `ss_*` keys and our own. */
export async function writeResult(
  o: FinetuneOptions, method: FinetuneMethodModule, setup: MethodSetup, baseModel: { name: string; manifest: ModelManifest | null },
  base: ReadonlyMap<string, Float32Array>,
  trainer: Trainer, modules: readonly LoraModule[], f: RunFacts,
): Promise<void> {
  const name = o.name ?? path.basename(o.out).replace(/\.safetensors$/, '');
  const tagFrequency: Record<string, number> = {};
  for (const cap of f.ds.captions) for (const t of cap.split(',').map((s) => s.trim()).filter(Boolean)) tagFrequency[t] = (tagFrequency[t] ?? 0) + 1;
  const metadata: Record<string, string> = {
    ss_output_name: name,
    ss_sd_model_name: baseModel.name,
    ss_sd_model_hash: f.baseSha.slice(0, 10),
    ss_new_sd_model_hash: f.baseSha,
    ss_num_train_images: String(f.trainImages),
    ss_max_train_steps: String(o.steps),
    ss_steps: String(trainer.step),
    ss_learning_rate: String(f.lr),
    ss_lr_scheduler: 'cosine',
    ss_lr_warmup_steps: String(Math.floor(f.warmup * o.steps)),
    ss_batch_size_per_device: String(f.batch),
    ss_gradient_accumulation_steps: String(f.accumulate),
    ss_resolution: `(${f.size}, ${f.size})`,
    ss_seed: String(o.seed ?? FINETUNE_DEFAULTS.seed),
    ss_noise_offset: String(o.noiseOffset ?? FINETUNE_DEFAULTS.noiseOffset),
    ss_min_snr_gamma: String(o.minSnrGamma ?? FINETUNE_DEFAULTS.minSnrGamma),
    ss_tag_frequency: JSON.stringify({ [path.basename(f.ds.dir)]: tagFrequency }),
    ss_training_finished_at: String(Math.floor(Date.now() / 1000)),
    ...f.extraMetadata,
    'ldm_studio.method': method.name,
    'ldm_studio.base_model': baseModel.name,
    'ldm_studio.base_model_sha256': f.baseSha,
    'ldm_studio.dataset': JSON.stringify({ images: f.trainImages, rejected: f.ds.rejected.length, sha256: f.ds.hash, trigger: o.triggerWord ?? '' }),
    'ldm_studio.hyperparameters': JSON.stringify({ steps: o.steps, lr: f.lr, batch: f.batch, accumulate: f.accumulate, warmup: f.warmup, clipNorm: o.clipNorm ?? FINETUNE_DEFAULTS.clipNorm, ema: o.ema ?? null, ...setup.lora }),
  };
  await fsp.mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
  await method.write({ out: o.out, name, manifest: baseModel.manifest, base, params: trainer.exportParams(), modules, setup, metadata });
}
