// The inside of a worker process: receives jobs, runs them through handlers, keeps model sessions warm.
import type { JobSpec, LossPoint } from '../api/jobs.ts';
import { parentChannel } from './channel.ts';
import type { FromWorker, RunJob, ToWorker, WorkerPort } from './protocol.ts';

/** Models loaded once per worker and reused by every later job (the warm-session rule). */
export class ModelCache {
  private readonly entries = new Map<string, Promise<unknown>>();
  /** How many loads ran: a second job with the same model must not add one. */
  loads = 0;

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    let entry = this.entries.get(key) as Promise<T> | undefined;
    if (!entry) {
      this.loads++;
      entry = load();
      this.entries.set(key, entry);
      // A failed load must not poison the cache.
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
  }

  /** Drops every entry whose key fails `keep` (e.g. other models, when memory is short). */
  retain(keep: (key: string) => boolean): void {
    for (const key of [...this.entries.keys()]) if (!keep(key)) this.entries.delete(key);
  }
}

export interface JobContext {
  readonly signal: AbortSignal;
  readonly models: ModelCache;
  progress(p: { step: number; total: number; image?: number; preview?: Uint8Array | null; loss?: LossPoint[]; message?: string | null }): void;
  /** Hands a finished image (PNG bytes) to the studio, which stores it in the gallery and history. */
  image(index: number, png: Uint8Array, seed: number, timings: Record<string, number>, provider: string | null): void;
  /** Training loops call this at step boundaries: resolves at once, or when the job is resumed. */
  waitIfPaused(): Promise<void>;
}

export type JobResult = { output: { modelPath: string; name: string } | null };
export type JobHandler = (job: RunJob, ctx: JobContext) => Promise<JobResult>;
export type JobHandlers = Partial<Record<JobSpec['kind'], JobHandler>>;

/** The worker's end of the channel to the studio (channel.ts: fork or utilityProcess). */
export type { WorkerPort } from './protocol.ts';

interface Active {
  jobId: string;
  abort: AbortController;
  paused: boolean;
  resume: (() => void) | null;
}

export function serveJobs(handlers: JobHandlers, port: WorkerPort = parentChannel()): void {
  const models = new ModelCache();
  let active: Active | null = null;

  const run = async (job: RunJob): Promise<void> => {
    if (active) {
      port.send({ type: 'failed', jobId: job.jobId, error: `this worker is busy with job ${active.jobId}`, cancelled: false, modelLoads: models.loads });
      return;
    }
    const handler = handlers[job.spec.kind];
    const a: Active = { jobId: job.jobId, abort: new AbortController(), paused: false, resume: null };
    active = a;
    try {
      if (!handler) throw new Error(`this worker cannot run ${job.spec.kind} jobs`);
      const ctx: JobContext = {
        signal: a.abort.signal,
        models,
        progress: (p) =>
          port.send({
            type: 'progress',
            jobId: job.jobId,
            step: p.step,
            total: p.total,
            image: p.image ?? 0,
            preview: p.preview ?? null,
            loss: p.loss ?? [],
            message: p.message ?? null,
          }),
        image: (index, png, seed, timings, provider) => port.send({ type: 'image', jobId: job.jobId, index, png, seed, timings, provider }),
        waitIfPaused: () =>
          a.paused && !a.abort.signal.aborted
            ? new Promise<void>((resolve) => {
                a.resume = resolve;
                port.send({ type: 'paused', jobId: job.jobId });
              })
            : Promise.resolve(),
      };
      const result = await handler(job, ctx);
      if (a.abort.signal.aborted) throw new Error('cancelled');
      port.send({ type: 'done', jobId: job.jobId, modelLoads: models.loads, output: result.output });
    } catch (err) {
      const cancelled = a.abort.signal.aborted;
      const error = cancelled ? 'cancelled' : err instanceof Error ? err.message || err.name : String(err);
      port.send({ type: 'failed', jobId: job.jobId, error, cancelled, modelLoads: models.loads });
    } finally {
      active = null;
    }
  };

  port.onMessage((msg) => {
    if (msg.type === 'run') {
      void run(msg);
      return;
    }
    if (!active || active.jobId !== msg.jobId) return;
    const a = active;
    if (msg.type === 'cancel') {
      a.abort.abort();
      a.resume?.();
    } else if (msg.type === 'pause') {
      a.paused = true;
    } else if (msg.type === 'resume') {
      a.paused = false;
      const r = a.resume;
      a.resume = null;
      if (r) {
        port.send({ type: 'resumed', jobId: a.jobId });
        r();
      }
    }
  });
  port.send({ type: 'ready', pid: process.pid });
}
