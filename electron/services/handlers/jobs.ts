// jobs.* requests (a submitted spec completed from the model's defaults and checked), and the queue's
// hooks: what a job runs with, where its images and trained models are recorded.
import { join } from 'node:path';
import { StudioError } from '../../api/contract.ts';
import type { GenerateSpec, Job, JobSpec, SubmittedSpec, UpscaleSpec } from '../../api/jobs.ts';
import type { ModelInfo } from '../../api/models.ts';
import { imageSeeds, seedRecord } from '../../engine/diffusion/noise.ts';
import { recogniseModel } from '../../engine/families/index.ts';
import { dataWeightCacheDir } from '../../engine/pipelines/weight-cache.ts';
import type { ImageMessage, RunJob } from '../../workers/protocol.ts';
import { admitGeneration, exitEvidence } from '../admission.ts';
import type { JobQueue, QueueHooks } from '../jobs.ts';
import { inpaintingModel } from '../inpaint-model.ts';
import { checkModelSize, modelTraits, withSamplingDefaults } from '../model-traits.ts';
import type { ModelRegistry } from '../models.ts';
import { promptNetworks, type PromptNetwork } from '../prompt-networks.ts';
import { storeGeneration } from '../record.ts';
import { completeUpscale, upscaleRecord } from '../upscale-job.ts';
import { imageBytes, type DomainHandlers, type StudioContext, type StudioServices } from './context.ts';

export function jobsHandlers(ctx: StudioContext): DomainHandlers<'jobs'> {
  const { queue } = ctx;
  return {
    'jobs.submit': async ({ spec }) => {
      const full = await completeSpec(ctx.models, spec);
      checkSpec(ctx, full);
      return queue.submit(full);
    },
    'jobs.list': async ({ status, limit }) => queue.list(status, limit),
    'jobs.get': async ({ id }) => queue.get(id),
    'jobs.cancel': async ({ id }) => queue.cancel(id),
    'jobs.pause': async ({ id }) => queue.pause(id),
    'jobs.resume': async ({ id }) => queue.resume(id),
  };
}

/** The queue's hooks; `queue` is the queue they are given to (read only when a job runs). */
export function jobQueueHooks(ctx: StudioServices, queue: () => JobQueue): QueueHooks {
  const { emit, gallery, history, models } = ctx;
  /** Memory estimates of the jobs admitted (bytes), for telling an out-of-memory kill from another. */
  const estimates = new Map<string, number>();
  return {
    async prepare(job: Job): Promise<RunJob> {
      const spec = job.spec;
      const model = spec.kind === 'train' ? models.get(spec.baseModelId) : await jobModel(models, spec);
      const loras = spec.kind === 'train' || spec.kind === 'upscale' ? [] : jobAdapters(models, spec).map((a) => ({ ...models.toWorkerModel(a.model), strength: a.strength, textStrength: a.textStrength }));
      const init = spec.kind === 'img2img' || spec.kind === 'inpaint' || spec.kind === 'upscale' ? await imageBytes(ctx, spec.init) : null;
      const mask = spec.kind === 'inpaint' ? await imageBytes(ctx, spec.mask) : null;
      // Pictures through the one decode path, and a memory estimate against this computer's (admission.ts).
      // (an upscale's estimate is taken at the input picture's size)
      const admitted = spec.kind === 'train' ? null : await admitGeneration(spec.kind === 'upscale' ? { kind: spec.kind, width: 0, height: 0 } : spec, models.toWorkerModel(model), loras, init, mask, queue().workerStats().pids.generate !== null);
      if (admitted) estimates.set(job.id, admitted.estimate.total);
      if (admitted) emit('system.status', { activeJobs: queue().list(['running', 'queued'], 1000).length, memory: admitted.line }); // the status bar's estimate
      return {
        type: 'run',
        jobId: job.id,
        spec,
        model: models.toWorkerModel(model),
        loras,
        init: admitted?.init ?? init,
        mask: admitted?.mask ?? mask,
        seed: spec.seed ?? 0,
        skipImages: job.generationIds.length,
        workDir: join(ctx.paths.training, job.id),
        cacheDir: dataWeightCacheDir(ctx.paths.root),
      };
    },
    async storeImage(job: Job, msg: ImageMessage): Promise<string> {
      if (job.spec.kind === 'upscale') {
        const spec = job.spec;
        const record = await upscaleRecord(spec, models.get(spec.modelId), msg, await imageBytes(ctx, spec.init).catch(() => null));
        const gen = await storeGeneration(history, gallery, { ...record, png: msg.png, parentId: parentOf(spec), jobId: job.id });
        if (msg.provider) ctx.lastProvider = msg.provider;
        emit('history.changed', { change: 'added', ids: [gen.id] });
        return gen.id;
      }
      const spec = job.spec as GenerateSpec;
      const model = await jobModel(models, spec);
      const gen = await storeGeneration(history, gallery, {
        kind: spec.kind,
        prompt: spec.prompt,
        negativePrompt: spec.negativePrompt,
        sampler: spec.sampler,
        steps: spec.steps,
        guidance: spec.guidance,
        seed: msg.seed,
        width: spec.width,
        height: spec.height,
        eta: spec.eta,
        ...seedRecord(spec, imageSeeds(msg.seed, msg.index, spec).variationSeed),
        strength: spec.kind === 'txt2img' ? null : spec.strength,
        feather: spec.kind === 'inpaint' ? spec.feather : null,
        model: { id: model.id, name: model.name, hash: model.hash },
        loras: jobAdapters(models, spec).filter((a) => a.model.kind === 'lora').map((a) => ({ name: a.model.name, hash: a.model.hash, strength: a.strength })),
        png: msg.png,
        mask: spec.kind === 'inpaint' ? await imageBytes(ctx, spec.mask) : null,
        parentId: parentOf(spec),
        jobId: job.id,
        timings: msg.timings,
        extra: msg.provider ? { Provider: msg.provider } : {},
      });
      if (msg.provider) ctx.lastProvider = msg.provider;
      emit('history.changed', { change: 'added', ids: [gen.id] });
      return gen.id;
    },
    async registerOutput(job, output) {
      const spec = job.spec;
      const m = await models.registerTrained(output.modelPath, output.name, spec.kind === 'train' ? spec.baseModelId : null);
      emit('models.changed', { ids: [m.id] });
      return m.id;
    },
    jobUpdated: (job) => {
      emit('jobs.updated', job);
      emit('system.status', { activeJobs: queue().list(['running', 'queued'], 1000).length });
    },
    progress: (p) => emit('jobs.progress', p),
    exitEvidence: (job, pid) => exitEvidence(estimates.get(job.id), pid),
  };
}

/** The model a job runs on: the one picked, or for inpainting its inpainting counterpart (services/inpaint-model.ts). */
async function jobModel(models: ModelRegistry, spec: GenerateSpec | UpscaleSpec): Promise<ModelInfo> {
  const picked = models.get(spec.modelId);
  return spec.kind === 'inpaint' ? inpaintingModel(models, picked, jobAdapters(models, spec).length > 0) : picked;
}

/** The job's LoRAs/embeddings, then those its prompts name (<lora:name:w> tags, embedding names as words), each once. */
function jobAdapters(models: ModelRegistry, spec: GenerateSpec): PromptNetwork[] {
  const listed = spec.loras.map((l) => ({ model: models.get(l.modelId), strength: l.strength }));
  const named = promptNetworks([spec.prompt, spec.negativePrompt], models.list()).filter((n) => !listed.some((l) => l.model.id === n.model.id));
  return [...listed, ...named];
}

function checkSpec({ models, allowed, history }: StudioServices, spec: JobSpec): void {
  const model = models.get(spec.kind === 'train' ? spec.baseModelId : spec.modelId);
  if (model.kind !== 'ldm') throw new StudioError(`"${model.name}" is a ${model.kind}, not a diffusion model; pick one of kind ldm.`, 'invalid_input');
  if (spec.kind === 'train') allowed.readable(spec.datasetDir, 'training folder'); // as training.scan: only folders the user allowed
  if (spec.kind === 'upscale') {
    if ('generationId' in spec.init) history.get(spec.init.generationId);
    if (spec.parentId) history.get(spec.parentId);
  } else if (spec.kind !== 'train') {
    for (const l of spec.loras) {
      const m = models.get(l.modelId);
      if (m.kind !== 'lora' && m.kind !== 'embedding') throw new StudioError(`"${m.name}" is a ${m.kind}, not a LoRA or an embedding.`, 'invalid_input');
    }
    jobAdapters(models, spec); // a <lora:…> tag naming no LoRA is refused at submit
    for (const src of spec.kind === 'txt2img' ? [] : spec.kind === 'img2img' ? [spec.init] : [spec.init, spec.mask]) {
      if ('generationId' in src) history.get(src.generationId);
    }
    if (spec.kind === 'inpaint' && spec.parentId) history.get(spec.parentId);
  }
}

/** Fills the sampling fields a client left out from the model's own defaults (the one source of them). */
async function completeSpec(models: ModelRegistry, spec: SubmittedSpec): Promise<JobSpec> {
  if (spec.kind === 'train') return spec;
  const model = models.get(spec.modelId);
  if (spec.kind === 'upscale') return completeUpscale(model, spec);
  const traits = await modelTraits(model);
  if (traits?.task === 'upscale') throw new StudioError(`"${model.name}" is a super-resolution model: it upscales pictures (Upscale ×4), it does not make them from a prompt.`, 'invalid_input');
  if (traits) {
    const full = withSamplingDefaults(spec, traits.defaults);
    // txt2img draws at the asked size; img2img and inpaint at their picture's (checked by the pipeline).
    if (full.kind === 'txt2img') checkModelSize(model.name, traits, full.width, full.height);
    return full;
  }
  if (model.kind === 'ldm' && model.format !== 'onnx') {
    // No family opens it (SDXL, a damaged file …): the family's one line, before the job is queued.
    const problem = await recogniseModel(model.path).then(() => null, (err: Error) => err.message);
    if (problem) throw new StudioError(`"${model.name}" cannot be sampled: ${problem}`, 'invalid_model');
  }
  const { sampler, steps, guidance, width, height } = spec;
  if (sampler === undefined || steps === undefined || guidance === undefined || width === undefined || height === undefined) {
    throw new StudioError(`"${model.name}" states no sampling defaults: give sampler, steps, guidance, width and height.`, 'invalid_input');
  }
  return { ...spec, sampler, steps, guidance, width, height };
}

/** The history image an edit continues: its init generation, else the parent an inpaint names. */
function parentOf(spec: GenerateSpec | UpscaleSpec): string | null {
  if (spec.kind === 'txt2img') return null;
  if ('generationId' in spec.init) return spec.init.generationId;
  return spec.kind === 'inpaint' || spec.kind === 'upscale' ? (spec.parentId ?? null) : null;
}
