// Weights for the float16 graphs GPU providers run (onnx/float16.ts): a network whose weights are all
// float16 in one file (most SD checkpoints) is used in place, with no widened copy in the weights cache.
// Anything else goes through the float32 path (file-weights.ts) and is narrowed when serialised.
import type { Param } from '../onnx/graph.ts';
import { locateAll, weightsInPlace, type Locate, type ResolvedWeights } from './file-weights.ts';

/** The network's float16 weights in place in their file, or null when they are not all float16 in one file. */
export function float16FileWeights(model: string, params: ReadonlyMap<string, Param>, locate: Locate, network: string): ResolvedWeights | null {
  return weightsInPlace(locateAll(model, params, locate, network), 'F16');
}
