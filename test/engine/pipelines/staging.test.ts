// Staged sessions: with 'stage' (or 'auto' when available memory is short) a generation holds one
// network's session at a time — the text encoder is released before the UNet's session is built, the UNet
// before the VAE's — and gives the same pixels as keeping every session ('keep'), which a second
// generation then reuses without rebuilding.
import { describe, expect, it } from 'vitest';
import { LoadedModel, STAGE_BELOW_BYTES, stagesSessions } from '../../../electron/engine/pipelines/loaded-model.ts';
import { txt2img } from '../../../electron/engine/pipelines/txt2img.ts';
import { tinySpec, tinyWeights } from './tiny-model.ts';

const opts = { prompt: 'a red cat', seed: 3, steps: 2, sampler: 'ddim' as const, width: 32, height: 32, previewEvery: 0 };

describe('session staging', () => {
  it("one rule: 'stage' always, 'keep' never, 'auto' when available memory is under the threshold", () => {
    expect(stagesSessions('stage', 64 * 2 ** 30)).toBe(true);
    expect(stagesSessions('keep', 2 ** 20)).toBe(false);
    expect(stagesSessions('auto', STAGE_BELOW_BYTES - 1)).toBe(true);
    expect(stagesSessions('auto', STAGE_BELOW_BYTES)).toBe(false);
  });

  it('staged, only the last network stays built and the pixels equal the kept run; kept, all stay for the next generation', async () => {
    const spec = tinySpec({ kind: 'memory', tensors: tinyWeights(2) });
    const staged = new LoadedModel(spec, { provider: 'cpu', threads: 1, sessions: 'stage' });
    const kept = new LoadedModel(spec, { provider: 'cpu', threads: 1, sessions: 'keep' });
    try {
      const [a] = await txt2img(staged, opts);
      expect(staged.liveNetworks()).toEqual(['vae_decoder']);
      const [b] = await txt2img(kept, opts);
      expect(kept.liveNetworks().sort()).toEqual(['text_encoder', 'unet', 'vae_decoder']);
      expect(Buffer.from(a!.image.data).equals(Buffer.from(b!.image.data))).toBe(true);
      const [c] = await txt2img(staged, opts);
      expect(Buffer.from(c!.image.data).equals(Buffer.from(a!.image.data))).toBe(true);
    } finally {
      await Promise.all([staged.release(), kept.release()]);
    }
  });
});
