// The job queue: jobs persisted in SQLite, one running on the accelerator at a time, in worker processes
// that may crash without taking the studio down. Generations go ahead of queued training and may run
// while a training job is paused.
import { StudioError } from '../api/contract.ts';
import type { Job, JobProgress, JobSpec, JobStatus, LossPoint } from '../api/jobs.ts';
import { describeExit, type ExitEvidence, type WorkerAdapter, type WorkerExit, type WorkerProcess } from '../workers/adapter.ts';
import type { FromWorker, ImageMessage, RunJob } from '../workers/protocol.ts';
import type { Db } from './db.ts';
import { newId } from './ids.ts';

type Lane = 'generate' | 'train';
const laneOf = (kind: JobSpec['kind']): Lane => (kind === 'train' ? 'train' : 'generate');

/** How long a worker gets to stop after a cancel before it is killed. */
const CANCEL_GRACE_MS = 10_000;

/** The note a job keeps when a restart interrupted it (kept in its error column through the rerun). */
export const INTERRUPTED_NOTE = 'interrupted by a restart; queued again';

/** A database write that failed (SQLITE_FULL and kin) in words; the job stops with it, the studio carries on. */
export function writeFailure(err: unknown): string {
  const code = String((err as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || /ENOSPC|disk is full|database or disk is full/i.test(String((err as Error).message))) {
    return 'The disk is full, so the job was stopped; the images it finished are kept. Free some space and run it again.';
  }
  return `The history database could not be written (${(err as Error).message}); the job was stopped.`;
}

export interface QueueHooks {
  /** Everything the worker needs for a job: resolved model paths, decoded inputs. Throws a StudioError for bad input or a job that would not fit in memory. */
  prepare(job: Job): Promise<RunJob>;
  /** Stores a finished image; returns its history id. */
  storeImage(job: Job, msg: ImageMessage): Promise<string>;
  /** Registers a trained model; returns its registry id. */
  registerOutput(job: Job, output: { modelPath: string; name: string }): Promise<string>;
  jobUpdated(job: Job): void;
  progress(p: JobProgress): void;
  /** What is known about a job whose worker died: its memory estimate against the machine's memory. */
  exitEvidence?(job: Job, pid: number | undefined): ExitEvidence;
}

interface Running {
  job: Job;
  lane: Lane;
  /** True once the worker confirmed the pause: the accelerator is free meanwhile. */
  workerPaused: boolean;
  cancelRequested: boolean;
  /** A pause asked for before the worker had the job: sent right after the job. */
  pauseRequested: boolean;
  cancelTimer: NodeJS.Timeout | null;
  stored: Promise<void>;
  /** Set when an image or the job's progress could not be stored: the job then fails with this reason. */
  storeError: string | null;
  rate: { t0: number; step0: number } | null;
}

interface LaneState {
  worker: WorkerProcess | null;
  running: Running | null;
  idleTimer: NodeJS.Timeout | null;
}

export interface QueueOptions {
  /**
   * How long an idle generation worker keeps its model warm before it is stopped to give the memory
   * back. Training workers stop as soon as their job ends (nothing of theirs is reused).
   */
  idleWorkerMs?: number;
}

const DEFAULT_IDLE_WORKER_MS = 15 * 60_000;

interface JobRow {
  id: string;
  kind: string;
  status: string;
  spec: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  step: number;
  total: number;
  error: string | null;
  generation_ids: string;
  model_id: string | null;
}

function fromRow(r: JobRow): Job {
  return {
    id: r.id,
    kind: r.kind as Job['kind'],
    status: r.status as JobStatus,
    spec: JSON.parse(r.spec),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    step: r.step,
    total: r.total,
    error: r.error,
    generationIds: JSON.parse(r.generation_ids),
    modelId: r.model_id,
  };
}

export interface WorkerStats {
  /** Worker processes started, per lane. */
  spawned: Record<Lane, number>;
  /** Model loads the current worker of each lane reported (warm sessions keep this flat). */
  modelLoads: Record<Lane, number>;
  pids: Record<Lane, number | null>;
}

export class JobQueue {
  private readonly lanes: Record<Lane, LaneState> = {
    generate: { worker: null, running: null, idleTimer: null },
    train: { worker: null, running: null, idleTimer: null },
  };
  private readonly stats: WorkerStats = { spawned: { generate: 0, train: 0 }, modelLoads: { generate: 0, train: 0 }, pids: { generate: null, train: null } };
  /** Paused training jobs the user asked to resume while the accelerator was busy. */
  private readonly resumeWanted = new Set<string>();
  /** Final states that could not be written (a full disk): shown as they are, written once space is back. */
  private readonly unsaved = new Map<string, { status: JobStatus; error: string | null; finishedAt: number }>();
  private dispatching = false;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly adapter: WorkerAdapter,
    private readonly hooks: QueueHooks,
    private readonly options: QueueOptions = {},
  ) {}

  /** Jobs a previous run left running were interrupted (crash, kill, power cut): queue them again. */
  start(): void {
    this.db.prepare(`UPDATE jobs SET status = 'queued', error = ? WHERE status = 'running'`).run(INTERRUPTED_NOTE);
    void this.pump();
  }

  submit(spec: JobSpec): Job {
    if (this.closed) throw new StudioError('The studio is shutting down.', 'closed');
    const withSeed = 'seed' in spec && spec.seed === null && spec.kind !== 'train' ? { ...spec, seed: randomSeed() } : spec;
    const total = spec.kind === 'train' ? spec.steps : spec.steps * spec.batchCount;
    const id = newId();
    try {
      this.db
        .prepare(`INSERT INTO jobs (id, kind, status, spec, created_at, total) VALUES (?, ?, 'queued', ?, ?, ?)`)
        .run(id, spec.kind, JSON.stringify(withSeed), Date.now(), total);
    } catch (err) {
      throw new StudioError(`The job was not queued: ${writeFailure(err).replace(', so the job was stopped; the images it finished are kept', '')}`, 'disk_full');
    }
    const job = this.get(id);
    this.hooks.jobUpdated(job);
    void this.pump();
    return job;
  }

  get(id: string): Job {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!row) throw new StudioError(`No job with id "${id}".`, 'not_found');
    return this.withUnsaved(fromRow(row));
  }

  private withUnsaved(job: Job): Job {
    const u = this.unsaved.get(job.id);
    return u ? { ...job, ...u } : job;
  }

  /** The newest jobs first, of these statuses and kinds (all when left out). */
  list(statuses: readonly JobStatus[] | undefined, limit: number, kinds?: readonly Job['kind'][]): Job[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    for (const [column, values] of [['status', statuses], ['kind', kinds]] as const) {
      if (!values?.length) continue;
      where.push(`${column} IN (${values.map(() => '?').join(',')})`);
      args.push(...values);
    }
    const rows = this.db.prepare(`SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`).all(...args, limit) as JobRow[];
    return rows.map((r) => this.withUnsaved(fromRow(r)));
  }

  /** The loss a training job recorded last (null before its first step). */
  lastLoss(jobId: string): number | null {
    const row = this.db.prepare('SELECT loss FROM job_losses WHERE job_id = ? ORDER BY step DESC LIMIT 1').get(jobId) as { loss: number } | undefined;
    return row?.loss ?? null;
  }

  losses(jobId: string): LossPoint[] {
    this.get(jobId);
    return this.db.prepare('SELECT step, loss FROM job_losses WHERE job_id = ? ORDER BY step').all(jobId) as LossPoint[];
  }

  cancel(id: string): Job {
    const job = this.get(id);
    const r = this.findRunning(id);
    if (r) {
      r.cancelRequested = true;
      this.lanes[r.lane].worker?.send({ type: 'cancel', jobId: id });
      r.cancelTimer ??= setTimeout(() => {
        if (this.lanes[r.lane].running === r) this.lanes[r.lane].worker?.kill();
      }, CANCEL_GRACE_MS);
      return job;
    }
    if (job.status === 'queued' || job.status === 'paused') return this.finish(id, 'cancelled', null);
    return job;
  }

  pause(id: string): Job {
    const job = this.get(id);
    if (job.kind !== 'train') throw new StudioError('Only training jobs can be paused; cancel a generation instead.', 'not_pausable');
    if (job.status === 'queued') return this.setStatus(id, 'paused');
    const r = this.findRunning(id);
    if (r && !r.workerPaused) {
      r.pauseRequested = true;
      this.lanes.train.worker?.send({ type: 'pause', jobId: id });
    }
    return job;
  }

  resume(id: string): Job {
    const job = this.get(id);
    // A training run that crashed or was cancelled continues from its last checkpoint in its work folder.
    if (job.kind === 'train' && (job.status === 'failed' || job.status === 'cancelled')) {
      this.db.prepare(`UPDATE jobs SET finished_at = NULL WHERE id = ?`).run(id);
      this.setStatus(id, 'queued');
      void this.pump();
      return this.get(id);
    }
    if (job.status !== 'paused') return job;
    const r = this.findRunning(id);
    if (r) this.resumeWanted.add(id);
    // A paused job without a live worker (the studio restarted) runs again from its last checkpoint.
    else this.setStatus(id, 'queued');
    void this.pump();
    return this.get(id);
  }

  workerStats(): WorkerStats {
    return structuredClone(this.stats);
  }

  /** Stops the workers; a job that was running stays 'running' in the database and runs again at the next start. */
  async close(): Promise<void> {
    this.closed = true;
    const pending: Promise<void>[] = [];
    for (const lane of Object.values(this.lanes)) {
      if (lane.idleTimer) clearTimeout(lane.idleTimer);
      if (lane.running?.cancelTimer) clearTimeout(lane.running.cancelTimer);
      if (lane.running) pending.push(lane.running.stored);
      lane.worker?.kill();
    }
    await Promise.all(pending);
  }

  private findRunning(id: string): Running | null {
    for (const lane of Object.values(this.lanes)) if (lane.running?.job.id === id) return lane.running;
    return null;
  }

  /** Whether a job is using the accelerator right now. */
  private busy(): boolean {
    return Object.values(this.lanes).some((l) => l.running && !l.running.workerPaused);
  }

  private async pump(): Promise<void> {
    if (this.dispatching || this.closed) return;
    this.dispatching = true;
    try {
      this.saveUnsaved();
      while (!this.busy() && !this.closed) {
        const paused = this.lanes.train.running;
        if (paused?.workerPaused && this.resumeWanted.has(paused.job.id) && !this.hasQueued('generate')) {
          this.resumeWanted.delete(paused.job.id);
          paused.workerPaused = false;
          paused.rate = null;
          this.lanes.train.worker?.send({ type: 'resume', jobId: paused.job.id });
          this.setStatus(paused.job.id, 'running');
          continue;
        }
        const next = this.nextQueued();
        if (!next) break;
        await this.dispatch(next);
      }
    } catch (err) {
      // A write that failed here (a full disk) leaves the job queued; the next submit or finish tries again.
      console.error(`job queue: ${writeFailure(err)}`);
    } finally {
      this.dispatching = false;
    }
    this.scheduleIdleStops();
  }

  /** Writes final states that a full disk kept in memory. */
  private saveUnsaved(): void {
    for (const [id, u] of this.unsaved) {
      this.db.prepare('UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?').run(u.status, u.error, u.finishedAt, id);
      this.unsaved.delete(id);
    }
  }

  private scheduleIdleStops(): void {
    for (const [lane, state] of Object.entries(this.lanes) as [Lane, LaneState][]) {
      if (!state.worker || state.running || state.idleTimer || this.closed) continue;
      const ms = lane === 'train' ? 0 : (this.options.idleWorkerMs ?? DEFAULT_IDLE_WORKER_MS);
      state.idleTimer = setTimeout(() => {
        state.idleTimer = null;
        const w = state.worker;
        if (state.running || !w) return;
        // Forget it first, so that no job is sent to a worker on its way out.
        state.worker = null;
        this.stats.pids[lane] = null;
        w.kill();
      }, ms);
      state.idleTimer.unref();
    }
  }

  /** Stops a lane's idle worker so that its memory goes back to the system; the next job starts a new one. */
  private recycle(lane: Lane): void {
    const state = this.lanes[lane];
    const w = state.worker;
    if (!w || state.running) return;
    state.worker = null;
    this.stats.pids[lane] = null;
    w.kill();
  }

  private hasQueued(lane: Lane): boolean {
    const cond = lane === 'train' ? "kind = 'train'" : "kind <> 'train'";
    return this.db.prepare(`SELECT 1 FROM jobs WHERE status = 'queued' AND ${cond} LIMIT 1`).get() !== undefined;
  }

  private nextQueued(): Job | null {
    const gen = this.db.prepare(`SELECT * FROM jobs WHERE status = 'queued' AND kind <> 'train' ORDER BY seq LIMIT 1`).get() as JobRow | undefined;
    if (gen) return fromRow(gen);
    if (this.lanes.train.running) return null;
    const train = this.db.prepare(`SELECT * FROM jobs WHERE status = 'queued' AND kind = 'train' ORDER BY seq LIMIT 1`).get() as JobRow | undefined;
    return train ? fromRow(train) : null;
  }

  private async dispatch(job: Job): Promise<void> {
    const lane = laneOf(job.kind);
    const r: Running = { job, lane, workerPaused: false, cancelRequested: false, pauseRequested: false, cancelTimer: null, stored: Promise.resolve(), storeError: null, rate: null };
    this.lanes[lane].running = r;
    // An interruption note stays with the job through its rerun; other errors of an earlier try go.
    this.db.prepare(`UPDATE jobs SET status = 'running', started_at = ?, error = CASE WHEN error = ? THEN error END WHERE id = ?`).run(Date.now(), INTERRUPTED_NOTE, job.id);
    r.job = this.get(job.id);
    this.hooks.jobUpdated(r.job);
    let run: RunJob;
    try {
      run = await this.hooks.prepare(r.job);
    } catch (err) {
      this.lanes[lane].running = null;
      this.finish(job.id, 'failed', (err as Error).message);
      return;
    }
    if (r.cancelRequested) {
      if (r.cancelTimer) clearTimeout(r.cancelTimer);
      this.lanes[lane].running = null;
      this.finish(job.id, 'cancelled', null);
      return;
    }
    const w = this.worker(lane);
    w.send(run);
    if (r.pauseRequested) w.send({ type: 'pause', jobId: job.id });
  }

  private worker(lane: Lane): WorkerProcess {
    const state = this.lanes[lane];
    if (state.idleTimer) clearTimeout(state.idleTimer);
    state.idleTimer = null;
    if (state.worker) return state.worker;
    const w = this.adapter.spawn();
    state.worker = w;
    this.stats.spawned[lane]++;
    this.stats.modelLoads[lane] = 0;
    this.stats.pids[lane] = w.pid ?? null;
    w.onMessage((msg) => this.onMessage(lane, msg));
    w.onExit((exit) => this.onExit(lane, w, exit));
    return w;
  }

  private onExit(lane: Lane, w: WorkerProcess, exit: WorkerExit): void {
    if (this.closed) return;
    const state = this.lanes[lane];
    if (state.worker !== w) return;
    state.worker = null;
    this.stats.pids[lane] = null;
    const r = state.running;
    if (r) {
      state.running = null;
      if (r.cancelTimer) clearTimeout(r.cancelTimer);
      this.resumeWanted.delete(r.job.id);
      void r.stored.then(() => {
        if (this.closed) return;
        if (r.cancelRequested) this.finish(r.job.id, 'cancelled', null);
        else this.finish(r.job.id, 'failed', describeExit(exit, this.hooks.exitEvidence?.(r.job, w.pid)));
        void this.pump();
      });
    }
  }

  private onMessage(lane: Lane, msg: FromWorker): void {
    if (msg.type === 'ready' || this.closed) return;
    const r = this.lanes[lane].running;
    if (!r || r.job.id !== msg.jobId) return;
    switch (msg.type) {
      case 'progress': {
        const now = Date.now();
        if (!r.rate || msg.step < r.rate.step0) r.rate = { t0: now, step0: msg.step };
        const done = msg.step - r.rate.step0;
        const etaMs = done > 0 ? Math.round(((now - r.rate.t0) / done) * (msg.total - msg.step)) : null;
        if (r.storeError) break;
        try {
          this.db.transaction(() => {
            this.db.prepare('UPDATE jobs SET step = ?, total = ? WHERE id = ?').run(msg.step, msg.total, r.job.id);
            const ins = this.db.prepare('INSERT OR REPLACE INTO job_losses (job_id, step, loss) VALUES (?, ?, ?)');
            for (const p of msg.loss) ins.run(r.job.id, p.step, p.loss);
          })();
        } catch (err) {
          // A full disk: stop this job (the worker is told to cancel) and keep the studio up.
          r.storeError = writeFailure(err);
          this.lanes[lane].worker?.send({ type: 'cancel', jobId: r.job.id });
          break;
        }
        this.hooks.progress({
          jobId: r.job.id,
          step: msg.step,
          total: msg.total,
          etaMs,
          preview: msg.preview ? `data:image/png;base64,${Buffer.from(msg.preview).toString('base64')}` : null,
          loss: msg.loss,
          image: msg.image,
          message: msg.message,
        });
        break;
      }
      case 'image':
        r.stored = r.stored.then(async () => {
          try {
            const genId = await this.hooks.storeImage(r.job, msg);
            this.db
              .prepare(`UPDATE jobs SET generation_ids = json_insert(generation_ids, '$[#]', ?) WHERE id = ?`)
              .run(genId, r.job.id);
            this.hooks.jobUpdated(this.get(r.job.id));
          } catch (err) {
            const code = String((err as { code?: unknown }).code ?? '');
            r.storeError ??= code.startsWith('SQLITE') || code === 'ENOSPC' ? writeFailure(err) : `could not store an image: ${(err as Error).message}`;
            this.lanes[lane].worker?.send({ type: 'cancel', jobId: r.job.id });
          }
        });
        break;
      case 'paused':
        r.workerPaused = true;
        r.pauseRequested = false;
        r.rate = null;
        this.setStatus(r.job.id, 'paused');
        void this.pump();
        break;
      case 'resumed':
        break;
      case 'done':
      case 'failed': {
        this.stats.modelLoads[lane] = msg.modelLoads;
        if (r.cancelTimer) clearTimeout(r.cancelTimer);
        this.lanes[lane].running = null;
        void r.stored.then(async () => {
          if (this.closed) return;
          if (msg.type === 'done') {
            let modelId: string | null = null;
            let error: string | null = null;
            if (msg.output) {
              try {
                modelId = await this.hooks.registerOutput(r.job, msg.output);
              } catch (err) {
                error = `training finished but the model could not be registered: ${(err as Error).message}`;
              }
            }
            if (modelId) this.db.prepare('UPDATE jobs SET model_id = ? WHERE id = ?').run(modelId, r.job.id);
            error ??= r.storeError;
            this.finish(r.job.id, error ? 'failed' : 'completed', error);
          } else if (r.storeError) {
            this.finish(r.job.id, 'failed', r.storeError);
          } else {
            this.finish(r.job.id, msg.cancelled ? 'cancelled' : 'failed', msg.cancelled ? null : msg.error);
            // A failed job may leave the worker holding memory (a half-built arena): start afresh.
            if (!msg.cancelled) this.recycle(lane);
          }
          void this.pump();
        }).catch((err: unknown) => console.error(`job ${r.job.id}: ${writeFailure(err)}`));
        break;
      }
    }
  }

  private setStatus(id: string, status: JobStatus): Job {
    this.db.prepare('UPDATE jobs SET status = ? WHERE id = ?').run(status, id);
    const job = this.get(id);
    this.hooks.jobUpdated(job);
    return job;
  }

  /**
   * A job's final state. Never throws: when the disk is full the state is kept in memory (and shown) and
   * written at the next chance. A restart's note stays in front of the job's own error, or alone.
   */
  private finish(id: string, status: 'completed' | 'failed' | 'cancelled', error: string | null): Job {
    const finishedAt = Date.now();
    let noted = error;
    try {
      const prior = (this.db.prepare('SELECT error FROM jobs WHERE id = ?').get(id) as { error: string | null } | undefined)?.error;
      if (prior === INTERRUPTED_NOTE) noted = error ? `${INTERRUPTED_NOTE}; then: ${error}` : INTERRUPTED_NOTE;
      this.db.prepare('UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?').run(status, noted, finishedAt, id);
    } catch (err) {
      console.error(`job ${id}: its final state could not be written: ${writeFailure(err)}`);
      this.unsaved.set(id, { status, error: noted, finishedAt });
    }
    const job = this.get(id);
    this.hooks.jobUpdated(job);
    return job;
  }
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
