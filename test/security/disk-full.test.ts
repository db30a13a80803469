// A full disk, for real: the data folder on a small tmpfs (needs root to mount; skipped with the reason
// printed otherwise). Export and generation fail with a clear message, the studio stays up, nothing
// written before is lost, and work continues once space is freed.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch } from '../../electron/api/dispatch.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { nextEvent, probeModels, probeStudio, tempDir, txt2img, waitForJob } from '../services/helpers.ts';

function mountTmpfs(dir: string): string | null {
  if (process.platform !== 'linux') return `tmpfs needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Fills the file system that holds `dir` until it says ENOSPC; returns the filler file. */
function fill(dir: string): string {
  const file = join(dir, 'filler.bin');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    try {
      for (;;) writeSync(fd, block, 0, 512);
    } catch {
      // full to the last block
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

const tmp = tempDir('ldm-diskfull-');
const mnt = join(tmp.dir, 'mnt');
mkdirSync(mnt);
const skipReason = mountTmpfs(mnt);
if (skipReason) console.log(`test/security/disk-full.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('a full disk under the data folder', () => {
  let studio: Studio;
  beforeAll(async () => {
    studio = await probeStudio(join(mnt, 'data'), await probeModels(tmp.dir));
  });
  afterAll(async () => {
    await studio?.close();
    execFileSync('umount', [mnt]);
    tmp.cleanup();
  });

  it('fails the export and the running job with a clear message, keeps the studio and its history, and carries on once space is freed', async () => {
    const first = await studio.handlers['jobs.submit']({ spec: txt2img('before the disk filled') });
    expect((await waitForJob(studio, first.id)).status).toBe('completed');

    let filler = fill(mnt);
    const exp = await dispatch(studio, 'history.export', { withImages: true });
    expect(exp).toMatchObject({ ok: false, error: { code: 'disk_full', message: expect.stringMatching(/The disk is full.*Free some space/) } });
    expect(readdirSync(join(mnt, 'data', 'exports')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    rmSync(filler);

    // A long job; once it is under way the WAL is emptied and the disk filled, so its next progress write fails.
    const long = await studio.handlers['jobs.submit']({ spec: txt2img('during', { steps: 50, batchCount: 20 }) });
    await nextEvent(studio, 'jobs.progress', (p) => p.jobId === long.id);
    const side = new Database(join(mnt, 'data', 'history.db'));
    side.pragma('wal_checkpoint(TRUNCATE)');
    side.close();
    filler = fill(mnt);
    const failed = await waitForJob(studio, long.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/The disk is full, so the job was stopped; the images it finished are kept/);
    // Still up, history intact.
    const found = await dispatch(studio, 'history.search', { query: 'before' });
    expect(found).toMatchObject({ ok: true, output: { total: 1 } });

    rmSync(filler);
    const after = await studio.handlers['jobs.submit']({ spec: txt2img('after space was freed') });
    expect((await waitForJob(studio, after.id)).status).toBe('completed');
    // The failed job's final state reached the database once there was room.
    const db = new Database(join(mnt, 'data', 'history.db'), { readonly: true });
    expect(db.prepare('SELECT status FROM jobs WHERE id = ?').get(long.id)).toEqual({ status: 'failed' });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  }, 60_000);
});
