// Activation recomputation (gradient checkpointing): the same gradients with and without it on a tiny
// UNet's diffusion loss (ResBlocks and transformer blocks are the blocks), and the backward pass then
// reads none of a block's inner forward values (those are what it saves memory on).
import { describe, expect, it } from 'vitest';
import { buildDiffusionLossGraph } from '../../../electron/engine/nn/losses.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { buildGradientGraph } from '../../../electron/engine/autodiff/index.ts';
import { blockOf } from '../../../electron/engine/autodiff/recompute.ts';
import type { Graph } from '../../../electron/engine/onnx/graph.ts';
import type { TensorData } from '../../../electron/engine/tensor.ts';
import { TINY_UNET } from '../nn/helpers.ts';
import { normal, randomTensor, rng } from './gradcheck.ts';

const lg = buildDiffusionLossGraph(TINY_UNET, { batch: 2, height: 8, width: 8, latentChannels: 4, contextLength: 5 });
const names = [...lg.graph.params.keys()];

async function run(grad: Graph): Promise<Record<string, TensorData>> {
  const u = rng(4);
  const feeds: Record<string, TensorData> = {};
  for (const v of lg.graph.inputs) feeds[v.name] = randomTensor('float32', v.shape, normal(u));
  // random weights everywhere (the output conv's zero init would leave every other gradient zero)
  for (const p of lg.graph.params.values()) feeds[p.name] = randomTensor('float32', p.shape, () => 0.2 * normal(u)());
  const s = await createSession(toModelProto(grad, { kind: 'inputs' }), { provider: 'cpu', threads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

describe('recomputation (gradient checkpointing)', () => {
  const plain = buildGradientGraph(lg.graph, lg.loss, names);
  const again = buildGradientGraph(lg.graph, lg.loss, names, { recompute: true });

  it('gives the same loss and gradients', async () => {
    const [a, b] = [await run(plain), await run(again)];
    expect(b.loss!.data[0]).toBe(a.loss!.data[0]);
    const nonZero = names.filter((n) => (a[`grad:${n}`]!.data as Float32Array).some((v) => v !== 0));
    expect(nonZero.length).toBe(names.length);
    for (const name of names) {
      const [x, y] = [a[`grad:${name}`]!.data as Float32Array, b[`grad:${name}`]!.data as Float32Array];
      let diff = 0;
      let scale = 1e-12;
      for (let i = 0; i < x.length; i++) {
        diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
        scale = Math.max(scale, Math.abs(x[i]!));
      }
      expect(diff / scale, name).toBeLessThan(1e-5);
    }
  });

  it('reads no inner value of a block after the forward pass', () => {
    // Values made inside a block (e.g. `...input_blocks.1.0/Conv_12`) and read by the forward nodes of
    // that block only: with recomputation no backward node reads them.
    const forwardNodes = new Set(lg.graph.nodes.flatMap((n) => n.outputs));
    const readers = (g: Graph) => {
      const r = new Map<string, string[]>();
      for (const n of g.nodes) for (const x of n.inputs) r.set(x, [...(r.get(x) ?? []), n.outputs[0]!]);
      return r;
    };
    const innerReadByBackward = (g: Graph) => {
      let n = 0;
      const r = readers(g);
      for (const node of lg.graph.nodes) {
        const block = blockOf(node);
        if (block === null) continue;
        for (const o of node.outputs) {
          const by = r.get(o) ?? [];
          const forwardReaders = by.filter((x) => forwardNodes.has(x));
          if (forwardReaders.length === by.length || !forwardReaders.every((x) => x.startsWith(`${block}/`))) continue;
          n++;
        }
      }
      return n;
    };
    expect(innerReadByBackward(plain)).toBeGreaterThan(50);
    expect(innerReadByBackward(again)).toBe(0);
    expect(again.nodes.length).toBeGreaterThan(plain.nodes.length);
  });
});
