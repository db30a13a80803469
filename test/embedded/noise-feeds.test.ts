// The noise-level feeds every denoiser-training stage gives the loss graph (scripts/embedded/noise-feeds.ts).
import { describe, expect, it } from 'vitest';
import { makeSchedule } from '../../electron/engine/diffusion/schedule.ts';
import { noiseLevelFeeds } from '../../scripts/embedded/noise-feeds.ts';

describe('noiseLevelFeeds', () => {
  const { alphasCumprod } = makeSchedule();

  it('gives √ᾱ and √(1−ᾱ) of each timestep, in batch order', () => {
    const ts = [999, 0, 500];
    const f = noiseLevelFeeds(alphasCumprod, ts, 5);
    expect(f.sqrt_alpha_bar.shape).toEqual([3]);
    ts.forEach((t, b) => {
      expect(f.sqrt_alpha_bar.data[b]).toBeCloseTo(Math.sqrt(alphasCumprod[t]!), 6);
      expect(f.sqrt_one_minus_alpha_bar.data[b]).toBeCloseTo(Math.sqrt(1 - alphasCumprod[t]!), 6);
      expect(f.sqrt_alpha_bar.data[b]! ** 2 + f.sqrt_one_minus_alpha_bar.data[b]! ** 2).toBeCloseTo(1, 5);
    });
  });

  it('weights by min(SNR, γ)/SNR: γ/SNR at low noise, 1 at high noise', () => {
    const snr = (t: number) => alphasCumprod[t]! / (1 - alphasCumprod[t]!);
    const f = noiseLevelFeeds(alphasCumprod, [0, 999], 5);
    expect(snr(0)).toBeGreaterThan(5);
    expect(f.loss_weights.data[0]).toBeCloseTo(5 / snr(0), 6);
    expect(snr(999)).toBeLessThan(5);
    expect(f.loss_weights.data[1]).toBe(1);
  });
});
