import { describe, expect, it } from 'vitest';
import { initWeights } from '../../../electron/engine/nn/init.ts';
import { modelParams, randomWeights, unetParams } from '../../../electron/engine/nn/models.ts';
import { TINY_KL, TINY_TEXT, TINY_UNET } from './helpers.ts';

describe('random initial weights', () => {
  it('are reproducible from the seed, differ between seeds, and cover every parameter', () => {
    const cfg = { unet: TINY_UNET, autoencoder: TINY_KL, textEncoder: TINY_TEXT };
    const a = randomWeights(cfg, 7);
    const b = randomWeights(cfg, 7);
    const c = randomWeights(cfg, 8);
    expect([...a.keys()]).toEqual([...modelParams(cfg).keys()]);
    const name = 'model.diffusion_model.input_blocks.0.0.weight';
    expect(a.get(name)).toEqual(b.get(name));
    expect(a.get(name)).not.toEqual(c.get(name));
    // Each network draws from its own stream: adding a text encoder leaves the UNet's weights alone.
    expect(randomWeights({ unet: TINY_UNET }, 7).get(name)).toEqual(a.get(name));
  });

  it('follow each parameter init: zeros, ones, U(±1/√fan_in)', () => {
    const p = unetParams(TINY_UNET);
    const w = initWeights(p, 3);
    expect(w.get('model.diffusion_model.out.2.weight')!.every((x) => x === 0)).toBe(true);
    expect(w.get('model.diffusion_model.out.0.weight')!.every((x) => x === 1)).toBe(true);
    const conv = w.get('model.diffusion_model.input_blocks.1.0.in_layers.2.weight')!; // 16 in, 3×3
    const bound = 1 / Math.sqrt(16 * 9);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...conv.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    const emb = initWeights(p, 3).get('model.diffusion_model.time_embed.0.weight')!;
    expect(emb).toEqual(w.get('model.diffusion_model.time_embed.0.weight')); // same seed, same draw
  });
});
