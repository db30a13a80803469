// What a fine-tuning run produces: the result file (kohya LoRA, embedding or model package) with its
// metadata, and sample images from the current weights merged the way generation merges them.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeBytesAtomic } from '../io/atomic.ts';
import type { RejectedFile } from '../io/dataset.ts';
import { saveModelPackage, type ModelManifest } from '../io/model-package.ts';
import { saveSafetensors } from '../io/safetensors.ts';
import type { Provider } from '../onnx/runtime.ts';
import { LoadedModel, type ModelSpec } from '../pipelines/loaded-model.ts';
import { generatedPng } from '../pipelines/output.ts';
import { txt2img } from '../pipelines/txt2img.ts';
import { tensor, type TensorData } from '../tensor.ts';
import type { Trainer } from '../training/index.ts';
import { adaptSpec, type LoadedAdapter } from './adapters.ts';
import type { FinetuneMethod } from './graph.ts';
import { loraTensors, type LoraConfig, type LoraModule } from './lora.ts';
import { EMBEDDING_PARAM, TOKEN_METADATA } from './ti.ts';
import { FINETUNE_DEFAULTS } from './defaults.ts';
import type { FinetuneOptions } from './train.ts';

/** The trained result as adapters (LoRA tensors or the embedding), for samples and for the output file. */
export function resultAdapters(
  method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>, modules: readonly LoraModule[], lora: LoraConfig | undefined, word: string | null,
): LoadedAdapter[] {
  if (method === 'lora') return [{ kind: 'lora', file: 'training.safetensors', tensors: loraTensors(modules, params, lora!), metadata: {}, token: null }];
  if (method === 'ti') {
    const e = params.get(EMBEDDING_PARAM)!;
    return [{ kind: 'embedding', file: 'training.safetensors', tensors: new Map([[EMBEDDING_PARAM, tensor('float32', [1, e.length], e)]]), metadata: {}, token: word }];
  }
  return [];
}

export function trainedWeights(base: ReadonlyMap<string, Float32Array>, method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  for (const [k, v] of base) w.set(k, method === 'full' && params.has(k) ? params.get(k)! : v.slice());
  return w;
}

export interface SampleOptions {
  seed: number; steps?: number; dir: string; step: number; signal?: AbortSignal; threads?: number; provider?: Provider | 'auto';
}

export async function sampleImages(
  spec: ModelSpec, base: ReadonlyMap<string, Float32Array>, method: FinetuneMethod, params: ReadonlyMap<string, Float32Array>,
  adapters: readonly LoadedAdapter[], manifest: ModelManifest, prompts: readonly string[], s: SampleOptions,
): Promise<string[]> {
  const weights = trainedWeights(base, method, params);
  const model = new LoadedModel(adaptSpec(spec, weights, adapters.map((adapter) => ({ adapter, strength: 1 })), manifest.tokenizer), {
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
}

export async function writeResult(
  o: FinetuneOptions, manifest: ModelManifest, base: ReadonlyMap<string, Float32Array>, trainer: Trainer,
  modules: readonly LoraModule[], lora: LoraConfig | undefined, word: string | null, f: RunFacts,
): Promise<void> {
  const params = trainer.exportParams();
  const name = o.name ?? path.basename(o.out).replace(/\.safetensors$/, '');
  const tagFrequency: Record<string, number> = {};
  for (const cap of f.ds.captions) for (const t of cap.split(',').map((s) => s.trim()).filter(Boolean)) tagFrequency[t] = (tagFrequency[t] ?? 0) + 1;
  const meta: Record<string, string> = {
    ss_output_name: name,
    ss_sd_model_name: manifest.name,
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
    'ldm_studio.method': o.method,
    'ldm_studio.base_model': manifest.name,
    'ldm_studio.base_model_sha256': f.baseSha,
    'ldm_studio.dataset': JSON.stringify({ images: f.trainImages, rejected: f.ds.rejected.length, sha256: f.ds.hash, trigger: o.triggerWord ?? '' }),
    'ldm_studio.hyperparameters': JSON.stringify({ steps: o.steps, lr: f.lr, batch: f.batch, accumulate: f.accumulate, warmup: f.warmup, clipNorm: o.clipNorm ?? FINETUNE_DEFAULTS.clipNorm, ema: o.ema ?? null, ...lora }),
  };
  await fsp.mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
  if (o.method === 'lora') {
    const t = resultAdapters('lora', params, modules, lora, null)[0]!.tensors;
    await saveSafetensors(o.out, t, {
      ...meta,
      ss_network_module: 'networks.lora',
      ss_network_dim: String(lora!.rank),
      ss_network_alpha: String(lora!.alpha),
      ss_network_args: JSON.stringify({ targets: lora!.targets.join(',') }),
    });
  } else if (o.method === 'ti') {
    const e = params.get(EMBEDDING_PARAM)!;
    await saveSafetensors(o.out, { [EMBEDDING_PARAM]: tensor('float32', [1, e.length], e) }, { ...meta, [TOKEN_METADATA]: word! });
  } else {
    const { files: _files, format: _format, version: _version, ...desc } = manifest;
    await saveModelPackage(o.out, {
      ...desc,
      name,
      provenance: { ...manifest.provenance, finetunedFrom: { name: manifest.name, sha256: f.baseSha }, finetune: meta },
    }, trainedWeights(base, 'full', params) as ReadonlyMap<string, TensorData | Float32Array>);
  }
}
