// nn/ldm-attention.ts (openaimodel's AttentionBlock, legacy head order) against PyTorch: weights, input and
// output from scripts/reference/make_ckpt_attention.py, read through the restricted checkpoint reader.
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/io/checkpoint.ts';
import { legacyAttentionBlock } from '../../../electron/engine/nn/ldm-attention.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';

const FIXTURE = new URL('../../fixtures/ckpt/attention-legacy.ckpt', import.meta.url).pathname;

describe('legacy AttentionBlock', () => {
  it('matches PyTorch on the reference weights (2 heads, 64 channels, 4×3 pixels, batch 2)', async () => {
    const ckpt = await openCheckpoint(FIXTURE);
    const t = new Map<string, TensorData<'float32'>>();
    for (const e of ckpt.tensors) {
      const b = await ckpt.readTensor(e);
      t.set(e.name, tensor('float32', e.shape, new Float32Array(b.slice().buffer)));
    }
    await ckpt.close();
    expect(ckpt.metadata.heads).toBe('2');
    const x = t.get('x')!;
    const g = new Graph('attention');
    const input = g.input('x', 'float32', [...x.shape]);
    g.output(legacyAttentionBlock(g, 'model.diffusion_model.middle_block.1', input, 64, 2, 32), 'y');
    const s = await createSession(toModelProto(g, { kind: 'embedded', get: (n) => t.get(n)! }));
    const y = (await s.run({ x })).y!.data as Float32Array;
    await s.release();
    const want = t.get('y')!.data;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(y[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-5);
  });
});
