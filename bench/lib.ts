// Pieces the benchmarks and scripts/device-check.ts share: peak resident memory, random weights for a
// graph written as safetensors, and timed session calls.
import { createWriteStream, readFileSync } from 'node:fs';
import { saveSafetensors } from '../electron/engine/io/safetensors.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import type { Session } from '../electron/engine/onnx/runtime.ts';
import { floatToHalf, type TensorData } from '../electron/engine/tensor.ts';

/** This process's peak resident memory (VmHWM) in MiB; 0 where /proc does not say. */
export function peakRssMiB(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
}

/**
 * Random weights for every param of `graph`, stored as fp16 (or fp32) and scaled like torch's default init
 * (norm weights 1, biases and norms ±0.01), from a linear congruential generator seeded with `seed`.
 */
export async function writeRandomWeights(graph: Graph, file: string, seed: number, dtype: 'float16' | 'float32' = 'float16'): Promise<string> {
  const tensors = new Map<string, TensorData>();
  let s = seed;
  for (const [name, p] of graph.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'float16' ? new Uint16Array(n) : new Float32Array(n);
    const norm = name.includes('norm');
    const scale = name.endsWith('.bias') || norm ? 0.01 : 1 / Math.sqrt(n / p.shape[0]!);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v = norm && name.endsWith('.weight') ? 1 : ((s / 4294967296) * 2 - 1) * scale;
      data[i] = dtype === 'float16' ? floatToHalf(v) : v;
    }
    tensors.set(name, { dtype, shape: p.shape, data } as TensorData);
  }
  await saveSafetensors(file, tensors);
  return file;
}

/** `runs` calls of `session` on `feeds`: the seconds of each and the sum of the last call's first output. */
export async function timedRuns(session: Session, feeds: Record<string, TensorData>, runs: number): Promise<{ times: number[]; checksum: number }> {
  const times: number[] = [];
  let checksum = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const out = Object.values(await session.run(feeds))[0]!.data as Float32Array;
    times.push((performance.now() - t) / 1000);
    checksum = out.reduce((a, v) => a + v, 0);
  }
  return { times, checksum };
}

/**
 * A full-size safetensors file of random fp16 weights, streamed (a repeated 1 MiB block of small values; norm
 * weights 1), for SD-size benchmarks that must not hold gigabytes in memory. Answers the file's size in bytes.
 */
export async function writeStreamedFp16(file: string, entries: readonly { name: string; shape: readonly number[] }[], metadata: Record<string, string> = {}): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    header[e.name] = { dtype: 'F16', shape: e.shape, data_offsets: [offset, offset + 2 * n] };
    offset += 2 * n;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8) json += ' ';
  const block = new Uint16Array(1 << 19);
  let s = 1;
  for (let i = 0; i < block.length; i++) block[i] = floatToHalf(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.07);
  const ones = new Uint16Array(block.length).fill(floatToHalf(1));
  const out = createWriteStream(file);
  let failed: Error | null = null;
  out.on('error', (err) => (failed = err));
  const write = (b: Uint8Array) =>
    new Promise<void>((res, rej) => (failed ? rej(failed) : out.write(b) ? res() : out.once('drain', () => (failed ? rej(failed) : res()))));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  await write(head);
  await write(Buffer.from(json));
  for (const e of entries) {
    let n = e.shape.reduce((a, b) => a * b, 1);
    const src = e.shape.length === 1 && e.name.endsWith('.weight') ? ones : block;
    while (n > 0) {
      const k = Math.min(n, src.length);
      await write(new Uint8Array(src.buffer, 0, 2 * k));
      n -= k;
    }
  }
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
  return offset + 8 + json.length;
}
