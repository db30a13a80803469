// The per-picture noise-level feeds of the ε-prediction loss graph (buildDiffusionLossGraph with
// weighted: true), shared by every stage that trains a denoiser on them.

interface Feed {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

/** √ᾱ_t, √(1−ᾱ_t) and the min-SNR-γ loss weight min(SNR, γ)/SNR (SNR = ᾱ/(1−ᾱ)) for each timestep of the batch. */
export function noiseLevelFeeds(alphasCumprod: ArrayLike<number>, ts: ArrayLike<number>, minSnrGamma: number): {
  sqrt_alpha_bar: Feed;
  sqrt_one_minus_alpha_bar: Feed;
  loss_weights: Feed;
} {
  const n = ts.length;
  const sa = new Float32Array(n);
  const sb = new Float32Array(n);
  const weights = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    const ab = alphasCumprod[ts[b]!]!;
    sa[b] = Math.sqrt(ab);
    sb[b] = Math.sqrt(1 - ab);
    const snr = ab / (1 - ab);
    weights[b] = Math.min(snr, minSnrGamma) / snr;
  }
  return {
    sqrt_alpha_bar: { dtype: 'float32', shape: [n], data: sa },
    sqrt_one_minus_alpha_bar: { dtype: 'float32', shape: [n], data: sb },
    loss_weights: { dtype: 'float32', shape: [n], data: weights },
  };
}
