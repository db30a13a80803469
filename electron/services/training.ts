// Training folders: training.scan shows what a dataset folder holds before a run (images, captions,
// files that cannot be used) by the engine's scanDataset, the same rules as the run; setCaption edits
// one picture's caption file, only inside a folder the user scanned.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { StudioError } from '../api/contract.ts';
import type { CaptionUpdate, DatasetScan } from '../api/training.ts';
import { DatasetError, scanDataset as scanFolder, withTrigger, writeCaption } from '../engine/io/dataset.ts';
import { SCAN_IMAGE_LIMITS } from '../engine/io/image.ts';

export class TrainingFolders {
  /** Real paths of the folders scanned in this session: the only places setCaption writes into. */
  private readonly scanned = new Set<string>();

  async scan(dir: string, recursive: boolean, triggerWord: string): Promise<DatasetScan> {
    if (!existsSync(dir)) throw new StudioError(`No folder at ${dir}: pick the folder that holds the training images.`, 'not_found');
    // Scan limits: pictures are decoded whole here, in the studio; a decompression bomb is refused by its header.
    const scan = await scanFolder(dir, { recursive, triggerWord, limits: SCAN_IMAGE_LIMITS }).catch(asStudioError);
    this.scanned.add(await fsp.realpath(dir));
    return {
      datasetDir: dir,
      images: scan.items.map((i) => ({ path: i.path, caption: i.caption, captionSource: i.captionSource, width: i.width, height: i.height })),
      rejected: scan.rejected.map((r) => ({ path: r.path, reason: r.reason })),
    };
  }

  async setCaption(datasetDir: string, imagePath: string, caption: string, triggerWord: string): Promise<CaptionUpdate> {
    const folder = await fsp.realpath(datasetDir).catch(() => null);
    if (folder === null || !this.scanned.has(folder)) {
      throw new StudioError(`${datasetDir} has not been scanned: scan the folder before editing its captions.`, 'bad_path');
    }
    // Both the path as named and the file it leads to (through any link) must lie inside the folder.
    const named = path.resolve(datasetDir, imagePath);
    const real = await fsp.realpath(named).catch(() => {
      throw new StudioError(`No picture at ${imagePath}: scan the folder again.`, 'not_found');
    });
    if (!inside(path.resolve(datasetDir), named) || !inside(folder, real)) {
      throw new StudioError(`${imagePath} is not a picture inside the training folder ${datasetDir}.`, 'bad_path');
    }
    try {
      const written = await writeCaption(named, caption);
      return { path: named, sidecarPath: written.path, caption: withTrigger(written.caption, triggerWord), captionSource: written.source };
    } catch (err) {
      if (err instanceof DatasetError) throw new StudioError(`Cannot save the caption: ${err.message}.`, 'invalid_input');
      throw new StudioError(`Cannot save the caption of ${path.basename(named)}: ${(err as Error).message}`, 'write_failed');
    }
  }
}

function inside(folder: string, file: string): boolean {
  const rel = path.relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function asStudioError(err: unknown): never {
  if (err instanceof DatasetError) throw new StudioError(err.message, 'invalid_input');
  throw err;
}
