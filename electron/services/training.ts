// training.scan: what a dataset folder holds before a run (images, captions, files that cannot be
// used), read by the engine's scanDataset: the same rules as the training run.
import { existsSync } from 'node:fs';
import { StudioError } from '../api/contract.ts';
import type { DatasetScan } from '../api/training.ts';
import { DatasetError, scanDataset as scanFolder } from '../engine/io/dataset.ts';

export async function scanDataset(dir: string, recursive: boolean, triggerWord: string): Promise<DatasetScan> {
  if (!existsSync(dir)) throw new StudioError(`No folder at ${dir}: pick the folder that holds the training images.`, 'not_found');
  try {
    const scan = await scanFolder(dir, { recursive, triggerWord });
    return {
      datasetDir: dir,
      images: scan.items.map((i) => ({ path: i.path, caption: i.caption, captionSource: i.captionSource, width: i.width, height: i.height })),
      rejected: scan.rejected.map((r) => ({ path: r.path, reason: r.reason })),
    };
  } catch (err) {
    if (err instanceof DatasetError) throw new StudioError(err.message, 'invalid_input');
    throw err;
  }
}
