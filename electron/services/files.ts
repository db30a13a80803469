// The data folder's layout and the one way files are written into it (temp file + rename).
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { StudioError } from '../api/contract.ts';

export interface DataPaths {
  readonly root: string;
  readonly db: string;
  readonly gallery: string;
  readonly thumbnails: string;
  readonly models: string;
  readonly training: string;
  readonly trash: string;
  readonly exports: string;
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
  };
}

export function ensureDataDir(dataDir: string): DataPaths {
  const p = dataPaths(dataDir);
  for (const dir of [p.root, p.gallery, p.thumbnails, p.models, p.training, p.trash, p.exports]) {
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

export function toDataPath(dataDir: string, absPath: string): string {
  return relative(dataDir, absPath).split(sep).join('/');
}

export { writeBytesAtomic } from '../engine/io/atomic.ts';
