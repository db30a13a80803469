// Global-norm gradient clipping (as torch.nn.utils.clip_grad_norm_): one norm over all gradients.

/** √Σg² over every gradient, scaled by `scale`, accumulated in float64. NaN/Inf when any value is. */
export function globalNorm(grads: Iterable<Float32Array>, scale = 1): number {
  let sum = 0;
  for (const g of grads) {
    let s = 0;
    for (let i = 0; i < g.length; i++) {
      const v = g[i]!;
      s += v * v;
    }
    sum += s;
  }
  return Math.sqrt(sum) * Math.abs(scale);
}

/** Factor that brings `norm` down to `maxNorm` (1 when already within it). */
export function clipFactor(norm: number, maxNorm: number): number {
  return norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
}
