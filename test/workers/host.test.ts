// The worker-side host over an in-memory port: model cache, busy refusal, cancel, pause and resume.
import { describe, expect, it } from 'vitest';
import type { TrainSpec } from '../../electron/api/jobs.ts';
import { ModelCache, serveJobs, type JobHandlers, type WorkerPort } from '../../electron/workers/host.ts';
import type { FromWorker, RunJob, ToWorker } from '../../electron/workers/protocol.ts';

function memoryPort() {
  const sent: FromWorker[] = [];
  let listener: (m: ToWorker) => void = () => undefined;
  const waiters: { pred: (m: FromWorker) => boolean; resolve: (m: FromWorker) => void }[] = [];
  const port: WorkerPort = {
    send(m) {
      sent.push(m);
      for (const w of waiters.splice(0)) (w.pred(m) ? w.resolve(m) : waiters.push(w));
    },
    onMessage: (l) => (listener = l),
  };
  return {
    port,
    sent,
    post: (m: ToWorker) => listener(m),
    next: (pred: (m: FromWorker) => boolean) =>
      new Promise<FromWorker>((resolve) => {
        const hit = sent.find(pred);
        if (hit) resolve(hit);
        else waiters.push({ pred, resolve });
      }),
  };
}

const trainJob = (jobId: string, steps: number): RunJob => ({
  type: 'run',
  jobId,
  spec: { kind: 'train', steps } as TrainSpec,
  model: { id: 'm', name: 'm', path: '/m', hash: 'h', kind: 'ldm', format: 'package' },
  loras: [],
  init: null,
  mask: null,
  seed: 0,
  skipImages: 0,
  workDir: '/tmp',
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const handlers: JobHandlers = {
  train: async (job, ctx) => {
    await ctx.models.get('base', async () => 'loaded');
    const steps = (job.spec as TrainSpec).steps;
    for (let step = 1; step <= steps; step++) {
      await ctx.waitIfPaused();
      if (ctx.signal.aborted) throw new Error('stopped');
      await sleep(2);
      ctx.progress({ step, total: steps, loss: [{ step, loss: 1 / step }] });
    }
    return { output: null };
  },
};

describe('worker host', () => {
  it('counts one load per key, shares a load in flight, and forgets failed loads', async () => {
    const cache = new ModelCache();
    let built = 0;
    const load = async () => ++built;
    expect(await Promise.all([cache.get('a', load), cache.get('a', load)])).toEqual([1, 1]);
    expect(cache.loads).toBe(1);
    await expect(cache.get('b', async () => Promise.reject(new Error('bad file')))).rejects.toThrow('bad file');
    await sleep(0);
    expect(await cache.get('b', load)).toBe(2);
    cache.retain((k) => k === 'b');
    expect(await cache.get('a', load)).toBe(3);
    expect(cache.loads).toBe(4);
  });

  it('runs a job, refuses a second one while busy, and reports done with the load count', async () => {
    const p = memoryPort();
    serveJobs(handlers, p.port);
    expect(p.sent[0]).toMatchObject({ type: 'ready' });
    p.post(trainJob('j1', 5));
    p.post(trainJob('j2', 5));
    expect(await p.next((m) => m.type === 'failed')).toMatchObject({ jobId: 'j2', error: 'this worker is busy with job j1', cancelled: false });
    expect(await p.next((m) => m.type === 'done')).toMatchObject({ jobId: 'j1', modelLoads: 1 });
    expect(p.sent.filter((m) => m.type === 'progress').map((m) => (m as { step: number }).step)).toEqual([1, 2, 3, 4, 5]);
    p.post(trainJob('j3', 2));
    expect(await p.next((m) => m.type === 'done' && m.jobId === 'j3')).toMatchObject({ modelLoads: 1 });
  });

  it('pauses at the next step boundary, resumes, and cancels a paused job', async () => {
    const p = memoryPort();
    serveJobs(handlers, p.port);
    p.post(trainJob('t', 1000));
    await p.next((m) => m.type === 'progress' && m.step === 3);
    p.post({ type: 'pause', jobId: 't' });
    await p.next((m) => m.type === 'paused');
    const stepAtPause = p.sent.filter((m) => m.type === 'progress').length;
    await sleep(30);
    expect(p.sent.filter((m) => m.type === 'progress').length).toBe(stepAtPause);
    p.post({ type: 'resume', jobId: 't' });
    await p.next((m) => m.type === 'resumed');
    await p.next((m) => m.type === 'progress' && m.step === stepAtPause + 3);
    p.post({ type: 'pause', jobId: 't' });
    await p.next((m) => m.type === 'paused' && p.sent.filter((x) => x.type === 'paused').length === 2);
    p.post({ type: 'cancel', jobId: 't' });
    expect(await p.next((m) => m.type === 'failed')).toMatchObject({ jobId: 't', cancelled: true, error: 'cancelled' });
  });

  it('fails a job kind the worker has no handler for', async () => {
    const p = memoryPort();
    serveJobs({}, p.port);
    p.post(trainJob('x', 1));
    expect(await p.next((m) => m.type === 'failed')).toMatchObject({ error: 'this worker cannot run train jobs' });
  });
});
