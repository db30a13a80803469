// Generation jobs inside a worker: txt2img, img2img and inpaint through the engine pipelines, with the
// loaded model kept warm for the next job.
import sharp from 'sharp';
import type { GenerateSpec } from '../api/jobs.ts';
import { imageSeeds } from '../engine/diffusion/noise.ts';
import type { RgbImage } from '../engine/pipelines/image.ts';
import { img2img } from '../engine/pipelines/img2img.ts';
import { inpaint } from '../engine/pipelines/inpaint.ts';
import type { DiffusionModel } from '../engine/pipelines/model.ts';
import { txt2img } from '../engine/pipelines/txt2img.ts';
import type { GeneratedImage, GenerateOptions, ProgressEvent } from '../engine/pipelines/types.ts';
import type { JobContext, JobHandler, JobHandlers } from './host.ts';
import type { RunJob, WorkerModel } from './protocol.ts';

/** How a worker gets its models: the base model, and the base with LoRAs/embeddings merged in. */
export interface ModelLoaders<M extends DiffusionModel> {
  /** cacheDir: where fp16/bf16 weights are kept widened to float32 (the studio's data folder), when the job says. */
  base(model: WorkerModel, cacheDir?: string): Promise<M>;
  adapt(base: M, loras: RunJob['loras']): Promise<M>;
  /** The execution provider the model runs on, when the loader can tell. */
  provider?(model: M): Promise<string>;
  /** Prepares a freshly loaded model's sessions for this size, reporting each network (big models load slowly). */
  warmUp?(model: M, size: { width: number; height: number; guided: boolean }, report: (message: string) => void): Promise<void>;
}

export async function encodePng(img: RgbImage): Promise<Uint8Array> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

export async function decodeRgb(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

export function generateHandlers<M extends DiffusionModel>(loaders: ModelLoaders<M>): JobHandlers {
  const run: JobHandler = async (job, ctx) => {
    // The base stays cached beside the adapted model, so switching LoRAs does not reload the base.
    const baseKey = `base|${job.model.hash}|${job.model.prediction ?? ''}|${job.model.vaePath ?? ''}|${job.model.weights ?? 'fp32'}`;
    const key = job.loras.length ? `${baseKey}|${job.loras.map((l) => `${l.hash}@${l.strength}`).join(',')}` : baseKey;
    const t0 = performance.now();
    const loadsBefore = ctx.models.loads;
    const base = () => ctx.models.get(baseKey, () => loaders.base(job.model, job.cacheDir));
    const model = await (job.loras.length ? ctx.models.get(key, async () => loaders.adapt(await base(), job.loras)) : base());
    const spec = job.spec as GenerateSpec;
    if (ctx.models.loads > loadsBefore && loaders.warmUp && spec.kind === 'txt2img') {
      const total = spec.batchCount * spec.steps;
      await loaders.warmUp(model, { width: spec.width, height: spec.height, guided: spec.guidance !== 1 }, (message) => ctx.progress({ step: 0, total, message }));
    }
    const loadMs = ctx.models.loads > loadsBefore ? Math.round(performance.now() - t0) : 0;
    const provider = loaders.provider ? await loaders.provider(model) : null;
    // Only the current model stays resident: a worker holding every model ever used would run out of memory.
    ctx.models.retain((k) => k === key || k === baseKey);
    // Image by image (seed + i, or A1111's variation rule: imageSeeds), so each finished image reaches the history at once and a cancelled
    // batch keeps what it finished.
    for (let i = job.skipImages; i < spec.batchCount; i++) {
      const start = performance.now();
      const progress = progressReporter(ctx, spec.batchCount, i);
      const { seed, variationSeed } = imageSeeds(job.seed, i, spec);
      const o = { ...pipelineOptions(job, ctx), seed, variationSeed: variationSeed ?? spec.variationSeed, onProgress: progress.report };
      const [img] = await runPipeline(model, spec, o, job);
      const png = await encodePng(img!.image);
      await progress.flushed();
      ctx.image(i, png, img!.record.seed, { loadMs: i === 0 ? loadMs : 0, sampleMs: Math.round(performance.now() - start) }, provider);
    }
    return { output: null };
  };
  return { txt2img: run, img2img: run, inpaint: run };
}

/** Progress over the whole batch; previews are PNG-encoded off the step loop but sent in step order. */
export function progressReporter(ctx: JobContext, batchCount: number, index: number) {
  let queue: Promise<void> = Promise.resolve();
  return {
    report(e: ProgressEvent): void {
      const step = index * e.steps + e.step;
      const total = batchCount * e.steps;
      const preview = e.preview;
      queue = queue.then(async () => ctx.progress({ step, total, image: index, preview: preview ? await encodePng(preview) : null }));
    },
    flushed: () => queue,
  };
}

function pipelineOptions(job: RunJob, ctx: JobContext): GenerateOptions {
  const s = job.spec as GenerateSpec;
  return {
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    sampler: s.sampler,
    scheduleType: s.scheduleType,
    steps: s.steps,
    guidance: s.guidance,
    seed: job.seed,
    width: s.width,
    height: s.height,
    batchCount: 1,
    eta: s.eta,
    clipSkip: s.clipSkip,
    rngSource: s.rngSource,
    variationSeed: s.variationSeed,
    variationStrength: s.variationStrength,
    resizeSeedFrom: s.resizeSeedFrom,
    ensd: s.ensd,
    signal: ctx.signal,
  };
}

async function runPipeline(model: DiffusionModel, spec: GenerateSpec, o: GenerateOptions, job: RunJob): Promise<GeneratedImage[]> {
  if (spec.kind === 'txt2img') return txt2img(model, o);
  if (!job.init) throw new Error(`${spec.kind} needs an init image`);
  const image = await decodeRgb(job.init);
  if (spec.kind === 'img2img') return img2img(model, { ...o, image, strength: spec.strength });
  if (!job.mask) throw new Error('inpaint needs a mask');
  const mask = await decodeRgb(job.mask);
  return inpaint(model, { ...o, image, mask, strength: spec.strength, feather: spec.feather });
}
