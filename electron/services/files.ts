// The data folder's layout and the one way files are written into it (temp file + rename).
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { StudioError } from '../api/contract.ts';
import { DEFAULT_IMAGE_LIMITS } from '../engine/io/image.ts';

export interface DataPaths {
  readonly root: string;
  readonly db: string;
  readonly gallery: string;
  readonly thumbnails: string;
  readonly models: string;
  readonly training: string;
  readonly trash: string;
  readonly exports: string;
  /** Pictures sent over web mode's POST /upload, named by their upload id. */
  readonly uploads: string;
}

export function dataPaths(dataDir: string): DataPaths {
  const root = normalize(dataDir);
  return {
    root,
    db: join(root, 'history.db'),
    gallery: join(root, 'gallery'),
    thumbnails: join(root, 'gallery', 'thumbnails'),
    models: join(root, 'models'),
    training: join(root, 'training'),
    trash: join(root, 'trash'),
    exports: join(root, 'exports'),
    uploads: join(root, 'uploads'),
  };
}

export function ensureDataDir(dataDir: string): DataPaths {
  const p = dataPaths(dataDir);
  for (const dir of [p.root, p.gallery, p.thumbnails, p.models, p.training, p.trash, p.exports, p.uploads]) {
    mkdirSync(dir, { recursive: true });
  }
  return p;
}

/** A path stored in the history (relative, '/'-separated) → an absolute path that stays inside the data folder. */
export function resolveDataPath(dataDir: string, relPath: string): string {
  const abs = join(dataDir, ...relPath.split('/'));
  const rel = relative(dataDir, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new StudioError(`"${relPath}" is not a path inside the data folder`, 'bad_path');
  }
  return abs;
}

/** The file of an upload id (24 hex digits, as web mode's POST /upload names them). */
export function uploadPath(paths: DataPaths, id: string): string {
  if (!/^[0-9a-f]{24}$/.test(id)) throw new StudioError(`"${id}" is not an upload id.`, 'invalid_input');
  return join(paths.uploads, id);
}

/** An uploaded picture's bytes (at most the image size limit). */
export async function readUpload(paths: DataPaths, id: string): Promise<Buffer> {
  const file = uploadPath(paths, id);
  const size = await stat(file).then(
    (st) => st.size,
    () => {
      throw new StudioError(`No upload "${id}": send the picture again.`, 'not_found');
    },
  );
  if (size > DEFAULT_IMAGE_LIMITS.maxBytes) throw new StudioError(`Upload "${id}" is ${size} bytes, over the ${DEFAULT_IMAGE_LIMITS.maxBytes}-byte limit for images.`, 'bad_image');
  return readFile(file);
}

export function toDataPath(dataDir: string, absPath: string): string {
  return relative(dataDir, absPath).split(sep).join('/');
}

export { writeBytesAtomic } from '../engine/io/atomic.ts';

/**
 * Which outside paths a client may name (history import/export, training folders, model import): the data
 * folder, folders allowed at start (`--allow DIR` in web mode), and files or folders the user picked in a
 * desktop dialog. Paths are compared after following links, so a link inside an allowed folder that
 * leads elsewhere is refused. The studio's own files (history.db, the lock, gallery, trash, models) are
 * never a target for writes.
 */
export class PathPolicy {
  private readonly allowed: string[];
  private readonly picked = new Set<string>();

  constructor(
    private readonly paths: DataPaths,
    allowedDirs: readonly string[] = [],
  ) {
    this.allowed = [paths.root, ...allowedDirs].map((d) => realOrSelf(resolve(d)));
  }

  /** The folders a client may name, as real paths: the data folder, `--allow` folders, then dialog picks. */
  roots(): string[] {
    return [...new Set([...this.allowed, ...this.picked])];
  }

  /** A path the user picked in a dialog (the desktop shell calls this): it and what lies under it are allowed. */
  pick(p: string): void {
    this.picked.add(realOrSelf(resolve(p)));
  }

  /** A file or folder to read; returns its absolute path (a missing one is left for the reader to report). */
  readable(p: string, what: string): string {
    const abs = resolve(this.paths.root, p);
    const real = realOrNull(abs) ?? join(realOrSelf(dirname(abs)), basename(abs));
    this.check(real, p, what);
    return abs;
  }

  /** A file to create (or replace, when `overwrite`); its folder must exist. Returns its absolute path. */
  writable(p: string, what: string, overwrite = false): string {
    const abs = resolve(this.paths.root, p);
    const dir = realOrNull(dirname(abs));
    if (dir === null) throw new StudioError(`The folder ${dirname(abs)} does not exist; create it or pick another place for the ${what}.`, 'not_found');
    const target = join(dir, basename(abs));
    this.check(target, p, what);
    const own = [this.paths.db, `${this.paths.db}-wal`, `${this.paths.db}-shm`, join(this.paths.root, 'studio.lock'), join(this.paths.root, 'studio.lock.db'), join(this.paths.root, 'studio.lock.db-journal')].map((f) => join(realOrSelf(dirname(f)), basename(f)));
    const ownDirs = [this.paths.gallery, this.paths.trash, this.paths.models, this.paths.training].map(realOrSelf);
    if (own.includes(target) || ownDirs.some((d) => inside(d, target))) {
      throw new StudioError(`${p} is one of the studio's own files; pick another place for the ${what}.`, 'bad_path');
    }
    if (existsSync(target) && (!overwrite || !statSync(target).isFile())) {
      throw new StudioError(`${p} already exists; pick another name, or ask to overwrite it.`, 'exists');
    }
    return abs;
  }

  private check(real: string, shown: string, what: string): void {
    const ok = this.allowed.some((d) => d === real || inside(d, real)) || [...this.picked].some((d) => d === real || inside(d, real));
    if (!ok) {
      throw new StudioError(
        `${shown} is outside the folders this studio may use for the ${what}: pick it in the file dialog, ` +
          'move it under the data folder, or (web mode) start the studio with --allow DIR.',
        'forbidden_path',
      );
    }
  }
}

/** Whether `p` lies strictly inside folder `dir` (both absolute). */
export function inside(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

function realOrSelf(p: string): string {
  return realOrNull(p) ?? p;
}
