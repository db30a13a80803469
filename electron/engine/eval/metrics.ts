// Distribution metrics between two sets of feature vectors (rows of a row-major Float64Array), all in
// float64: FID (Heusel et al.), KID (Bińkowski et al., clean-fid's estimator), and k-NN precision/recall
// (Kynkäänniemi et al.). scripts/reference/fid.py computes the same numbers with numpy/scipy
// (test/fixtures/eval/metrics.json, test/engine/eval/metrics.test.ts).
import { Rng } from '../diffusion/rng.ts';

export class MetricsError extends Error {
  override name = 'MetricsError';
}

/** A set of n feature vectors of dimension d, row-major. */
export interface FeatureSet {
  data: Float64Array;
  n: number;
  d: number;
}

export function featureSet(data: ArrayLike<number>, d: number): FeatureSet {
  if (!Number.isInteger(d) || d < 1 || data.length % d) throw new MetricsError(`${data.length} values do not form rows of ${d} features`);
  return { data: Float64Array.from(data), n: data.length / d, d };
}

function checkPair(a: FeatureSet, b: FeatureSet, need: number, what: string): void {
  if (a.d !== b.d) throw new MetricsError(`${what}: the two sets have ${a.d} and ${b.d} features per row`);
  if (a.n < need || b.n < need) throw new MetricsError(`${what} needs at least ${need} vectors in each set, got ${a.n} and ${b.n}`);
}

/** Mean [d] and unbiased covariance [d×d] (divided by n − 1, as numpy.cov). */
export function meanAndCovariance(x: FeatureSet): { mean: Float64Array; cov: Float64Array } {
  const { n, d, data } = x;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = data[i * d + j]! - mean[j]!;
    for (let j = 0; j < d; j++) {
      const r = row[j]!;
      for (let k = j; k < d; k++) cov[j * d + k]! += r * row[k]!;
    }
  }
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) cov[k * d + j] = cov[j * d + k]! /= n - 1;
  }
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric d×d matrix by cyclic Jacobi rotations: values and vectors (the
 * columns of `vectors`, row-major), so that a = V·diag(values)·Vᵀ.
 */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale += m[i]! * m[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q]! * m[p * d + q]!;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q]!;
        if (apq === 0) continue;
        const app = m[p * d + p]!;
        const aqq = m[q * d + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const mkp = m[k * d + p]!;
          const mkq = m[k * d + q]!;
          m[k * d + p] = c * mkp - s * mkq;
          m[k * d + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < d; k++) {
          const mpk = m[p * d + k]!;
          const mqk = m[q * d + k]!;
          m[p * d + k] = c * mpk - s * mqk;
          m[q * d + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!;
          const vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = m[i * d + i]!;
  return { values, vectors: v };
}

/** The square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues taken as 0). */
export function sqrtPsd(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(0, values[k]!));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k]! * s;
      for (let j = 0; j < d; j++) out[i * d + j]! += vik * vectors[j * d + k]!;
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += aik * b[k * d + j]!;
    }
  }
  return out;
}

/**
 * Fréchet distance between Gaussians fitted to the two sets:
 * |μ₁ − μ₂|² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½, with Tr (Σ₁Σ₂)^½ = Tr (Σ₁^½ Σ₂ Σ₁^½)^½ (a symmetric
 * PSD matrix, so its eigenvalues are real and the square root needs no complex arithmetic).
 */
export function fid(a: FeatureSet, b: FeatureSet): number {
  checkPair(a, b, 2, 'FID');
  const d = a.d;
  const sa = meanAndCovariance(a);
  const sb = meanAndCovariance(b);
  let diff = 0;
  for (let j = 0; j < d; j++) diff += (sa.mean[j]! - sb.mean[j]!) ** 2;
  let trace = 0;
  for (let j = 0; j < d; j++) trace += sa.cov[j * d + j]! + sb.cov[j * d + j]!;
  const r = sqrtPsd(sa.cov, d);
  const inner = matmul(matmul(r, sb.cov, d), r, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) inner[i * d + j] = inner[j * d + i] = (inner[i * d + j]! + inner[j * d + i]!) / 2;
  }
  let trSqrt = 0;
  for (const l of symmetricEigen(inner, d).values) trSqrt += Math.sqrt(Math.max(0, l));
  return diff + trace - 2 * trSqrt;
}

export interface KidOptions {
  /** Number of random subsets averaged (clean-fid: 100). */
  subsets?: number;
  /** Largest subset size (clean-fid: 1000); the subset size is min(n₁, n₂, this). */
  maxSubsetSize?: number;
  seed?: number;
}

/**
 * Kernel Inception Distance: the unbiased MMD² with the polynomial kernel k(x, y) = (x·y/d + 1)³, averaged
 * over random subsets of m = min(n₁, n₂, maxSubsetSize) vectors from each set, as clean-fid's
 * kernel_distance. When both sets have exactly m vectors every subset is the whole set, so the value is
 * the single unbiased estimate over all pairs, whatever the seed.
 */
export function kid(a: FeatureSet, b: FeatureSet, o: KidOptions = {}): number {
  checkPair(a, b, 2, 'KID');
  const d = a.d;
  const subsets = o.subsets ?? 100;
  const m = Math.min(a.n, b.n, o.maxSubsetSize ?? 1000);
  const rng = new Rng(o.seed ?? 0);
  const kernel = (x: Float64Array, i: number, y: Float64Array, j: number) => {
    let dot = 0;
    for (let k = 0; k < d; k++) dot += x[i * d + k]! * y[j * d + k]!;
    return (dot / d + 1) ** 3;
  };
  const whole = a.n === m && b.n === m;
  let t = 0;
  for (let s = 0; s < subsets; s++) {
    const ia = choose(rng, a.n, m);
    const ib = choose(rng, b.n, m);
    let kaa = 0;
    let kbb = 0;
    let kab = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        if (i !== j) {
          kaa += kernel(a.data, ia[i]!, a.data, ia[j]!);
          kbb += kernel(b.data, ib[i]!, b.data, ib[j]!);
        }
        kab += kernel(a.data, ia[i]!, b.data, ib[j]!);
      }
    }
    t += (kaa + kbb) / (m - 1) - (2 * kab) / m;
    if (whole) return t / m;
  }
  return t / subsets / m;
}

/** m distinct indices out of n (a partial Fisher–Yates shuffle); the identity when m = n. */
function choose(rng: Rng, n: number, m: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  if (m === n) return idx;
  const u = rng.uniform(m);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(u[i]! * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.subarray(0, m);
}

function squaredDistances(a: FeatureSet, b: FeatureSet): Float64Array {
  const d = a.d;
  const out = new Float64Array(a.n * b.n);
  for (let i = 0; i < a.n; i++) {
    for (let j = 0; j < b.n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const t = a.data[i * d + k]! - b.data[j * d + k]!;
        s += t * t;
      }
      out[i * b.n + j] = s;
    }
  }
  return out;
}

/** Squared distance of each vector to its k-th nearest neighbour in its own set (itself excluded). */
function kthNeighbourRadii(x: FeatureSet, k: number): Float64Array {
  const dist = squaredDistances(x, x);
  const radii = new Float64Array(x.n);
  for (let i = 0; i < x.n; i++) {
    const row = Array.from(dist.subarray(i * x.n, (i + 1) * x.n)).sort((p, q) => p - q);
    radii[i] = row[k]!; // row[0] is the vector itself
  }
  return radii;
}

/** Fraction of `probe` vectors inside the union of the k-NN balls around the `manifold` vectors. */
function coverage(manifold: FeatureSet, probe: FeatureSet, k: number): number {
  const radii = kthNeighbourRadii(manifold, k);
  const dist = squaredDistances(probe, manifold);
  let inside = 0;
  for (let i = 0; i < probe.n; i++) {
    for (let j = 0; j < manifold.n; j++) {
      if (dist[i * manifold.n + j]! <= radii[j]!) {
        inside++;
        break;
      }
    }
  }
  return inside / probe.n;
}

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019), k = 3 by default: precision is the share of
 * generated vectors inside the real set's k-NN manifold, recall the share of real vectors inside the
 * generated set's.
 */
export function precisionRecall(real: FeatureSet, fake: FeatureSet, k = 3): { precision: number; recall: number } {
  checkPair(real, fake, k + 1, 'precision/recall');
  return { precision: coverage(real, fake, k), recall: coverage(fake, real, k) };
}
