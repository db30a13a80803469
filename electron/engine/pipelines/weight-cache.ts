// The weights cache: float32 copies of network weights that a checkpoint stores otherwise (fp16, bf16, or
// split over several files), one file per network of a model, named by a hash of what it was made from
// (the source files' paths, sizes and modification times, and each tensor's place in them). onnxruntime
// maps these files as external data, so a session for a new image size, a second start or another
// process reuses the widened weights instead of converting gigabytes again. The cache is bounded:
// beyond its size the least recently used files are removed (the one in use always stays).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bf16ToFloat, halfTable } from '../tensor.ts';
import { PipelineError } from './errors.ts';
import type { TensorSlice } from './file-weights.ts';

export interface WeightCacheOptions {
  /** The cache folder; default: the user's cache folder (defaultWeightCacheDir). The studio uses `<data folder>/cache/weights`. */
  readonly dir?: string;
  /** Bytes the cache may hold (default 16 GiB: two SD models); the least recently used files beyond it are removed. */
  readonly maxBytes?: number;
}

export const DEFAULT_CACHE_BYTES = 16 * 2 ** 30;
const SUFFIX = '.f32';
/** Each tensor starts on a page, so onnxruntime can map it without copying. */
const ALIGN = 4096;
/** A `.tmp` this old belongs to a writer that died. */
const STALE_TMP_MS = 3600_000;
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
/** The suffixes of the cache's files (widened float32; quantised weights, nn/quantize.ts): what eviction counts. */
const CACHE_SUFFIXES = [SUFFIX, '.q8', '.q4'];

/**
 * The user's cache folder for weights when no data folder is named (the CLI without --data): not the OS temp
 * folder, which is often a RAM-backed tmpfs where gigabytes of widened weights would hold memory until reboot.
 * Linux `$XDG_CACHE_HOME` or `~/.cache`, macOS `~/Library/Caches`, Windows `%LOCALAPPDATA%`.
 */
export function defaultWeightCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  const join = platform === 'win32' ? path.win32.join : path.posix.join;
  const base =
    platform === 'win32' ? (env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'))
    : platform === 'darwin' ? join(home, 'Library', 'Caches')
    : env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'latent-diffusion-studio', 'weights');
}

/**
 * A new folder for weights written for one process (spills of large in-memory weights, merged LoRA layers):
 * under the user's cache folder beside the weights cache, not the OS temp folder (often a RAM-backed tmpfs
 * where gigabytes would hold memory). The caller removes it when done.
 */
export async function makeScratchDir(prefix: string): Promise<string> {
  const root = scratchRoot();
  await fsp.mkdir(root, { recursive: true });
  return fsp.mkdtemp(path.join(root, prefix));
}

/** Where makeScratchDir's folders are made. */
export function scratchRoot(): string {
  return path.join(path.dirname(defaultWeightCacheDir()), 'scratch');
}

/** The weights cache of a studio data folder. */
export function dataWeightCacheDir(dataDir: string): string {
  return path.join(dataDir, 'cache', 'weights');
}

/** Where each tensor lies in a cache file: byte offset and length of its float32 values. */
export type CacheLayout = Map<string, { offset: number; length: number }>;

/**
 * The float32 cache file for these slices, written on first use (widened tensor by tensor, never all in
 * memory) and reused afterwards; with the layout of every tensor in it.
 */
export async function cachedWeightsFile(slices: ReadonlyMap<string, TensorSlice>, opts: WeightCacheOptions = {}): Promise<{ file: string; where: CacheLayout }> {
  const dir = opts.dir ?? defaultWeightCacheDir();
  const maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
  const where: CacheLayout = new Map();
  let total = 0;
  for (const [name, s] of slices) {
    const length = (s.length / BYTES[s.entry.dtype]!) * 4;
    where.set(name, { offset: total, length });
    total = Math.ceil((total + length) / ALIGN) * ALIGN;
  }
  const file = path.join(dir, `${await cacheKey(slices)}${SUFFIX}`);
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new PipelineError(`cannot create the weights cache folder ${dir}: ${(err as Error).message}`);
  }
  const found = await fsp.stat(file).catch(() => null);
  if (found?.size === total) {
    const now = new Date();
    await fsp.utimes(file, now, now).catch(() => undefined); // last use, for eviction
  } else {
    await evict(dir, Math.max(0, maxBytes - total), file);
    await checkFreeSpace(dir, total);
    await writeWidened(file, slices, where, total);
  }
  await evict(dir, maxBytes, file);
  return { file, where };
}

/**
 * A cache file `name` (a key and one of CACHE_SUFFIXES) of `bytes` bytes: found, or made by `write` into a
 * temporary file renamed once complete; under the same bound and eviction as the widened weights.
 */
export async function cachedFile(name: string, bytes: number, write: (tmp: string) => Promise<void>, opts: WeightCacheOptions = {}): Promise<string> {
  const dir = opts.dir ?? defaultWeightCacheDir();
  const maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
  const file = path.join(dir, name);
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new PipelineError(`cannot create the weights cache folder ${dir}: ${(err as Error).message}`);
  }
  const found = await fsp.stat(file).catch(() => null);
  if (found?.size === bytes) {
    const now = new Date();
    await fsp.utimes(file, now, now).catch(() => undefined); // last use, for eviction
  } else {
    await evict(dir, Math.max(0, maxBytes - bytes), file);
    await checkFreeSpace(dir, bytes);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
    try {
      await write(tmp);
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new PipelineError(`the disk is full: the weights cache needs ${gb(bytes)} in ${dir}`);
      throw err;
    }
  }
  await evict(dir, maxBytes, file);
  return file;
}

async function cacheKey(slices: ReadonlyMap<string, TensorSlice>): Promise<string> {
  const files = [...new Set([...slices.values()].map((s) => s.file))];
  const ids = await Promise.all(files.map(async (f) => {
    const st = await fsp.stat(f);
    return [await fsp.realpath(f), st.size, st.mtimeMs];
  }));
  const h = createHash('sha256').update(JSON.stringify({ v: 1, files: ids }));
  for (const [name, s] of slices) h.update(`${name}\0${files.indexOf(s.file)}\0${s.entry.offset + s.start}\0${s.length}\0${s.entry.dtype}\n`);
  return h.digest('hex').slice(0, 32);
}

async function checkFreeSpace(dir: string, bytes: number): Promise<void> {
  const fs = await fsp.statfs(dir).catch(() => null);
  if (fs && fs.bavail * fs.bsize < bytes + 256 * 2 ** 20) {
    throw new PipelineError(
      `not enough disk space for the weights cache in ${dir}: widening this model's weights to float32 needs ${gb(bytes)}, ${gb(fs.bavail * fs.bsize)} is free`,
    );
  }
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GB`;

async function writeWidened(file: string, slices: ReadonlyMap<string, TensorSlice>, where: CacheLayout, total: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const out = await fsp.open(tmp, 'w');
  const inputs = new Map<string, fsp.FileHandle>();
  const CHUNK = 1 << 22; // values per read
  const raw = new Uint8Array(4 * CHUNK);
  const wide = new Float32Array(CHUNK);
  try {
    for (const [name, s] of slices) {
      let fh = inputs.get(s.file);
      if (!fh) inputs.set(s.file, (fh = await fsp.open(s.file, 'r')));
      const size = BYTES[s.entry.dtype]!;
      const at = where.get(name)!.offset;
      for (let done = 0; done < s.length; ) {
        const n = Math.min(s.length - done, size * CHUNK);
        const { bytesRead } = await fh.read(raw, 0, n, s.entry.offset + s.start + done);
        if (bytesRead !== n) throw new PipelineError(`${s.file}: the file ends inside tensor ${s.entry.name}; it is truncated`);
        const values = n / size;
        if (s.entry.dtype === 'F32') {
          await out.write(raw, 0, n, at + done);
        } else {
          const bits = new Uint16Array(raw.buffer, 0, values);
          if (s.entry.dtype === 'F16') {
            const t = halfTable();
            for (let i = 0; i < values; i++) wide[i] = t[bits[i]!]!;
          } else {
            for (let i = 0; i < values; i++) wide[i] = bf16ToFloat(bits[i]!);
          }
          await out.write(new Uint8Array(wide.buffer, 0, 4 * values), 0, 4 * values, at + (done / size) * 4);
        }
        done += n;
      }
    }
    await out.truncate(total);
    await out.close();
    await fsp.rename(tmp, file);
  } catch (err) {
    await out.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new PipelineError(`the disk is full: widening this model's weights to float32 needs ${gb(total)} in ${path.dirname(file)}`);
    }
    throw err;
  } finally {
    for (const fh of inputs.values()) await fh.close();
  }
}

/**
 * Removes the least recently used cache files until the rest fit in `maxBytes` (`keep` is never removed),
 * and temporary files of writers that died. A file another process still maps may stay (Windows refuses).
 */
async function evict(dir: string, maxBytes: number, keep: string): Promise<void> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const files: { file: string; size: number; used: number }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const st = await fsp.stat(file).catch(() => null);
    if (!st?.isFile()) continue;
    if (name.endsWith('.tmp')) {
      if (Date.now() - st.mtimeMs > STALE_TMP_MS) await fsp.rm(file, { force: true }).catch(() => undefined);
    } else if (CACHE_SUFFIXES.some((x) => name.endsWith(x))) {
      files.push({ file, size: st.size, used: st.mtimeMs });
    }
  }
  files.sort((a, b) => b.used - a.used);
  let held = files.find((f) => f.file === keep)?.size ?? 0;
  for (const f of files) {
    if (f.file === keep) continue;
    if (held + f.size <= maxBytes) held += f.size;
    else await fsp.rm(f.file, { force: true }).catch(() => undefined);
  }
}
