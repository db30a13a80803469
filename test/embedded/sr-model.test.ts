// The shipped ×4 super-resolution model (resources/models/emoji-sr-x4, trained by
// `npm run train:default -- --stage sr`): it opens as one of the paper's releases, is deterministic per
// seed, and upscales held-out emoji closer to the truth than bicubic ×4 does.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRelease, upscale, type ReleaseModel } from '../../electron/engine/pipelines/release.ts';
import { listEmojiSamples } from '../../scripts/embedded/emoji-dataset.ts';
import { emojiKey, notoSprite, renderSvg, splitSprite } from '../../scripts/embedded/emoji-svg.ts';
import { interleavedToPlanar, mse, planarToInterleaved, psnrOf, resizePlanar, ssim } from '../../scripts/embedded/sr-data.ts';

const FILE = path.resolve('resources/models/emoji-sr-x4/emoji-sr-x4.safetensors');
const COUNT = 3;

describe.skipIf(!existsSync(FILE))('emoji-sr-x4', () => {
  let model: ReleaseModel;
  const pictures: { truth: Uint8Array; low: Uint8Array }[] = [];

  beforeAll(async () => {
    model = await openRelease(FILE, 'emoji-sr-x4', '');
    const svgs = splitSprite(notoSprite());
    const held = listEmojiSamples().filter((s) => s.heldOut && svgs.has(emojiKey(s.file)) && !/skin tone/.test(s.caption));
    for (const s of held.slice(0, COUNT)) {
      const truth = renderSvg(svgs.get(emojiKey(s.file))!, 128);
      pictures.push({ truth, low: await resizePlanar(truth, 128, 32, 'lanczos3') });
    }
  });
  afterAll(async () => {
    await model?.close();
  });

  const run = async (low: Uint8Array, seed: number) => {
    const [out] = await upscale(model, { image: { width: 32, height: 32, data: planarToInterleaved(low, 32) }, seed, steps: 20, sampler: 'ddim', previewEvery: 0 });
    return interleavedToPlanar(out!.image.data, 128);
  };

  it('is read as a super-resolution release with its own scale factor and schedule', () => {
    expect(model.release.task).toBe('super-resolution');
    expect(model.release.concatChannels).toBe(3);
    expect(model.downscale).toBe(4);
    expect(model.schedulerConfig.betaStart).toBeCloseTo(0.0015, 6);
  });

  it('is deterministic per seed and beats bicubic ×4 on held-out emoji', async () => {
    let ours = 0;
    let bicubic = 0;
    for (const p of pictures) {
      const a = await run(p.low, 1);
      if (p === pictures[0]) expect(Buffer.from(await run(p.low, 1)).equals(Buffer.from(a))).toBe(true);
      ours += ssim(a, p.truth, 128);
      bicubic += ssim(await resizePlanar(p.low, 32, 128, 'cubic'), p.truth, 128);
      expect(psnrOf(mse(a, p.truth))).toBeGreaterThan(15); // a picture of the emoji, not noise
    }
    expect(ours / COUNT).toBeGreaterThan(bicubic / COUNT);
  }, 60_000);
});
