// createStudio as the transports see it: requests through the contract's generic dispatch, one studio
// per data folder, idle workers giving their memory back.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import { forkWorkerAdapter } from '../../electron/workers/adapter.ts';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { PROBE_WORKER, probeModels, tempDir, txt2img, waitForJob } from './helpers.ts';

describe('createStudio', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dataDir: string;
  let models: string;
  let studio: Studio;
  beforeEach(async () => {
    tmp = tempDir();
    dataDir = join(tmp.dir, 'data');
    models = await probeModels(tmp.dir);
    studio = await createStudio({
      dataDir,
      transport: 'web',
      embeddedModelsDir: models,
      idleWorkerMs: 300,
      workerAdapter: forkWorkerAdapter({ entry: PROBE_WORKER }),
    });
  });
  afterEach(async () => {
    await studio.close();
    tmp.cleanup();
  });

  it('serves requests through the contract: defaults filled in, bad input refused with the field named', async () => {
    const ok = await dispatch(studio, 'jobs.submit', { spec: { kind: 'txt2img', modelId: 'embedded:probe', prompt: 'a fox', width: 16, height: 16, steps: 2 } });
    expect(ok.ok).toBe(true);
    const job = (ok as { output: { id: string; spec: { seed: number; guidance: number } } }).output;
    expect(job.spec.guidance).toBe(1); // the probe package's own default (model.json sampling), not a contract default
    expect(Number.isInteger(job.spec.seed)).toBe(true);
    expect((await waitForJob(studio, job.id)).status).toBe('completed');

    const bad = await dispatch(studio, 'jobs.submit', { spec: { kind: 'txt2img', modelId: 'embedded:probe', prompt: 'x', width: 17 } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect((bad as { error: { message: string } }).error.message).toMatch(/width/);
    const missing = await dispatch(studio, 'history.get', { id: 'nope' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('keeps a second studio off the same data folder until the first closes', async () => {
    await expect(createStudio({ dataDir, transport: 'ipc', embeddedModelsDir: models })).rejects.toThrow(/open in another studio \(process \d+\)/);
    await studio.close();
    studio = await createStudio({ dataDir, transport: 'web', embeddedModelsDir: models });
    expect((await studio.handlers['models.list']({})).length).toBe(1);
  });

  it('stops an idle generation worker after the idle time, and starts a fresh one for the next job', async () => {
    const statuses: number[] = [];
    studio.on('system.status', (s) => statuses.push(s.activeJobs));
    const a = await studio.handlers['jobs.submit']({ spec: txt2img('one') });
    await waitForJob(studio, a.id);
    const pid = studio.workerStats().pids.generate;
    expect(pid).not.toBeNull();
    await new Promise((r) => setTimeout(r, 800));
    expect(studio.workerStats().pids.generate).toBeNull();
    const b = await studio.handlers['jobs.submit']({ spec: txt2img('two') });
    expect((await waitForJob(studio, b.id)).status).toBe('completed');
    expect(studio.workerStats().spawned.generate).toBe(2);
    expect(statuses.at(-1)).toBe(0);
    expect(Math.max(...statuses)).toBe(1);
  });
});
