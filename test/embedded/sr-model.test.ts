// The shipped ×4 super-resolution model (resources/models/emoji-sr-x4, trained by
// `npm run train:default -- --stage sr`): it opens as one of the paper's releases, is deterministic per
// seed, and upscales held-out emoji closer to the truth than bicubic ×4 does (given the same
// back-projection onto the input as the model's defaults apply).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backProject } from '../../electron/engine/pipelines/back-projection.ts';
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
    // its yaml's defaults for Upscale ×4: start from the enlarged picture, then back-project onto it
    expect(model.release.upscaleStrength).toBeGreaterThan(0);
    expect(model.release.upscaleStrength).toBeLessThan(1);
    expect(model.release.upscaleBackProjection).toBeGreaterThan(0);
  });

  it('is deterministic per seed and beats bicubic ×4, back-projected alike, on held-out emoji (PSNR and SSIM)', async () => {
    const ours = { psnr: 0, ssim: 0 };
    const bicubic = { psnr: 0, ssim: 0 };
    const rounds = model.release.upscaleBackProjection ?? 0;
    for (const p of pictures) {
      const a = await run(p.low, 1);
      if (p === pictures[0]) expect(Buffer.from(await run(p.low, 1)).equals(Buffer.from(a))).toBe(true);
      const up = await resizePlanar(p.low, 32, 128, 'cubic');
      const b = interleavedToPlanar(backProject({ width: 128, height: 128, data: planarToInterleaved(up, 128) }, { width: 32, height: 32, data: planarToInterleaved(p.low, 32) }, rounds).data, 128);
      ours.psnr += psnrOf(mse(a, p.truth));
      ours.ssim += ssim(a, p.truth, 128);
      bicubic.psnr += psnrOf(mse(b, p.truth));
      bicubic.ssim += ssim(b, p.truth, 128);
    }
    expect(ours.psnr).toBeGreaterThan(bicubic.psnr);
    expect(ours.ssim).toBeGreaterThan(bicubic.ssim);
  }, 60_000);
});
