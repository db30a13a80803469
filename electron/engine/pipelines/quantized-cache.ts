// Quantised weights kept in the weights cache (weight-cache.ts): a UNet's or text encoder's int8/int4 codes,
// their scales and its remaining float weights, written once per model, network and precision into one
// file that onnxruntime maps as external data. A second start then quantises nothing, and no session
// build holds the codes in JavaScript and in a serialised model at once (embedded, an SD 1.x UNet's
// 0.9 GB of codes would be copied twice more while the session is made).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { quantizedParams, quantizedWeights, readFloat } from '../nn/quantize.ts';
import type { Graph } from '../onnx/graph.ts';
import type { ExternalWeights } from '../onnx/serialize.ts';
import { BYTES_PER_ELEMENT, numel, type DType, type TensorData } from '../tensor.ts';
import { PipelineError } from './errors.ts';
import { cachedFile, defaultWeightCacheDir, type WeightCacheOptions } from './weight-cache.ts';

/** Each tensor starts on a page, so onnxruntime can map it without copying. */
const ALIGN = 4096;

/**
 * The weights of a graph built with weightQuant, from float weights in `weightsFile`, as a cache file of
 * every param the graph declares (made on first use); answers the mode and the file to build its session with.
 */
export async function quantizedWeightsFile(g: Graph, mode: ExternalWeights, weightsFile: string, cache: WeightCacheOptions = {}): Promise<{ mode: ExternalWeights; weightsFile: string }> {
  const table = quantizedParams(g);
  const bits = g.weightQuant?.bits;
  if (table.size === 0 || !bits) return { mode, weightsFile };
  const where = new Map<string, { offset: number; length: number; dtype: DType }>();
  let total = 0;
  for (const [name, p] of g.params) {
    const length = numel(p.shape) * BYTES_PER_ELEMENT[p.dtype];
    where.set(name, { offset: total, length, dtype: p.dtype });
    total = Math.ceil((total + length) / ALIGN) * ALIGN;
  }
  // The source: a weights-cache file is named by its content (its times change with every use); any other by path, size and time.
  const st = await fsp.stat(weightsFile);
  const real = await fsp.realpath(weightsFile);
  const dir = await fsp.realpath(cache.dir ?? defaultWeightCacheDir()).catch(() => null);
  const source = path.dirname(real) === dir ? [path.basename(real), st.size] : [real, st.size, st.mtimeMs];
  const h = createHash('sha256').update(JSON.stringify({ v: 1, source, quant: g.weightQuant }));
  for (const [name, p] of g.params) {
    const q = table.get(name);
    const from = mode.locate(q ? q.source : name);
    h.update(`${name}\0${p.dtype}\0${p.shape.join(',')}\0${q ? q.source : ''}\0${from.offset}\0${from.length}\0${from.dtype}\n`);
  }
  const file = await cachedFile(`${h.digest('hex').slice(0, 32)}.q${bits}`, total, async (tmp) => {
    const made = quantizedWeights(g, mode, weightsFile);
    const out = await fsp.open(tmp, 'w');
    try {
      for (const [name, p] of g.params) {
        const t: TensorData | undefined = made.kind === 'overlay' ? made.get(name) : undefined;
        const data = t ? t.data : p.dtype === 'float32' ? readFloat(mode, name, weightsFile) : null;
        if (!data) throw new PipelineError(`cannot write weight '${name}' (${p.dtype}) to the quantised weights cache`);
        await out.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, where.get(name)!.offset);
      }
      await out.truncate(total);
    } finally {
      await out.close();
    }
  }, cache);
  return {
    mode: { kind: 'external', file: path.basename(file), locate: (name) => where.get(name)! },
    weightsFile: file,
  };
}
