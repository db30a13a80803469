// A seeded mutation fuzzer over real checkpoint layouts: thousands of corrupted pickles and archives go
// through the reader. Each either reads or fails with the reader's own error class: never another
// exception (a crash), never a hang, and memory stays bounded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, openCheckpoint } from '../../electron/engine/io/checkpoint.ts';
import { PickleError, readPickle } from '../../electron/engine/io/pickle.ts';
import { ZipArchive } from '../../electron/engine/io/zip.ts';
import { torchZip } from '../engine/io/ckpt-writer.ts';
import { rng } from '../rng.ts';

const FIXTURES = new URL('../fixtures/ckpt/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'ldm-pickle-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Opcodes worth inserting: the allowed set plus the forbidden ones, so mutations reach every branch.
const OPCODES = [
  0x28, 0x2e, 0x30, 0x31, 0x32, 0x4a, 0x4b, 0x4d, 0x4e, 0x51, 0x52, 0x58, 0x61, 0x62, 0x63, 0x65, 0x68, 0x6a, 0x5d,
  0x71, 0x72, 0x73, 0x74, 0x29, 0x75, 0x47, 0x80, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x7d, 0x8c, 0x93, 0x94,
  0x95, 0x69, 0x6f, 0x81, 0x82, 0x50,
];

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Array.from(src);
  const edits = 1 + Math.floor(r() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * b.length);
    const kind = Math.floor(r() * 7);
    if (kind === 0) b[at] = Math.floor(r() * 256); // random byte
    else if (kind === 1) b[at] = OPCODES[Math.floor(r() * OPCODES.length)]!; // an opcode
    else if (kind === 2) b.splice(at, 1 + Math.floor(r() * 8)); // delete
    else if (kind === 3) b.splice(at, 0, ...b.slice(Math.floor(r() * b.length), Math.floor(r() * b.length))); // duplicate a run
    else if (kind === 4) b[at] = [0, 0xff, 0x7f, 0x80][Math.floor(r() * 4)]!; // boundary values
    else if (kind === 5) b = b.slice(0, at); // truncate
    else b.splice(at, 0, ...[0xff, 0xff, 0xff, 0x7f].slice(0, 1 + Math.floor(r() * 4))); // huge length
  }
  return Uint8Array.from(b);
}

async function recordsOf(file: string): Promise<{ name: string; data: Uint8Array }[]> {
  const z = await ZipArchive.open(file);
  try {
    return await Promise.all([...z.entries.keys()].map(async (name) => ({ name, data: await z.read(name, 1 << 20) })));
  } finally {
    await z.close();
  }
}

describe('mutation fuzzer', () => {
  it('pickles: 3000 mutated data.pkl read in memory fail only with PickleError', async () => {
    const seeds = await Promise.all(['basic.ckpt', 'lightning.ckpt', 'plain.pt'].map(async (f) => (await recordsOf(join(FIXTURES, f))).find((x) => x.name.endsWith('data.pkl'))!.data));
    const r = rng(18);
    const counts = { read: 0, refused: 0 };
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 3000; i++) {
      const bytes = mutate(seeds[i % seeds.length]!, r);
      try {
        readPickle(bytes, { maxOps: 100_000 });
        counts.read++;
      } catch (err) {
        if (!(err instanceof PickleError)) throw new Error(`case ${i}: ${(err as Error).name}: ${(err as Error).message}`);
        counts.refused++;
      }
    }
    expect(counts.refused).toBeGreaterThan(1000);
    expect(counts.read).toBeGreaterThan(10);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('archives: 600 mutated checkpoints (pickle or zip bytes) open and read or fail with CheckpointError', async () => {
    const base = await recordsOf(join(FIXTURES, 'lightning.ckpt'));
    const whole = new Uint8Array(readFileSync(join(FIXTURES, 'basic.ckpt')));
    const r = rng(1806);
    let ok = 0;
    for (let i = 0; i < 600; i++) {
      const bytes =
        i % 2 === 0
          ? torchZip(base.map((x) => (x.name.endsWith('data.pkl') ? { name: x.name, data: mutate(x.data, r) } : x)))
          : mutate(whole, r);
      const f = join(dir, `f${i % 8}.ckpt`);
      writeFileSync(f, bytes);
      try {
        const ck = await openCheckpoint(f);
        try {
          for (const t of ck.tensors) expect((await ck.readTensor(t)).length).toBe(t.byteLength);
        } finally {
          await ck.close();
        }
        ok++;
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw new Error(`case ${i}: ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    expect(ok).toBeGreaterThan(5);
  });
});
