// A seeded mutation fuzzer for the files the studio reads from outside: PNG, JPEG and WebP pictures,
// safetensors files and history JSONL exports. Each case must end in a result or the reader's own clear
// error (never a TypeError/RangeError from inside a parser, a hang or a crash), with memory bounded and
// nothing in the history lost. Used by test/security/fuzz.test.ts (a few thousand cases) and
// bench/fuzz.bench.ts (as many as asked).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { rng } from '../rng.ts';
import { dispatch } from '../../electron/api/dispatch.ts';
import { ImageError, normalizeImage, probeImage } from '../../electron/engine/io/image.ts';
import { encodeSafetensors, parseSafetensors, SafetensorsError } from '../../electron/engine/io/safetensors.ts';
import { tensor } from '../../electron/engine/tensor.ts';
import type { Studio } from '../../electron/services/studio.ts';
import { crc32 } from '../../electron/engine/io/png-metadata.ts';

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x40];

/** One random mutation of `input` (bit flips, interesting bytes, big integers, cuts, splices, truncation). */
export function mutate(input: Uint8Array, r: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(r() * n);
  let b = Buffer.from(input);
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds && b.length > 0; k++) {
    const at = pick(b.length);
    switch (pick(8)) {
      case 0:
        b[at]! ^= 1 << pick(8);
        break;
      case 1:
        b[at] = INTERESTING[pick(INTERESTING.length)]!;
        break;
      case 2:
        if (at + 4 <= b.length) b.writeUInt32BE([0xffffffff, 0x7fffffff, 0x10000, 65535 * 65535, 0][pick(5)]! >>> 0, at);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + pick(32)))]);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + pick(16) }, () => pick(256))), b.subarray(at)]);
        break;
      case 5: {
        const from = pick(b.length);
        const len = Math.min(1 + pick(64), b.length - from);
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
        break;
      }
      case 6:
        b = b.subarray(0, at);
        break;
      default:
        if (at + 8 <= b.length) b.writeBigUInt64LE([2n ** 63n, 2n ** 40n, 0n, 2n ** 64n - 1n][pick(4)]!, at);
    }
  }
  return b;
}

/** A PNG mutation that keeps chunk CRCs right, so that it reaches past the CRC checks into the decoder. */
export function mutatePngStructurally(input: Uint8Array, r: () => number): Uint8Array {
  const b = Buffer.from(mutate(input, r));
  for (let pos = 8; pos + 12 <= b.length; ) {
    const len = b.readUInt32BE(pos);
    if (pos + 12 + len > b.length) break;
    b.writeUInt32BE(crc32(b.subarray(pos + 4, pos + 8 + len)), pos + 8 + len);
    pos += 12 + len;
  }
  return b;
}

export interface FuzzReport {
  target: string;
  cases: number;
  accepted: number;
  refused: number;
  /** Cases that threw something other than the reader's own error, hung, or broke an invariant. */
  failures: string[];
  peakRssMb: number;
  ms: number;
}

const CASE_TIMEOUT_MS = 5000;

async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} took over ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `cases` mutated inputs through `read`; `expected` tells the reader's own errors from bugs. */
async function run(
  target: string,
  seeds: Uint8Array[],
  cases: number,
  seed: number,
  mutator: (b: Uint8Array, r: () => number) => Uint8Array,
  read: (b: Uint8Array) => Promise<unknown>,
  expected: (err: unknown) => boolean,
): Promise<FuzzReport> {
  const r = rng(seed);
  const t0 = performance.now();
  const report: FuzzReport = { target, cases, accepted: 0, refused: 0, failures: [], peakRssMb: 0, ms: 0 };
  for (let i = 0; i < cases; i++) {
    const input = mutator(seeds[i % seeds.length]!, r);
    try {
      await withTimeout(read(input), `${target} case ${i}`);
      report.accepted++;
    } catch (err) {
      if (expected(err) && (err as Error).message.length > 0) report.refused++;
      else report.failures.push(`${target} seed ${seed} case ${i}: ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
    if (i % 64 === 0) report.peakRssMb = Math.max(report.peakRssMb, process.memoryUsage().rss / 2 ** 20);
  }
  report.ms = Math.round(performance.now() - t0);
  return report;
}

async function seedPictures(): Promise<Record<'png' | 'jpeg' | 'webp', Uint8Array[]>> {
  const base = sharp({ create: { width: 24, height: 16, channels: 4, background: { r: 200, g: 60, b: 30, alpha: 0.5 } } });
  const png = await base.clone().png().toBuffer();
  const png8 = await base.clone().png({ palette: true }).toBuffer();
  const jpeg = await base.clone().flatten().jpeg({ quality: 80 }).withMetadata({ orientation: 6 }).toBuffer();
  const jpegProg = await base.clone().flatten().jpeg({ progressive: true }).toBuffer();
  const webp = await base.clone().webp({ quality: 70 }).toBuffer();
  const webpLossless = await base.clone().webp({ lossless: true }).toBuffer();
  return { png: [png, png8], jpeg: [jpeg, jpegProg], webp: [webp, webpLossless] };
}

/** Pictures: the one decode path (header check, then the limited decode). */
export async function fuzzPictures(casesEach: number, seed: number): Promise<FuzzReport[]> {
  const seeds = await seedPictures();
  const read = async (b: Uint8Array) => {
    await probeImage(b, {}, 'the fuzzed image');
    return normalizeImage(b, {}, 'the fuzzed image');
  };
  const isImageError = (e: unknown) => e instanceof ImageError;
  return [
    await run('png', seeds.png, casesEach, seed, (b, r) => (r() < 0.5 ? mutatePngStructurally(b, r) : mutate(b, r)), read, isImageError),
    await run('jpeg', seeds.jpeg, casesEach, seed + 1, mutate, read, isImageError),
    await run('webp', seeds.webp, casesEach, seed + 2, mutate, read, isImageError),
  ];
}

/** safetensors: the parser over the whole file's bytes. */
export async function fuzzSafetensors(cases: number, seed: number): Promise<FuzzReport> {
  const seeds = [
    encodeSafetensors({ 'model.diffusion_model.w': tensor('float32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6])), b: tensor('float16', [4], new Uint16Array(4)) }, { format: 'pt' }),
    encodeSafetensors({ x: tensor('int32', [1], new Int32Array([7])) }),
  ];
  return run('safetensors', seeds, cases, seed, mutate, async (b) => parseSafetensors(b), (e) => e instanceof SafetensorsError);
}

/**
 * History JSONL: mutated export lines imported through the API into a studio that already holds rows.
 * After every batch: no row lost or changed, no file written outside gallery/ and trash/.
 */
export async function fuzzJsonl(studio: Studio, lines: number, seed: number, batch = 100): Promise<FuzzReport> {
  const r = rng(seed);
  const t0 = performance.now();
  const report: FuzzReport = { target: 'jsonl', cases: 0, accepted: 0, refused: 0, failures: [], peakRssMb: 0, ms: 0 };
  const root = studio.paths.root;
  const snapshot = async () => JSON.stringify(((await dispatch(studio, 'history.search', { limit: 200 })) as { output: { items: unknown[] } }).output.items);
  const exported = (await dispatch(studio, 'history.export', { withImages: true })) as { ok: boolean; output: { path: string } };
  const seeds = readFileSync(exported.output.path, 'utf8').trim().split('\n');
  const before = await snapshot();
  const topLevel = readdirSync(root).sort().join(',');
  mkdirSync(join(root, 'exports', 'fuzz'), { recursive: true });
  for (let done = 0; done < lines; done += batch) {
    const n = Math.min(batch, lines - done);
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const src = seeds[(done + i) % seeds.length]!;
      out.push(r() < 0.5 ? Buffer.from(mutate(Buffer.from(src), r)).toString('utf8').replace(/[\r\n]/g, ' ') : mutateRow(src, r));
    }
    const file = join(root, 'exports', 'fuzz', `batch-${done}.jsonl`);
    writeFileSync(file, `${out.join('\n')}\n`);
    report.cases += n;
    try {
      const res = (await withTimeout(dispatch(studio, 'history.import', { path: file }), `jsonl batch ${done}`)) as { ok: boolean; output?: { imported: number; skipped: number; errors: { message: string }[] } };
      if (!res.ok) report.failures.push(`jsonl batch ${done}: the import failed as a whole: ${JSON.stringify(res)}`);
      else {
        report.accepted += res.output!.imported + res.output!.skipped;
        report.refused += res.output!.errors.length;
        const blank = n - res.output!.imported - res.output!.skipped - res.output!.errors.length;
        if (blank < 0) report.failures.push(`jsonl batch ${done}: more results than lines`);
        else report.accepted += blank; // blank lines are skipped silently
      }
    } catch (err) {
      report.failures.push(`jsonl batch ${done}: ${(err as Error).message}`);
    }
    const now = await snapshot();
    if (!now.startsWith(before.slice(0, -1)) && !sameRows(before, now)) report.failures.push(`jsonl batch ${done}: rows that were there before changed or went`);
    if (readdirSync(root).sort().join(',') !== topLevel) report.failures.push(`jsonl batch ${done}: the data folder's top level changed: ${readdirSync(root).join(',')}`);
    report.peakRssMb = Math.max(report.peakRssMb, process.memoryUsage().rss / 2 ** 20);
  }
  report.ms = Math.round(performance.now() - t0);
  return report;
}

/** Every row of `before` is still there, unchanged (imports only add). */
function sameRows(before: string, now: string): boolean {
  const after = new Map((JSON.parse(now) as { id: string }[]).map((g) => [g.id, JSON.stringify(g)]));
  return (JSON.parse(before) as { id: string }[]).every((g) => after.get(g.id) === JSON.stringify(g));
}

const HOSTILE_VALUES: unknown[] = [
  'history.db', 'studio.lock', '../../etc/passwd', '/etc/passwd', 'gallery/../history.db', 'models/x.safetensors', 'trash/../history.db',
  'C:\\Windows\\system32', 'gallery/2026-11/aaaaaaaaaaaaaaaaaaa.png', '', null, 1e308, -1, true, [], {}, 'x'.repeat(10_000), '\u0000', '\ud800',
];

/** A structure-aware mutation of one JSONL row: a field set to a hostile value, removed, or the files map abused. */
function mutateRow(src: string, r: () => number): string {
  const row = JSON.parse(src) as Record<string, unknown>;
  const keys = Object.keys(row);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const k = r();
  if (k < 0.15) row.id = `${pick('abcdefghijklmnopqrstuvwxyz0123456789'.split(''))}${String(row.id).slice(1)}`;
  if (k < 0.6) row[pick(keys)] = pick(HOSTILE_VALUES);
  else if (k < 0.75) delete row[pick(keys)];
  else if (k < 0.9) row.files = { [String(pick(HOSTILE_VALUES))]: 'AAAA', ...(typeof row.files === 'object' && row.files ? row.files : {}) };
  else row.imagePath = pick(HOSTILE_VALUES);
  if (r() < 0.7) row.id = `${String(row.id).slice(0, 9)}${Math.floor(r() * 1e10).toString(16).padStart(10, '0')}`;
  return JSON.stringify(row);
}
