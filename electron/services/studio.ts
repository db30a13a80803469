// The one entry point both transports bind: createStudio → { handlers, on, close }.
import { fileURLToPath } from 'node:url';
import type { EventName, EventPayload, StudioHandlers } from '../api/index.ts';
import { forkWorkerAdapter, type WorkerAdapter } from '../workers/adapter.ts';
import { openDatabase, type Db } from './db.ts';
import { ensureDataDir, PathPolicy, resolveDataPath, type DataPaths } from './files.ts';
import { Gallery } from './gallery.ts';
import type { StudioContext, StudioServices } from './handlers/context.ts';
import { galleryHandlers } from './handlers/gallery.ts';
import { historyHandlers } from './handlers/history.ts';
import { imagesHandlers } from './handlers/images.ts';
import { jobQueueHooks, jobsHandlers } from './handlers/jobs.ts';
import { modelsHandlers } from './handlers/models.ts';
import { promptHandlers } from './handlers/prompt.ts';
import { systemHandlers } from './handlers/system.ts';
import { trainingHandlers } from './handlers/training.ts';
import { HistoryStore } from './history.ts';
import { JobQueue, type WorkerStats } from './jobs.ts';
import { lockDataDir } from './lock.ts';
import { ModelRegistry } from './models.ts';
import { PromptService } from './prompt.ts';

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

  const services: StudioServices = { transport: opts.transport, paths, allowed, emit, gallery, history, models, prompts, lastProvider: null };
  const queue: JobQueue = new JobQueue(db, opts.workerAdapter ?? forkWorkerAdapter(), jobQueueHooks(services, () => queue), { idleWorkerMs: opts.idleWorkerMs });
  const ctx: StudioContext = Object.assign(services, { queue }); // one object: the hooks' lastProvider is the one system.info reads

  // One function per request domain (handlers/<domain>.ts); a new request's handler goes in its domain's file.
  const handlers: StudioHandlers = {
    ...systemHandlers(ctx),
    ...historyHandlers(ctx),
    ...galleryHandlers(ctx),
    ...jobsHandlers(ctx),
    ...modelsHandlers(ctx),
    ...trainingHandlers(ctx),
    ...promptHandlers(ctx),
    ...imagesHandlers(ctx),
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

function closeDb(db: Db): void {
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

export { resolveDataPath };
