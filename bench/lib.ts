// Pieces the benchmarks and scripts/device-check.ts share: peak resident memory and random weights for a
// graph, written as fp16 safetensors.
import { readFileSync } from 'node:fs';
import { saveSafetensors } from '../electron/engine/io/safetensors.ts';
import type { Graph } from '../electron/engine/onnx/graph.ts';
import { floatToHalf, type TensorData } from '../electron/engine/tensor.ts';

/** This process's peak resident memory (VmHWM) in MiB; 0 where /proc does not say. */
export function peakRssMiB(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
}

/**
 * Random weights for every param of `graph`, stored as fp16 and scaled like torch's default init
 * (norm weights 1, biases and norms ±0.01), from a linear congruential generator seeded with `seed`.
 */
export async function writeRandomFp16Weights(graph: Graph, file: string, seed: number): Promise<string> {
  const tensors = new Map<string, TensorData>();
  let s = seed;
  for (const [name, p] of graph.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Uint16Array(n);
    const norm = name.includes('norm');
    const scale = name.endsWith('.bias') || norm ? 0.01 : 1 / Math.sqrt(n / p.shape[0]!);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = floatToHalf(norm && name.endsWith('.weight') ? 1 : ((s / 4294967296) * 2 - 1) * scale);
    }
    tensors.set(name, { dtype: 'float16', shape: p.shape, data });
  }
  await saveSafetensors(file, tensors);
  return file;
}
