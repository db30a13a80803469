// The one entry point both transports bind: createStudio → { handlers, on, close }.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import sharp from 'sharp';
import { StudioError } from '../api/contract.ts';
import { toPng } from '../engine/io/image.ts';
import type { ImageVariant } from '../api/gallery.ts';
import type { Generation } from '../api/history.ts';
import type { EventName, EventPayload, StudioHandlers } from '../api/index.ts';
import type { GenerateSpec, Job, JobSpec, SubmittedSpec, Txt2imgSpec } from '../api/jobs.ts';
import { SCHEDULE_TYPE_NAMES } from '../engine/diffusion/sigma-schedules.ts';
import { imageSeeds, seedRecord } from '../engine/diffusion/noise.ts';
import { forkWorkerAdapter, type WorkerAdapter } from '../workers/adapter.ts';
import type { ImageMessage, RunJob } from '../workers/protocol.ts';
import { admitGeneration, exitEvidence } from './admission.ts';
import { openDatabase, type Db } from './db.ts';
import { ensureDataDir, PathPolicy, readUpload, resolveDataPath, type DataPaths } from './files.ts';
import { Gallery } from './gallery.ts';
import { HistoryStore } from './history.ts';
import { readParametersOf } from './image-info.ts';
import { JobQueue, type WorkerStats } from './jobs.ts';
import { lockDataDir } from './lock.ts';
import { recogniseModel } from '../engine/families/index.ts';
import { modelTraits, withSamplingDefaults } from './model-traits.ts';
import { promptNetworks, type PromptNetwork } from './prompt-networks.ts';
import { readModelDetails } from './model-details.ts';
import { ModelRegistry } from './models.ts';
import { PromptService } from './prompt.ts';
import { storeGeneration } from './record.ts';
import { systemInfo } from './system.ts';
import { TrainingFolders } from './training.ts';

export const EMBEDDED_MODELS_DIR = fileURLToPath(new URL('../../resources/models', import.meta.url));

export interface StudioOptions {
  dataDir: string;
  transport: 'ipc' | 'web';
  /** How worker processes start; default child_process.fork of electron/workers/main.ts. */
  workerAdapter?: WorkerAdapter;
  /** Folder of model packages shipped with the app; default resources/models. */
  embeddedModelsDir?: string;
  /** How long an idle generation worker keeps its model warm; default 15 minutes. */
  idleWorkerMs?: number;
  /** Folders outside the data folder that clients may name (web mode: `--allow DIR`). */
  allowedDirs?: readonly string[];
}

export interface Studio {
  readonly handlers: StudioHandlers;
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void;
  close(): Promise<void>;
  /** Worker processes started and model loads (tests and benchmarks). */
  workerStats(): WorkerStats;
  readonly paths: DataPaths;
  /** A file or folder the user picked in a dialog: requests may name it from now on (desktop shell). */
  allowPath(path: string): void;
}

type Listener = (payload: never) => void;

export async function createStudio(opts: StudioOptions): Promise<Studio> {
  const paths = ensureDataDir(opts.dataDir);
  const allowed = new PathPolicy(paths, opts.allowedDirs);
  const unlock = lockDataDir(paths.root);
  let db: Db;
  try {
    db = openDatabase(paths.db);
  } catch (err) {
    unlock();
    throw err;
  }
  const listeners = new Map<EventName, Set<Listener>>();
  const emit = <K extends EventName>(event: K, payload: EventPayload<K>): void => {
    for (const l of listeners.get(event) ?? []) {
      try {
        (l as (p: EventPayload<K>) => void)(payload);
      } catch (err) {
        console.error(`a listener of ${event} threw:`, err);
      }
    }
  };
  const gallery = new Gallery(paths);
  const history = new HistoryStore(db, gallery);
  const swept = await gallery.sweep((id) => history.has(id)).catch((err: Error) => (console.error(`start-up sweep failed: ${err.message}`), null));
  if (swept && swept.orphans + swept.temps > 0) {
    console.log(`start-up sweep: ${swept.orphans} orphan gallery file(s) moved to trash/orphans, ${swept.temps} temp file(s) removed`);
  }
  const models = new ModelRegistry(db, paths);
  const prompts = new PromptService();
  for (const problem of await models.registerEmbedded(opts.embeddedModelsDir ?? EMBEDDED_MODELS_DIR)) {
    console.error(`embedded model skipped: ${problem}`);
  }

  const imageBytes = async (src: { generationId: string } | { base64: string } | { uploadId: string }): Promise<Buffer> => {
    if ('base64' in src) return Buffer.from(src.base64, 'base64');
    if ('uploadId' in src) return readUpload(paths, src.uploadId);
    const g = history.get(src.generationId);
    return history.readFile(g, g.imagePath);
  };

  /** The provider the last generation really ran on (system.info reports it once known). */
  let lastProvider: string | null = null;
  /** Memory estimates of the jobs admitted (bytes), for telling an out-of-memory kill from another. */
  const estimates = new Map<string, number>();
  const queue = new JobQueue(db, opts.workerAdapter ?? forkWorkerAdapter(), {
    async prepare(job: Job): Promise<RunJob> {
      const spec = job.spec;
      const model = models.get(spec.kind === 'train' ? spec.baseModelId : spec.modelId);
      const loras = spec.kind === 'train' ? [] : jobAdapters(spec).map((a) => ({ ...models.toWorkerModel(a.model), strength: a.strength, textStrength: a.textStrength }));
      const init = spec.kind === 'img2img' || spec.kind === 'inpaint' ? await imageBytes(spec.init) : null;
      const mask = spec.kind === 'inpaint' ? await imageBytes(spec.mask) : null;
      // Pictures through the one decode path, and a memory estimate against this computer's (admission.ts).
      const admitted = spec.kind === 'train' ? null : await admitGeneration(spec, models.toWorkerModel(model), loras, init, mask, queue.workerStats().pids.generate !== null);
      if (admitted) estimates.set(job.id, admitted.estimate.total);
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
        workDir: join(paths.training, job.id),
      };
    },
    async storeImage(job: Job, msg: ImageMessage): Promise<string> {
      const spec = job.spec as GenerateSpec;
      const model = models.get(spec.modelId);
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
        loras: jobAdapters(spec).filter((a) => a.model.kind === 'lora').map((a) => ({ name: a.model.name, hash: a.model.hash, strength: a.strength })),
        png: msg.png,
        mask: spec.kind === 'inpaint' ? await imageBytes(spec.mask) : null,
        parentId: parentOf(spec),
        jobId: job.id,
        timings: msg.timings,
        extra: msg.provider ? { Provider: msg.provider } : {},
      });
      if (msg.provider) lastProvider = msg.provider;
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
      emit('system.status', { activeJobs: queue.list(['running', 'queued'], 1000).length });
    },
    progress: (p) => emit('jobs.progress', p),
    exitEvidence: (job, pid) => exitEvidence(estimates.get(job.id), pid),
  }, { idleWorkerMs: opts.idleWorkerMs });

  /** The job's LoRAs/embeddings, then those its prompts name (<lora:name:w> tags, embedding names as words), each once. */
  const jobAdapters = (spec: GenerateSpec): PromptNetwork[] => {
    const listed = spec.loras.map((l) => ({ model: models.get(l.modelId), strength: l.strength }));
    const named = promptNetworks([spec.prompt, spec.negativePrompt], models.list()).filter((n) => !listed.some((l) => l.model.id === n.model.id));
    return [...listed, ...named];
  };

  const checkSpec = (spec: JobSpec): void => {
    const model = models.get(spec.kind === 'train' ? spec.baseModelId : spec.modelId);
    if (model.kind !== 'ldm') throw new StudioError(`"${model.name}" is a ${model.kind}, not a diffusion model; pick one of kind ldm.`, 'invalid_input');
    if (spec.kind === 'train') allowed.readable(spec.datasetDir, 'training folder'); // as training.scan: only folders the user allowed
    if (spec.kind !== 'train') {
      for (const l of spec.loras) {
        const m = models.get(l.modelId);
        if (m.kind !== 'lora' && m.kind !== 'embedding') throw new StudioError(`"${m.name}" is a ${m.kind}, not a LoRA or an embedding.`, 'invalid_input');
      }
      jobAdapters(spec); // a <lora:…> tag naming no LoRA is refused at submit
      for (const src of spec.kind === 'txt2img' ? [] : spec.kind === 'img2img' ? [spec.init] : [spec.init, spec.mask]) {
        if ('generationId' in src) history.get(src.generationId);
      }
      if (spec.kind === 'inpaint' && spec.parentId) history.get(spec.parentId);
    }
  };

  /** Fills the sampling fields a client left out from the model's own defaults (the one source of them). */
  const completeSpec = async (spec: SubmittedSpec): Promise<JobSpec> => {
    if (spec.kind === 'train') return spec;
    const model = models.get(spec.modelId);
    const traits = await modelTraits(model);
    if (traits) return withSamplingDefaults(spec, traits.defaults);
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
  };

  /** A generation's settings as a job spec; what the picture does not record is left to the model's defaults. */
  const reuse = (g: Generation): SubmittedSpec => {
    const modelId = g.model.id ?? models.findByHash(g.model.hash)?.id;
    if (!modelId) throw new StudioError(`The model of this image (${g.model.name ?? 'unknown'}) is not in the registry; import it first.`, 'not_found');
    const common = {
      modelId,
      prompt: g.prompt,
      negativePrompt: g.negativePrompt,
      sampler: g.params.sampler ?? undefined,
      steps: g.params.steps ?? undefined,
      guidance: g.params.guidance ?? undefined,
      seed: g.params.seed,
      width: g.params.width - (g.params.width % 8),
      height: g.params.height - (g.params.height % 8),
      batchCount: 1,
      eta: g.params.eta ?? 0,
      scheduleType: (SCHEDULE_TYPE_NAMES as readonly string[]).includes(g.params.scheduleType ?? '') ? (g.params.scheduleType as Txt2imgSpec['scheduleType']) : undefined,
      rngSource: g.params.rngSource,
      variationSeed: g.params.variationSeed,
      variationStrength: g.params.variationStrength,
      resizeSeedFrom: g.params.resizeSeedFrom,
      ensd: g.params.ensd,
      loras: g.loras.flatMap((l) => {
        const m = models.findByHash(l.hash, 'lora') ?? models.list('lora').find((x) => x.name === l.name);
        return m ? [{ modelId: m.id, strength: l.strength }] : [];
      }),
    };
    if (g.kind === 'img2img' && g.parentId) return { kind: 'img2img', ...common, init: { generationId: g.parentId }, strength: g.params.strength ?? 0.75 };
    return { kind: 'txt2img', ...common };
  };

  const trainingFolders = new TrainingFolders();
  const handlers: StudioHandlers = {
    'system.info': async () => systemInfo(paths.root, opts.transport, lastProvider),

    'history.search': async (i) => history.search(i),
    'history.get': async ({ id }) => history.get(id),
    'history.favourite': async ({ id, favourite }) => {
      const g = history.setFavourite(id, favourite);
      emit('history.changed', { change: 'updated', ids: [id] });
      return g;
    },
    'history.tag': async ({ id, add, remove }) => {
      const g = history.tag(id, add, remove);
      emit('history.changed', { change: 'updated', ids: [id] });
      return g;
    },
    'history.delete': async ({ ids }) => {
      const done = await history.trash(ids);
      emit('history.changed', { change: 'trashed', ids: done });
      return { trashed: done.length };
    },
    'history.restore': async ({ ids }) => {
      const done = await history.restore(ids);
      emit('history.changed', { change: 'restored', ids: done });
      return { restored: done.length };
    },
    'history.purge': async ({ ids }) => {
      const done = await history.purge(ids);
      emit('history.changed', { change: 'purged', ids: done });
      return { purged: done.length };
    },
    'history.export': async ({ path, withImages, overwrite }) => {
      const file = path === undefined ? history.defaultExportPath(paths.exports) : allowed.writable(path, 'history export', overwrite);
      return { path: file, count: await history.exportJsonl(file, withImages, overwrite) };
    },
    'history.import': async ({ path }) => {
      const r = await history.importJsonl(allowed.readable(path, 'history file'));
      if (r.imported) emit('history.changed', { change: 'imported', ids: [] });
      return r;
    },
    'history.importImages': async ({ paths: files }) => {
      const imported: Generation[] = [];
      const errors: { path: string; message: string }[] = [];
      for (const p of files) {
        try {
          imported.push(await history.importImage(allowed.readable(p, 'image')));
        } catch (err) {
          errors.push({ path: p, message: (err as Error).message });
        }
      }
      if (imported.length) emit('history.changed', { change: 'imported', ids: imported.map((g) => g.id) });
      return { imported, errors };
    },
    'history.prompts': async ({ query, limit }) => history.prompts(query, limit),
    'history.reuse': async ({ id }) => reuse(history.get(id)),

    'gallery.image': async ({ id, variant }) => {
      const g = history.get(id);
      const bytes = await history.readFile(g, fileOf(g, variant));
      const meta = await sharp(bytes).metadata();
      return { mime: `image/${meta.format}`, base64: bytes.toString('base64'), width: meta.width ?? 0, height: meta.height ?? 0, path: currentPath(g, variant) };
    },
    'gallery.path': async ({ id, variant }) => ({ path: currentPath(history.get(id), variant) }),
    'gallery.save': async ({ base64, prompt, parentId, maskBase64 }) => {
      const parent = parentId ? history.get(parentId) : null;
      const png = await toPng(Buffer.from(base64, 'base64')).catch((err: Error) => {
        throw new StudioError(`The image cannot be read: ${err.message}`, 'bad_image');
      });
      const meta = await sharp(png).metadata();
      const gen = await storeGeneration(history, gallery, {
        kind: 'upload',
        prompt: prompt || parent?.prompt || '',
        negativePrompt: parent?.negativePrompt ?? '',
        sampler: null,
        steps: null,
        guidance: null,
        seed: null,
        width: meta.width ?? 0,
        height: meta.height ?? 0,
        model: parent?.model ?? { id: null, name: null, hash: null },
        png,
        mask: maskBase64 ? Buffer.from(maskBase64, 'base64') : null,
        parentId,
      });
      emit('history.changed', { change: 'added', ids: [gen.id] });
      return { id: gen.id };
    },

    'jobs.submit': async ({ spec }) => {
      const full = await completeSpec(spec);
      checkSpec(full);
      return queue.submit(full);
    },
    'jobs.list': async ({ status, limit }) => queue.list(status, limit),
    'jobs.get': async ({ id }) => queue.get(id),
    'jobs.cancel': async ({ id }) => queue.cancel(id),
    'jobs.pause': async ({ id }) => queue.pause(id),
    'jobs.resume': async ({ id }) => queue.resume(id),

    'models.list': async ({ kind }) => Promise.all(models.list(kind).map(async (m) => ({ ...m, traits: await modelTraits(m) }))),
    'images.readParameters': async ({ image }) => readParametersOf(await imageBytes(image)),
    'prompt.tokenCount': async ({ prompt, modelId }) => prompts.tokenCount(prompt, modelId === undefined ? undefined : models.get(modelId).path),
    'models.get': async ({ id }) => {
      const m = models.get(id);
      return { ...m, traits: await modelTraits(m) };
    },
    'models.validate': async ({ path }) => {
      try {
        allowed.readable(path, 'model');
      } catch (err) {
        return { ok: false, kind: null, format: null, errors: [(err as Error).message], warnings: [] };
      }
      return models.validate(path);
    },
    'models.import': async ({ path, name }) => {
      const m = await models.import(allowed.readable(path, 'model'), name);
      emit('models.changed', { ids: [m.id] });
      return m;
    },
    'models.setVae': async ({ id, vaeId }) => {
      const m = models.setVae(id, vaeId);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.setWeights': async ({ id, weights }) => {
      const m = models.setWeights(id, weights);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.rename': async ({ id, name }) => {
      const m = models.rename(id, name);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },
    'models.details': async ({ id }) => readModelDetails(models.get(id)),
    'models.delete': async ({ id }) => {
      const m = models.get(id);
      const busy = queue.list(['running', 'queued', 'paused'], 1000).find((j) => JSON.stringify(j.spec).includes(JSON.stringify(id)));
      if (busy) throw new StudioError(`"${m.name}" is used by job ${busy.id} (${busy.status}): cancel it or let it finish, then delete the model.`, 'busy');
      const trashedTo = await models.delete(id);
      emit('models.changed', { ids: [id] });
      return { id, trashedTo };
    },
    'models.setPrediction': async ({ id, prediction }) => {
      const m = models.setPrediction(id, prediction);
      emit('models.changed', { ids: [m.id] });
      return { ...m, traits: await modelTraits(m) };
    },

    'training.scan': async ({ datasetDir, recursive, triggerWord }) => {
      allowed.readable(datasetDir, 'training folder');
      return trainingFolders.scan(datasetDir, recursive, triggerWord);
    },
    'training.setCaption': async ({ datasetDir, imagePath, caption, triggerWord }) => trainingFolders.setCaption(datasetDir, imagePath, caption, triggerWord),
    'training.losses': async ({ jobId }) => queue.losses(jobId),
  };

  queue.start();
  let closed = false;
  return {
    handlers,
    paths,
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as Listener);
      return () => set.delete(listener as Listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue.close();
      listeners.clear();
      closeDb(db);
      unlock();
    },
    workerStats: () => queue.workerStats(),
    allowPath: (p) => allowed.pick(p),
  };
}

/** The history image an edit continues: its init generation, else the parent an inpaint names. */
function parentOf(spec: GenerateSpec): string | null {
  if (spec.kind === 'txt2img') return null;
  if ('generationId' in spec.init) return spec.init.generationId;
  return spec.kind === 'inpaint' ? (spec.parentId ?? null) : null;
}

function fileOf(g: Generation, variant: ImageVariant): string {
  const rel = variant === 'thumbnail' ? g.thumbnailPath : variant === 'mask' ? g.maskPath : g.imagePath;
  if (!rel) throw new StudioError(`Generation ${g.id} has no ${variant}.`, 'not_found');
  return rel;
}

/** Where the file lies now, relative to the data folder (deleted generations' files are in trash/). */
function currentPath(g: Generation, variant: ImageVariant): string {
  const rel = fileOf(g, variant);
  return g.trashedAt === null ? rel : `trash/${rel}`;
}

function closeDb(db: Db): void {
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

export { resolveDataPath };
