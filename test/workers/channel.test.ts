// The worker's message channel under both ways of starting it: Electron utilityProcess (process.parentPort,
// messages in e.data) and child_process.fork (process.send); stand-in process objects, then a real worker
// process that has only a parentPort.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { forkWorkerAdapter } from '../../electron/workers/adapter.ts';
import { parentChannel, type WorkerProcessLike } from '../../electron/workers/channel.ts';
import { serveJobs, type JobHandlers } from '../../electron/workers/host.ts';
import type { FromWorker, RunJob } from '../../electron/workers/protocol.ts';
import { PROBE_WORKER, probeModels, tempDir, txt2img, waitForJob } from '../services/helpers.ts';

const job = (jobId: string): RunJob => ({
  type: 'run',
  jobId,
  spec: txt2img('a red fox'),
  model: { id: 'm', name: 'm', path: '/m', hash: 'h', kind: 'ldm', format: 'package' },
  loras: [],
  init: null,
  mask: new Uint8Array([1, 2, 3]),
  seed: 5,
  skipImages: 0,
  workDir: '/tmp',
});

/** Echoes what the job carried, so a test sees the message arrived whole. */
const handlers: JobHandlers = {
  txt2img: async (j, ctx) => {
    ctx.image(0, j.mask!, j.seed, {}, null);
    return { output: null };
  },
};

const until = async (pred: () => boolean) => {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
};

/** A process object as a utility process has it: a parentPort, no send. */
function utilityProcessLike() {
  const posted: FromWorker[] = [];
  const port = new EventEmitter();
  const proc = new EventEmitter() as EventEmitter & WorkerProcessLike & { exits: number[] };
  proc.exits = [];
  proc.exit = (code?: number) => void proc.exits.push(code ?? 0);
  proc.parentPort = { postMessage: (m: unknown) => void posted.push(m as FromWorker), on: (e: 'message', l: (e: { data: unknown }) => void) => port.on(e, l) };
  return { proc, posted, deliver: (data: unknown) => port.emit('message', { data, ports: [] }) };
}

describe('worker channel', () => {
  it('under utilityProcess: posts to parentPort and reads each message from e.data', async () => {
    const { proc, posted, deliver } = utilityProcessLike();
    serveJobs(handlers, parentChannel(proc));
    expect(posted[0]).toMatchObject({ type: 'ready' });
    deliver(job('j1'));
    await until(() => posted.some((m) => m.type === 'done'));
    expect(posted.slice(1)).toEqual([
      { type: 'image', jobId: 'j1', index: 0, png: new Uint8Array([1, 2, 3]), seed: 5, timings: {}, provider: null },
      { type: 'done', jobId: 'j1', modelLoads: 0, output: null },
    ]);
    // No fork IPC channel to lose, so nothing listens for one.
    expect(proc.listenerCount('disconnect')).toBe(0);
  });

  it('under fork: uses process.send and message events, and exits when the studio disconnects', async () => {
    const sent: FromWorker[] = [];
    const proc = new EventEmitter() as EventEmitter & WorkerProcessLike & { exits: number[] };
    proc.exits = [];
    proc.exit = (code?: number) => void proc.exits.push(code ?? 0);
    proc.send = (m: unknown) => (sent.push(m as FromWorker), true);
    serveJobs(handlers, parentChannel(proc));
    proc.emit('message', job('j2'));
    await until(() => sent.some((m) => m.type === 'done'));
    expect(sent.map((m) => m.type)).toEqual(['ready', 'image', 'done']);
    expect(proc.exits).toEqual([]);
    proc.emit('disconnect');
    expect(proc.exits).toEqual([0]);
  });

  it('refuses to start without a channel, saying how to start it', () => {
    const proc = new EventEmitter() as EventEmitter & WorkerProcessLike;
    proc.exit = () => undefined;
    expect(() => parentChannel(proc)).toThrow(/child_process\.fork .*utilityProcess\.fork/);
  });
});

describe('a worker process with only a parentPort', () => {
  let tmp: ReturnType<typeof tempDir>;
  let studio: Studio | undefined;
  afterEach(async () => {
    await studio?.close();
    tmp?.cleanup();
  });

  it('runs a real generation job end to end', async () => {
    tmp = tempDir();
    const preload = new URL('./fixtures/utility-parent-port.mjs', import.meta.url).href;
    studio = await createStudio({
      dataDir: join(tmp.dir, 'data'),
      transport: 'web',
      embeddedModelsDir: await probeModels(tmp.dir),
      workerAdapter: forkWorkerAdapter({ entry: PROBE_WORKER, execArgv: ['--import', 'tsx', '--import', preload] }),
    });
    const { id } = await studio.handlers['jobs.submit']({ spec: txt2img('a red fox', { seed: 3 }) });
    const done = await waitForJob(studio, id, undefined, 60_000);
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.generationIds).toHaveLength(1);
  }, 90_000);
});
