// Atomic file writes: the user's files are either the old version or the new one, never half-written.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Temp file in the same folder + fsync + rename (+ fsync of the folder where the platform allows it). */
export async function writeFileAtomic(file: string, write: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'wx');
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Folders cannot be opened or fsynced on some platforms (Windows); the rename is still atomic.
  }
}

/** Writes all of `bytes` at the current position (a single write may be partial). */
export async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/** Writes bytes atomically. */
export async function writeBytesAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(file, (fh) => writeAll(fh, bytes));
}
