// training.scan: what a dataset folder holds before a run (images, captions, files that cannot be
// used), read by the same engine code that the training run will use.
import { existsSync } from 'node:fs';
import { StudioError } from '../api/contract.ts';
import type { DatasetScan } from '../api/training.ts';
import { loadDataset } from '../engine/io/dataset.ts';

/** Pictures are decoded at this small size only to prove they decode (the run uses its own size). */
const SCAN_SIZE = 32;

export async function scanDataset(dir: string, recursive: boolean, triggerWord: string): Promise<DatasetScan> {
  if (!existsSync(dir)) throw new StudioError(`No folder at ${dir}: pick the folder that holds the training images.`, 'not_found');
  const ds = await loadDataset(dir, { width: SCAN_SIZE, height: SCAN_SIZE, recursive, triggerWord });
  return {
    datasetDir: dir,
    images: ds.items.map((i) => ({ path: i.path, caption: i.caption, captionSource: i.captionSource, width: i.width, height: i.height })),
    rejected: ds.rejected.map((r) => ({ path: r.path, reason: r.reason })),
  };
}
