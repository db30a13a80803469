// Pieces the benchmarks and scripts/device-check.ts share: peak resident memory, random weights for a
// graph written as safetensors, and timed session calls.
import { readFileSync } from 'node:fs';
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
