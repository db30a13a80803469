// Jobs on the paper's released LDMs inside a worker. txt2img, img2img and inpaint go through the ordinary
// generation handler with the release opened as a ReleaseModel (engine/pipelines/release.ts); `upscale`
// runs a super-resolution release on a picture. Which models are releases is read from the file's header.
import sharp from 'sharp';
import type { UpscaleSpec } from '../api/jobs.ts';
import { isReleaseFile, openRelease, releaseSizeMultiple, upscale, type ReleaseModel } from '../engine/pipelines/release.ts';
import { decodeRgb, encodePng, generateHandlers, progressReporter, type ModelLoaders } from './generate.ts';
import type { JobContext, JobHandler, JobHandlers } from './host.ts';
import type { RunJob, WorkerModel } from './protocol.ts';

const releaseLoaders: ModelLoaders<ReleaseModel> = {
  base: (m) => openRelease(m.path, m.name, m.hash.slice(0, 10)),
  async adapt(base, loras) {
    if (loras.length) throw new Error(`${base.name} is one of the latent diffusion paper's models; LoRAs and embeddings (${loras.map((l) => l.name).join(', ')}) apply to Stable Diffusion models only`);
    return base;
  },
};

const known = new Map<string, Promise<boolean>>();

/** Whether the job's model is one of the paper's releases (decided once per file). */
function isRelease(m: WorkerModel): Promise<boolean> {
  if (m.format !== 'safetensors') return Promise.resolve(false);
  let r = known.get(m.path);
  if (!r) known.set(m.path, (r = isReleaseFile(m.path)));
  return r;
}

const modelKey = (m: WorkerModel): string => `release|${m.hash}`;

const upscaleJob: JobHandler = async (job, ctx) => {
  const spec = job.spec as UpscaleSpec;
  if (!(await isRelease(job.model))) {
    throw new Error(`"${job.model.name}" is not a super-resolution model; Upscale ×4 needs one such as the paper's bsr_sr`);
  }
  if (!job.init) throw new Error('upscale needs the picture to upscale');
  const t0 = performance.now();
  const loadsBefore = ctx.models.loads;
  const key = modelKey(job.model);
  const model = await ctx.models.get(key, () => releaseLoaders.base(job.model));
  const loadMs = ctx.models.loads > loadsBefore ? Math.round(performance.now() - t0) : 0;
  ctx.models.retain((k) => k === key);
  const image = await decodeRgb(job.init);
  for (let i = job.skipImages; i < spec.batchCount; i++) {
    const start = performance.now();
    const progress = progressReporter(ctx, spec.batchCount, i);
    const seed = job.seed + i;
    const [img] = await upscale(model, { image, seed, steps: spec.steps, sampler: spec.sampler, eta: spec.eta, strength: spec.strength, backProjection: spec.backProjection, signal: ctx.signal, onProgress: progress.report });
    const png = await encodePng(img!.image);
    await progress.flushed();
    ctx.image(i, png, seed, { loadMs: i === job.skipImages ? loadMs : 0, sampleMs: Math.round(performance.now() - start) }, null);
  }
  return { output: null };
};

/**
 * img2img and inpaint on a release: a picture whose sides are not multiples of what the UNet takes
 * (inpainting_big: 32) is padded right and bottom (edges repeated; the mask with "keep"), and each result
 * is cropped back to the picture's size before it reaches the studio.
 */
function padPictures(handler: JobHandler): JobHandler {
  return async (job, ctx) => {
    if (!job.init) return handler(job, ctx);
    const m = await releaseSizeMultiple(job.model.path);
    const { width = 0, height = 0 } = await sharp(job.init).metadata();
    const right = (m - (width % m)) % m;
    const bottom = (m - (height % m)) % m;
    if (right === 0 && bottom === 0) return handler(job, ctx);
    const extend = (bytes: Uint8Array, copy: boolean) =>
      sharp(bytes).removeAlpha().extend(copy ? { right, bottom, extendWith: 'copy' } : { right, bottom, background: { r: 0, g: 0, b: 0 } }).png().toBuffer();
    const padded: RunJob = { ...job, init: await extend(job.init, true), mask: job.mask ? await extend(job.mask, false) : null };
    let sent = Promise.resolve();
    const cropped: JobContext = {
      signal: ctx.signal,
      models: ctx.models,
      progress: (p) => ctx.progress(p),
      waitIfPaused: () => ctx.waitIfPaused(),
      image: (index, png, seed, timings, provider) => {
        sent = sent.then(async () => ctx.image(index, await sharp(png).extract({ left: 0, top: 0, width, height }).png().toBuffer(), seed, timings, provider));
      },
    };
    const result = await handler(padded, cropped);
    await sent;
    return result;
  };
}

/** The worker's handlers with jobs on the paper's releases routed to them, and the `upscale` job. */
export function withReleases(handlers: JobHandlers): JobHandlers {
  const generate = generateHandlers(releaseLoaders);
  const releases: JobHandlers = { txt2img: generate.txt2img, img2img: padPictures(generate.img2img!), inpaint: padPictures(generate.inpaint!) };
  const route = (kind: 'txt2img' | 'img2img' | 'inpaint'): JobHandler => async (job, ctx) => {
    const h = (await isRelease(job.model)) ? releases[kind] : handlers[kind];
    if (!h) throw new Error(`this worker does not run ${kind} jobs`);
    return h(job, ctx);
  };
  return { ...handlers, txt2img: route('txt2img'), img2img: route('img2img'), inpaint: route('inpaint'), upscale: upscaleJob };
}
