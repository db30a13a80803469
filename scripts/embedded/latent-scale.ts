// The latent scale factor as the paper prescribes it: 1 / std of the latents over the training set.

/**
 * `moments` holds, per picture, `per` posterior means then `per` standard deviations; pictures for which
 * `heldOut(i)` is true are left out. The std is taken over the means (the posterior's centre).
 */
export function latentScaleFactor(moments: Float32Array, count: number, per: number, heldOut: (i: number) => boolean): number {
  let sum = 0;
  let sq = 0;
  let cnt = 0;
  for (let i = 0; i < count; i++) {
    if (heldOut(i)) continue;
    for (let k = 0; k < per; k++) {
      const v = moments[i * 2 * per + k]!;
      sum += v;
      sq += v * v;
      cnt++;
    }
  }
  const mean = sum / cnt;
  return 1 / Math.sqrt(sq / cnt - mean * mean);
}
