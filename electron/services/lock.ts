// One studio per data folder: two job queues on one history.db would run every job twice.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StudioError } from '../api/contract.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data folder's lock (a file holding our pid); a lock left by a dead process is taken over. */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'studio.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new StudioError(
          `The data folder ${dataDir} is open in another studio (process ${pid}); close that one or pick another folder.`,
          'locked',
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new StudioError(`Could not lock the data folder ${dataDir}; another studio is starting on it.`, 'locked');
}
