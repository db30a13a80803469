// File hashing: the one way the studio reads a file's sha256 (model registry, model.json checks,
// A1111's model hash, conversions' provenance).
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';

/** sha256 of the files' bytes in order (one file: A1111's full "Model hash" source). */
export async function sha256Files(files: readonly string[], onProgress?: (done: number, total: number) => void): Promise<string> {
  const h = createHash('sha256');
  let total = 0;
  if (onProgress) for (const f of files) total += (await fsp.stat(f)).size;
  let done = 0;
  for (const f of files) {
    for await (const chunk of createReadStream(f, { highWaterMark: 4 << 20 })) {
      h.update(chunk as Buffer);
      done += (chunk as Buffer).length;
      onProgress?.(done, total);
    }
  }
  return h.digest('hex');
}
