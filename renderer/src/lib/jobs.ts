// Submitting a job and following it to the end: progress events for this job only, then the final
// job record (or the failure as a readable error).
import type { StudioClient } from '../../../electron/api/index.ts';
import type { Job, JobProgress, JobSpecInput } from '../../../electron/api/jobs.ts';
import { StudioRequestError } from './errors.ts';

export interface RunningJob {
  job: Job;
  done: Promise<Job>;
  cancel(): Promise<void>;
}

const FINISHED = new Set(['completed', 'failed', 'cancelled']);

export async function startJob(studio: StudioClient, spec: JobSpecInput, onProgress: (p: JobProgress) => void, onUpdate?: (job: Job) => void): Promise<RunningJob> {
  // Subscribe before submitting so that no early event is missed; filter once the id is known.
  let jobId: string | null = null;
  const early: JobProgress[] = [];
  let finish: (job: Job) => void = () => {};
  const done = new Promise<Job>((resolve) => (finish = resolve));
  const offProgress = studio.on('jobs.progress', (p) => {
    if (jobId === null) early.push(p);
    else if (p.jobId === jobId) onProgress(p);
  });
  let lastJob: Job | null = null;
  const offUpdated = studio.on('jobs.updated', (job) => {
    if (job.id !== jobId) return;
    lastJob = job;
    onUpdate?.(job);
    if (FINISHED.has(job.status)) finish(job);
  });
  let job: Job;
  try {
    job = await studio.invoke('jobs.submit', { spec });
  } catch (err) {
    offProgress();
    offUpdated();
    throw err;
  }
  jobId = job.id;
  early.filter((p) => p.jobId === jobId).forEach(onProgress);
  if (FINISHED.has(job.status)) finish(job);
  const result = done.then((final) => {
    offProgress();
    offUpdated();
    if (final.status === 'failed') throw new StudioRequestError(final.error ?? 'The job failed without a reason.', 'job_failed');
    return final;
  });
  return {
    job: lastJob ?? job,
    done: result,
    async cancel() {
      await studio.invoke('jobs.cancel', { id: job.id });
    },
  };
}
