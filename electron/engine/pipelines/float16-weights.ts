// Weights for the float16 graphs GPU providers run (onnx/float16.ts): a network whose weights are all
// float16 in one file (most SD checkpoints) is used in place, with no widened copy in the weights cache.
// Anything else goes through the float32 path (file-weights.ts) and is narrowed when serialised.
import * as path from 'node:path';
import type { Param } from '../onnx/graph.ts';
import type { WeightMode } from '../onnx/serialize.ts';
import { locateAll, type Locate, type ResolvedWeights } from './file-weights.ts';

/** The network's float16 weights in place in their file, or null when they are not all float16 in one file. */
export function float16FileWeights(model: string, params: ReadonlyMap<string, Param>, locate: Locate, network: string): ResolvedWeights | null {
  const slices = locateAll(model, params, locate, network);
  const files = new Set([...slices.values()].map((s) => s.file));
  if (files.size !== 1 || ![...slices.values()].every((s) => s.entry.dtype === 'F16')) return null;
  const file = [...files][0]!;
  const mode: WeightMode = {
    kind: 'external',
    file: path.basename(file),
    locate(name) {
      const s = slices.get(name)!;
      return { offset: s.entry.offset + s.start, length: s.length, dtype: 'float16' };
    },
  };
  return { mode, weightsFile: file };
}
