// The f-ablation's first-stage floor (scripts/ablation/reconstruction.ts): pictures through a variant's
// autoencoder and back, in batches padded past the end, one 32×32 picture out per picture in.
import { describe, expect, it } from 'vitest';
import { randomWeights } from '../../electron/engine/nn/models.ts';
import { reconstruct } from '../../scripts/ablation/reconstruction.ts';
import { variantByName } from '../../scripts/ablation/variants.ts';

describe('f-ablation reconstructions', () => {
  for (const name of ['f8', 'f4-vq'] as const) {
    it(`${name}: one deterministic 32×32 picture per picture, the same wherever it sits in a batch`, async () => {
      const v = variantByName(name);
      const w = randomWeights({ autoencoder: v.autoencoder! }, 3);
      const pics = Array.from({ length: 27 }, (_, k) => ({ width: 32, height: 32, data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * (k + 1) * 7) % 256) }));
      const out = await reconstruct(v, pics, w);
      expect(out).toHaveLength(27);
      for (const o of out) expect([o.width, o.height, o.data.length]).toEqual([32, 32, 3072]);
      const alone = await reconstruct(v, [pics[26]!], w); // first of a batch instead of the second batch's second
      const diff = Math.max(...alone[0]!.data.map((x, i) => Math.abs(x - out[26]!.data[i]!)));
      expect(diff).toBeLessThanOrEqual(1);
      expect(out[0]!.data).not.toEqual(out[1]!.data);
    });
  }
});
