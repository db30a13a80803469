// Classifier-free guidance (Ho & Salimans 2022): ε = ε_u + s·(ε_c − ε_u). The negative prompt's ε takes
// the place of ε_u; s = 1 gives ε_c (callers skip the unconditional pass then).

export class GuidanceError extends Error {
  override name = 'GuidanceError';
}

export function cfg(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  if (uncond.length !== cond.length) {
    throw new GuidanceError(`unconditional ε has ${uncond.length} values but conditional ε has ${cond.length}`);
  }
  if (!Number.isFinite(scale)) throw new GuidanceError(`guidance scale must be a finite number, got ${scale}`);
  const out = new Float32Array(cond.length);
  for (let k = 0; k < out.length; k++) out[k] = uncond[k]! + scale * (cond[k]! - uncond[k]!);
  return out;
}

/** Guidance over one batched UNet output laid out as [uncond; cond] (each `n` values). */
export function cfgBatched(out: Float32Array, scale: number): Float32Array {
  if (out.length % 2 !== 0) throw new GuidanceError(`a batched [uncond; cond] output needs an even length, got ${out.length}`);
  const n = out.length / 2;
  return cfg(out.subarray(0, n), out.subarray(n), scale);
}
