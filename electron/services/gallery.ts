// Gallery files: images with their parameters chunk, thumbnails, and the trash they move to on delete.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { StudioError } from '../api/contract.ts';
import { resolveDataPath, writeBytesAtomic, type DataPaths } from './files.ts';
import { DEFAULT_IMAGE_LIMITS, probeImage } from '../engine/io/image.ts';
import { isPng, writePngText } from '../engine/io/png-metadata.ts';

export const THUMBNAIL_SIZE = 256;

/** The file kinds the gallery stores; anything else (SVG, GIF, TIFF …) is refused. */
const STORED_EXTS = ['png', 'jpg', 'webp'] as const;

const ID = '[0-9a-z]{19}';
const MONTH = '\\d{4}-(?:0[1-9]|1[0-2])';

/**
 * The names the gallery gives a generation's files: gallery/YYYY-MM/<id>.png|jpg|webp, its thumbnail
 * gallery/thumbnails/YYYY-MM/<id>.webp and its mask gallery/YYYY-MM/<id>.mask.png. Rows read from a file
 * (history.import) may name nothing else. Returns what is wrong, or null.
 */
export function galleryNameProblem(g: { id: string; imagePath: string; thumbnailPath: string; maskPath: string | null }): string | null {
  if (!new RegExp(`^${ID}$`).test(g.id)) return 'its id is not of the form the studio makes (19 lowercase letters and digits)';
  const id = g.id;
  if (!new RegExp(`^gallery/${MONTH}/${id}\\.(?:${STORED_EXTS.join('|')})$`).test(g.imagePath)) {
    return `imagePath must be gallery/YYYY-MM/${id}.png (or .jpg, .webp)`;
  }
  if (!new RegExp(`^gallery/thumbnails/${MONTH}/${id}\\.webp$`).test(g.thumbnailPath)) {
    return `thumbnailPath must be gallery/thumbnails/YYYY-MM/${id}.webp`;
  }
  if (g.maskPath !== null && !new RegExp(`^gallery/${MONTH}/${id}\\.mask\\.png$`).test(g.maskPath)) {
    return `maskPath must be gallery/YYYY-MM/${id}.mask.png`;
  }
  return null;
}

/** Whether a path is one the gallery could have made (a last guard before moving or deleting files). */
function isGalleryFile(relPath: string): boolean {
  return new RegExp(`^gallery/(?:thumbnails/)?${MONTH}/${ID}(?:\\.mask)?\\.(?:${STORED_EXTS.join('|')})$`).test(relPath);
}

export interface StoredImage {
  imagePath: string;
  thumbnailPath: string;
  width: number;
  height: number;
}

export class Gallery {
  constructor(readonly paths: DataPaths) {}

  /**
   * Stores an image under gallery/YYYY-MM/<id>.<ext> (PNGs get `parameters` when given) and its thumbnail.
   * Other formats are kept as they came so their own metadata survives.
   */
  async store(id: string, bytes: Uint8Array, opts: { parameters?: string; createdAt: number }): Promise<StoredImage> {
    const meta = await probeImage(bytes).catch(asBadImage);
    const ext = meta.format === 'png' && isPng(bytes) ? 'png' : meta.format === 'jpeg' ? 'jpg' : 'webp';
    const month = new Date(opts.createdAt).toISOString().slice(0, 7);
    const imagePath = `gallery/${month}/${id}.${ext}`;
    const thumbnailPath = `gallery/thumbnails/${month}/${id}.webp`;
    const file = ext === 'png' && opts.parameters ? writePngText(bytes, { parameters: opts.parameters }) : bytes;
    const thumb = await sharp(bytes, { limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 82 })
      .toBuffer()
      .catch(asBadImage);
    await this.write(imagePath, file);
    await this.write(thumbnailPath, thumb);
    return { imagePath, thumbnailPath, width: meta.width, height: meta.height };
  }

  /** Masks are stored as greyscale PNG beside the image. */
  async storeMask(id: string, bytes: Uint8Array, createdAt: number): Promise<string> {
    await probeImage(bytes, {}, 'the mask').catch(asBadImage);
    const png = await sharp(bytes, { limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels }).greyscale().png().toBuffer().catch(asBadImage);
    const maskPath = `gallery/${new Date(createdAt).toISOString().slice(0, 7)}/${id}.mask.png`;
    await this.write(maskPath, png);
    return maskPath;
  }

  async read(relPath: string): Promise<Buffer> {
    try {
      return await readFile(resolveDataPath(this.paths.root, relPath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StudioError(`the file ${relPath} is missing from the data folder`, 'not_found');
      }
      throw err;
    }
  }

  /** Moves files into trash/ keeping their relative path; missing files, and paths the gallery never makes, are skipped. */
  async trash(relPaths: readonly string[]): Promise<void> {
    for (const p of relPaths.filter(isGalleryFile)) await this.move(p, `trash/${p}`);
  }

  async restore(relPaths: readonly string[]): Promise<void> {
    for (const p of relPaths.filter(isGalleryFile)) await this.move(`trash/${p}`, p);
  }

  async purge(relPaths: readonly string[]): Promise<void> {
    for (const p of relPaths.filter(isGalleryFile)) await rm(resolveDataPath(this.paths.root, `trash/${p}`), { force: true });
  }

  /** Restores a file from an export; a file already at that place is kept. */
  async writeIfMissing(relPath: string, bytes: Uint8Array): Promise<void> {
    if (!(await exists(resolveDataPath(this.paths.root, relPath)))) await this.write(relPath, bytes);
  }

  /**
   * Start-up sweep after a crash: temp files of interrupted writes are removed, and gallery files whose
   * row never reached the history (a kill between writing the file and the row) are moved to
   * trash/orphans/. Only files older than `minAgeMs`, so that a CLI writing into the folder now is left alone.
   */
  async sweep(known: (id: string) => boolean, minAgeMs = 10 * 60_000): Promise<{ orphans: number; temps: number }> {
    const cutoff = Date.now() - minAgeMs;
    let orphans = 0;
    let temps = 0;
    const old = async (abs: string) => ((await stat(abs).catch(() => null))?.mtimeMs ?? Infinity) < cutoff;
    for (const rel of await listFiles(this.paths.root, 'gallery')) {
      const abs = resolveDataPath(this.paths.root, rel);
      const name = rel.split('/').at(-1)!;
      if (name.endsWith('.tmp')) {
        if (await old(abs)) {
          await rm(abs, { force: true });
          temps++;
        }
        continue;
      }
      const id = /^([0-9a-z]{19})\./.exec(name)?.[1];
      if (!id || !isGalleryFile(rel) || known(id) || !(await old(abs))) continue;
      await this.move(rel, `trash/orphans/${rel}`);
      orphans++;
    }
    for (const dir of [this.paths.root, this.paths.exports, this.paths.uploads]) {
      const uploads = dir === this.paths.uploads;
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const abs = join(dir, name);
        // Uploads are kept a day for jobs that name them; temp files of interrupted writes go.
        const stale = name.endsWith('.tmp') ? await old(abs) : uploads && ((await stat(abs).catch(() => null))?.mtimeMs ?? Infinity) < Date.now() - 86_400_000;
        if (stale && (await stat(abs)).isFile()) {
          await rm(abs, { force: true });
          temps++;
        }
      }
    }
    return { orphans, temps };
  }

  private async write(relPath: string, bytes: Uint8Array): Promise<void> {
    const abs = resolveDataPath(this.paths.root, relPath);
    await mkdir(dirname(abs), { recursive: true });
    await writeBytesAtomic(abs, bytes);
  }

  private async move(fromRel: string, toRel: string): Promise<void> {
    const from = resolveDataPath(this.paths.root, fromRel);
    const to = resolveDataPath(this.paths.root, toRel);
    if (!(await exists(from))) return;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
  }
}

/** A picture that cannot be taken, as the error the user sees. */
function asBadImage(err: unknown): never {
  throw new StudioError((err as Error).message, 'bad_image');
}

/** Files under `rel` (relative to root, '/'-separated), recursively. */
async function listFiles(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, ...rel.split('/')), { withFileTypes: true }).catch(() => [])) {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFiles(root, child)));
    else if (e.isFile()) out.push(child);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
