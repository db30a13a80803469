// Training folders: training.scan shows what a dataset folder holds before a run (images, captions,
// files that cannot be used) by the engine's scanDataset, the same rules as the run; setCaption edits
// one picture's caption file, only inside a folder the user scanned. Training runs as the Train view
// lists them (from the job table), the sample pictures a run wrote, and the folder browser of web mode.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { StudioError } from '../api/contract.ts';
import type { CaptionUpdate, DatasetScan, FolderListing, TrainingRun, TrainingSamples } from '../api/training.ts';
import { DatasetError, scanDataset as scanFolder, withTrigger, writeCaption } from '../engine/io/dataset.ts';
import { SCAN_IMAGE_LIMITS } from '../engine/io/image.ts';
import type { PathPolicy } from './files.ts';
import type { JobQueue } from './jobs.ts';

/** Pictures of a scan that get a thumbnail (the Train view lists this many), and its longest side. */
const THUMBNAILS = 200;
const THUMBNAIL_SIDE = 64;
/** Sample pictures larger than this are sent scaled down (the grid shows them small). */
const SAMPLE_SIDE = 256;
/** At most this many sub-folders in one listing. */
const MAX_FOLDERS = 2000;
const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

export class TrainingFolders {
  /** Real paths of the folders scanned in this session: the only places setCaption writes into. */
  private readonly scanned = new Set<string>();

  async scan(dir: string, recursive: boolean, triggerWord: string): Promise<DatasetScan> {
    if (!existsSync(dir)) throw new StudioError(`No folder at ${dir}: pick the folder that holds the training images.`, 'not_found');
    // Scan limits: pictures are decoded whole here, in the studio; a decompression bomb is refused by its header.
    const scan = await scanFolder(dir, { recursive, triggerWord, limits: SCAN_IMAGE_LIMITS }).catch(asStudioError);
    this.scanned.add(await fsp.realpath(dir));
    const thumbnails = await Promise.all(scan.items.slice(0, THUMBNAILS).map((i) => thumbnail(i.path)));
    return {
      datasetDir: dir,
      images: scan.items.map((i, k) => ({ path: i.path, caption: i.caption, captionSource: i.captionSource, width: i.width, height: i.height, thumbnail: thumbnails[k] ?? undefined })),
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

/** A picture scaled to fit THUMBNAIL_SIDE (never enlarged) as a PNG data URL; null when it cannot be read. */
async function thumbnail(file: string): Promise<string | null> {
  return sharp(file, { limitInputPixels: SCAN_IMAGE_LIMITS.maxPixels })
    .rotate()
    .resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer()
    .then((b) => `data:image/png;base64,${b.toString('base64')}`, () => null);
}

/** Training runs, newest first, each with the loss it recorded last. */
export function trainingRuns(queue: JobQueue, limit: number): TrainingRun[] {
  return queue.list(undefined, limit, ['train']).map((job) => ({ job, lastLoss: queue.lastLoss(job.id) }));
}

/**
 * The sample pictures a run wrote into its work folder (`work/samples/step-NNNNNN-I.png`, finetune/output.ts):
 * one row per step, one column per prompt.
 */
export async function trainingSamples(queue: JobQueue, trainingDir: string, jobId: string): Promise<TrainingSamples> {
  const job = queue.get(jobId);
  if (job.spec.kind !== 'train') throw new StudioError(`Job ${jobId} is a ${job.kind} job, not a training run.`, 'invalid_input');
  const dir = path.join(trainingDir, job.id, 'work', 'samples');
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const byStep = new Map<number, Map<number, string>>();
  let columns = job.spec.samplePrompts.length;
  for (const name of names) {
    const m = /^step-(\d+)-(\d+)\.png$/.exec(name);
    if (!m) continue;
    const [step, index] = [Number(m[1]), Number(m[2])];
    if (!byStep.has(step)) byStep.set(step, new Map());
    byStep.get(step)!.set(index, name);
    columns = Math.max(columns, index + 1);
  }
  const steps = await Promise.all(
    [...byStep.keys()].sort((a, b) => a - b).map(async (step) => ({
      step,
      images: await Promise.all(Array.from({ length: columns }, (_, i) => byStep.get(step)!.get(i)).map((n) => (n ? samplePicture(path.join(dir, n)) : null))),
    })),
  );
  // Without sample prompts the run draws its trigger word, or the first caption of the data set.
  const prompts = Array.from({ length: columns }, (_, i) => job.spec.kind === 'train' ? (job.spec.samplePrompts[i] ?? (job.spec.triggerWord || 'the first caption')) : '');
  return { prompts, steps };
}

async function samplePicture(file: string): Promise<string | null> {
  try {
    const bytes = await fsp.readFile(file);
    const meta = await sharp(bytes).metadata();
    const png = Math.max(meta.width ?? 0, meta.height ?? 0) > SAMPLE_SIDE ? await sharp(bytes).resize(SAMPLE_SIDE, SAMPLE_SIDE, { fit: 'inside' }).png().toBuffer() : bytes;
    return `data:image/png;base64,${png.toString('base64')}`;
  } catch {
    return null;
  }
}

/**
 * Web mode's folder browser: the sub-folders of a folder the policy lets clients read, or (no path) the
 * allowed folders themselves. Nothing outside them is listed: a sub-folder that leads elsewhere through
 * a link is left out, and a parent outside them is not offered.
 */
export async function browseFolders(policy: PathPolicy, dir: string | undefined): Promise<FolderListing> {
  if (dir === undefined) {
    const roots = [];
    for (const root of policy.roots()) {
      if (await isFolder(root)) roots.push({ name: root, path: root });
    }
    return { path: null, parent: null, folders: roots, images: 0, truncated: false };
  }
  if (!path.isAbsolute(dir)) throw new StudioError(`${dir} is not a full path: pick a folder from the list.`, 'bad_path');
  const abs = policy.readable(dir, 'training folder');
  const entries = await fsp.readdir(abs, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new StudioError(`No folder at ${dir}: pick another one.`, 'not_found');
    if (err.code === 'ENOTDIR') throw new StudioError(`${dir} is a file, not a folder.`, 'invalid_input');
    throw new StudioError(`Cannot list ${dir}: ${err.code ?? err.message}.`, 'read_failed');
  });
  const folders: FolderListing['folders'] = [];
  let images = 0;
  let truncated = false;
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const child = path.join(abs, e.name);
    if (e.isFile() && IMAGE_EXT.test(e.name)) images++;
    if (!(e.isDirectory() || (e.isSymbolicLink() && (await isFolder(child))))) continue;
    if (!allowedPath(policy, child)) continue;
    if (folders.length >= MAX_FOLDERS) {
      truncated = true;
      continue;
    }
    folders.push({ name: e.name, path: child });
  }
  const up = path.dirname(abs);
  const parent = up !== abs && allowedPath(policy, up) ? up : null;
  return { path: abs, parent, folders, images, truncated };
}

function allowedPath(policy: PathPolicy, p: string): boolean {
  try {
    policy.readable(p, 'folder');
    return true;
  } catch {
    return false;
  }
}

async function isFolder(p: string): Promise<boolean> {
  return fsp.stat(p).then((s) => s.isDirectory(), () => false);
}

function inside(folder: string, file: string): boolean {
  const rel = path.relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function asStudioError(err: unknown): never {
  if (err instanceof DatasetError) throw new StudioError(err.message, 'invalid_input');
  throw err;
}
