// Crash safety on a real SQLite file: killed workers, a worker out of memory, a killed studio.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStudio, type Studio } from '../../electron/services/studio.ts';
import { forkWorkerAdapter } from '../../electron/workers/adapter.ts';
import { nextEvent, PROBE_WORKER, probeModels, probeStudio, tempDir, txt2img, waitForJob } from './helpers.ts';

function integrity(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('crash safety', () => {
  let tmp: ReturnType<typeof tempDir>;
  let models: string;
  let dataDir: string;
  const studios: Studio[] = [];
  beforeEach(async () => {
    tmp = tempDir();
    models = await probeModels(tmp.dir);
    dataDir = join(tmp.dir, 'data');
  });
  afterEach(async () => {
    for (const s of studios.splice(0)) await s.close();
    tmp.cleanup();
  });

  it('a worker killed with SIGKILL mid-job fails that job with the reason; the next job gets a fresh worker', async () => {
    const studio = await probeStudio(dataDir, models, { PROBE_STEP_MS: '30' });
    studios.push(studio);
    const victim = await studio.handlers['jobs.submit']({ spec: txt2img('doomed', { steps: 100 }) });
    const next = await studio.handlers['jobs.submit']({ spec: txt2img('survivor') });
    await nextEvent(studio, 'jobs.progress', (p) => p.jobId === victim.id && p.step >= 2);
    const pid = studio.workerStats().pids.generate!;
    process.kill(pid, 'SIGKILL');

    const failed = await waitForJob(studio, victim.id);
    expect(failed.status).toBe('failed');
    // No evidence of memory trouble (a tiny job, no kernel OOM line): the kill is reported as a kill.
    expect(failed.error).toMatch(/killed \(signal SIGKILL\)\.$/);
    expect(failed.error).not.toMatch(/memory/);
    const ok = await waitForJob(studio, next.id);
    expect(ok.status).toBe('completed');
    const stats = studio.workerStats();
    expect(stats.spawned.generate).toBe(2);
    expect(stats.pids.generate).not.toBe(pid);
    expect(integrity(join(dataDir, 'history.db'))).toBe('ok');
    expect((await studio.handlers['history.search']({ query: '', trashed: false, limit: 10, offset: 0 })).total).toBe(1);
  });

  it('a worker that runs out of memory fails its job with an out-of-memory reason', async () => {
    const studio = await createStudio({
      dataDir,
      transport: 'web',
      embeddedModelsDir: models,
      workerAdapter: forkWorkerAdapter({ entry: PROBE_WORKER, execArgv: ['--import', 'tsx', '--max-old-space-size=64'] }),
    });
    studios.push(studio);
    const job = await studio.handlers['jobs.submit']({ spec: txt2img('__oom__') });
    const after = await studio.handlers['jobs.submit']({ spec: txt2img('fine') });
    const failed = await waitForJob(studio, job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/ran out of memory/);
    expect((await waitForJob(studio, after.id)).status).toBe('completed');
  });

  it('a studio killed with SIGKILL and started again keeps its history and runs its queue to the end', async () => {
    const script = fileURLToPath(new URL('./fixtures/studio-process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, models], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ids = await new Promise<{ done: string; slow: string; queued: string; worker: number }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      child.on('exit', (code) => reject(new Error(`the studio process exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    // The orphaned worker notices its parent is gone and exits.
    for (let i = 0; i < 50 && alive(ids.worker); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(ids.worker)).toBe(false);
    expect(integrity(join(dataDir, 'history.db'))).toBe('ok');

    const studio = await probeStudio(dataDir, models);
    studios.push(studio);
    expect((await studio.handlers['history.get']({ id: ids.done })).prompt).toBe('a finished fox');
    const slow = await waitForJob(studio, ids.slow);
    const queued = await waitForJob(studio, ids.queued);
    expect([slow.status, queued.status]).toEqual(['completed', 'completed']);
    // The restart's note stays in the job's record after the rerun.
    expect(slow.error).toBe('interrupted by a restart; queued again');
    // The batch's first image was stored before the kill; the rerun makes only the other two.
    const found = await studio.handlers['history.search']({ query: 'slow cat', trashed: false, limit: 10, offset: 0 });
    expect(found.items.map((g) => g.params.seed).sort()).toEqual([20, 21, 22]);
    expect(slow.generationIds).toHaveLength(3);
    expect((await studio.handlers['history.search']({ query: 'queued', trashed: false, limit: 10, offset: 0 })).total).toBe(1);
  });
});
