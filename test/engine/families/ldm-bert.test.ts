// nn/ldm-bert.ts (the paper's BERT-style τθ) against PyTorch: weights, token ids and embeddings from
// scripts/reference/make_ckpt_bert.py, read through the restricted checkpoint reader.
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/io/checkpoint.ts';
import { ldmBertForward } from '../../../electron/engine/nn/ldm-bert.ts';
import { Graph } from '../../../electron/engine/onnx/graph.ts';
import { createSession } from '../../../electron/engine/onnx/runtime.ts';
import { toModelProto } from '../../../electron/engine/onnx/serialize.ts';
import { tensor, type TensorData } from '../../../electron/engine/tensor.ts';

const FIXTURE = new URL('../../fixtures/ckpt/ldm-bert.ckpt', import.meta.url).pathname;

describe('LDM BERT text encoder', () => {
  it('matches PyTorch (2 layers, 3 heads of 16, width 48, 77 tokens, padded and unpadded prompts)', async () => {
    const ckpt = await openCheckpoint(FIXTURE);
    const t = new Map<string, TensorData>();
    for (const e of ckpt.tensors) {
      const b = (await ckpt.readTensor(e)).slice().buffer;
      t.set(e.name, e.dtype === 'I64' ? tensor('int64', e.shape, new BigInt64Array(b)) : tensor('float32', e.shape, new Float32Array(b)));
    }
    await ckpt.close();
    const ids = t.get('ids')!;
    const g = new Graph('bert');
    const input = g.input('input_ids', 'int64', [2, 77]);
    g.output(ldmBertForward(g, { vocabSize: 60, maxLength: 77, width: 48, layers: 2, heads: 3, headDim: 16, ffMult: 4 }, input), 'z');
    const s = await createSession(toModelProto(g, { kind: 'embedded', get: (n) => t.get(n)! }));
    const z = (await s.run({ input_ids: ids })).z!.data as Float32Array;
    await s.release();
    const want = t.get('z')!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(z[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);
  });
});
