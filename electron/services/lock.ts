// One studio per data folder: two job queues on one history.db would run every job twice.
// The lock is SQLite's own (an exclusive lock on studio.lock.db held by an open connection): taking it is
// atomic, two processes starting at the same instant cannot both get it, and the operating system drops it
// when the process dies, so there are no stale locks to take over. studio.lock beside it names the
// holder's process id (written atomically once the lock is held) for the message the second studio shows.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StudioError } from '../api/contract.ts';

export const LOCK_DB = 'studio.lock.db';
export const LOCK_PID = 'studio.lock';

/** Takes the data folder's lock; returns the function that releases it. */
export function lockDataDir(dataDir: string): () => void {
  const db = new Database(join(dataDir, LOCK_DB), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept until the connection closes.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder; COMMIT');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY') || (err as { code?: string }).code === 'SQLITE_LOCKED') {
      const pid = holderPid(dataDir);
      throw new StudioError(
        `The data folder ${dataDir} is open in another studio${pid ? ` (process ${pid})` : ''}; close that one or pick another folder.`,
        'locked',
      );
    }
    throw new StudioError(`Could not lock the data folder ${dataDir}: ${(err as Error).message}`, 'locked');
  }
  const pidFile = join(dataDir, LOCK_PID);
  const tmp = `${pidFile}.${process.pid}.tmp`;
  writeFileSync(tmp, String(process.pid));
  renameSync(tmp, pidFile);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // The pid file goes first, while the lock is still held; studio.lock.db itself stays (deleting a
    // lock file lets a waiting process lock a file that no longer has a name).
    rmSync(pidFile, { force: true });
    db.close();
  };
}

function holderPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, LOCK_PID), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
