// The engine's seeded random generator (Rng), and below it the two PyTorch generators AUTOMATIC1111
// draws its noise from (PhiloxNormal, TorchCpuNormal) so its seeds give the same pictures here.
//
// Algorithm: Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11; the
// Random123 reference, checked against its known-answer vectors in the tests). The 64-bit seed is the
// key [seed mod 2^32, seed div 2^32]; block b (a 64-bit counter) is philox([b mod 2^32, b div 2^32, 0, 0]).
// - normal(n): each block's four words w0..w3 give two Box–Muller pairs: u = (w + 0.5)/2^32 ∈ (0, 1),
//   r = √(−2 ln u_a), θ = 2π u_b, values r·cos θ, r·sin θ (computed in float64, stored as float32).
// - uniform(n): each block gives two 53-bit doubles in [0, 1): ((w0 >>> 5)·2^26 + (w1 >>> 6)) / 2^53.
// Every call starts on a fresh block and drops the values it does not use, so the state is just the key
// and the block counter: cheap to save in a checkpoint and exact to restore. Math.log/cos/sin are V8's
// own (fdlibm-derived) implementations, so the same seed gives the same bits on every platform.

export class RngError extends Error {
  override name = 'RngError';
}

export interface RngState {
  readonly algorithm: 'philox4x32-10';
  /** The seed as a decimal string (up to 2^64 − 1). */
  readonly seed: string;
  /** Blocks used so far, as a decimal string. */
  readonly counter: string;
}

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_PI = 2 * Math.PI;
const U32 = 2 ** 32;

/** High 32 bits of the 64-bit product a·b of two uint32 (exact: every partial product fits in a double). */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const m1 = aHi * bLo;
  const m2 = aLo * bHi;
  const cross = (lolo >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  // m1, m2 < 2^32 and cross < 3·2^16, so >>> 16 is their exact floor(·/2^16)
  return (aHi * bHi + (m1 >>> 16) + (m2 >>> 16) + (cross >>> 16)) >>> 0;
}

/** Philox4x32-10 on counter c and key k; writes the four output words into `out`. */
export function philox4x32(c: readonly number[], k: readonly number[], out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let c0 = c[0]! >>> 0;
  let c1 = c[1]! >>> 0;
  let c2 = c[2]! >>> 0;
  let c3 = c[3]! >>> 0;
  let k0 = k[0]! >>> 0;
  let k1 = k[1]! >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

function toSeed(seed: number | bigint | string): bigint {
  let s: bigint;
  try {
    s = BigInt(seed);
  } catch {
    throw new RngError(`seed must be a whole number from 0 to 2^64 − 1, got ${String(seed)}`);
  }
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RngError(`seed ${seed} is not a whole number below 2^53; pass a bigint or decimal string for larger seeds`);
  }
  if (s < 0n || s >= 1n << 64n) throw new RngError(`seed must be from 0 to 2^64 − 1, got ${s}`);
  return s;
}

export class Rng {
  private readonly key: [number, number];
  private readonly seedValue: bigint;
  /** Next block, split in two uint32 halves. */
  private lo = 0;
  private hi = 0;
  private readonly block = new Uint32Array(4);

  constructor(seed: number | bigint | string) {
    this.seedValue = toSeed(seed);
    this.key = [Number(this.seedValue & 0xffffffffn), Number(this.seedValue >> 32n)];
  }

  static fromState(state: RngState): Rng {
    if (!state || state.algorithm !== 'philox4x32-10') {
      throw new RngError(`unknown RNG state ${JSON.stringify(state?.algorithm)}: expected 'philox4x32-10'`);
    }
    const r = new Rng(state.seed);
    let c: bigint;
    try {
      c = BigInt(state.counter);
    } catch {
      throw new RngError(`RNG state counter "${state.counter}" is not a whole number`);
    }
    if (c < 0n || c >= 1n << 64n) throw new RngError(`RNG state counter ${c} is out of range`);
    r.lo = Number(c & 0xffffffffn);
    r.hi = Number(c >> 32n);
    return r;
  }

  get state(): RngState {
    return { algorithm: 'philox4x32-10', seed: this.seedValue.toString(), counter: (BigInt(this.hi) * BigInt(U32) + BigInt(this.lo)).toString() };
  }

  private next(): Uint32Array {
    philox4x32([this.lo, this.hi, 0, 0], this.key, this.block);
    this.lo = (this.lo + 1) >>> 0;
    if (this.lo === 0) this.hi = (this.hi + 1) >>> 0;
    return this.block;
  }

  /** n samples of N(0, 1). */
  normal(n: number): Float32Array {
    checkCount(n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; ) {
      const w = this.next();
      for (let j = 0; j < 4 && i < n; j += 2) {
        const u1 = (w[j]! + 0.5) / U32;
        const u2 = (w[j + 1]! + 0.5) / U32;
        const r = Math.sqrt(-2 * Math.log(u1));
        const th = TWO_PI * u2;
        out[i++] = r * Math.cos(th);
        if (i < n) out[i++] = r * Math.sin(th);
      }
    }
    return out;
  }

  /** n samples of U[0, 1) with 53-bit resolution. */
  uniform(n: number): Float64Array {
    checkCount(n);
    const out = new Float64Array(n);
    for (let i = 0; i < n; ) {
      const w = this.next();
      out[i++] = ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992;
      if (i < n) out[i++] = ((w[2]! >>> 5) * 67108864 + (w[3]! >>> 6)) / 9007199254740992;
    }
    return out;
  }

  /** n whole numbers in [0, bound), e.g. training timesteps. */
  integers(n: number, bound: number): Int32Array {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 31) throw new RngError(`bound must be a whole number from 1 to 2^31, got ${bound}`);
    const u = this.uniform(n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(u[i]! * bound);
    return out;
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RngError(`sample count must be a non-negative whole number, got ${n}`);
}

// ---------------------------------------------------------------------------------------------
// AUTOMATIC1111's "Random number generator source" settings: the same N(0, 1) values PyTorch draws,
// so a seed from an A1111 picture gives the same initial noise here. Both generators are stateful
// streams like a torch.Generator: each normal(n) call continues where the last one stopped.

const TWO_POW32_INV = Math.fround(2.3283064e-10);
const TWO_POW32_INV_2PI = Math.fround(2.3283064e-10 * 6.2831855);

/**
 * torch.randn on a CUDA generator (A1111's default "GPU" source), computed on the CPU as A1111's "NV"
 * source does: call k (k = 0, 1, …) of normal(n) gives element i from Philox4x32-10 with key
 * [seed mod 2^32, seed div 2^32] and counter [k, 0, i, 0]; only words 0 and 1 are used, through CUDA's
 * Box–Muller: u = w0·2^-32 + 2^-33, v = w1·2π·2^-32 + π·2^-32 (float32 constants), value
 * √(−2 ln u)·sin v, computed in float64 and rounded to float32 (CUDA computes in float32; the two
 * differ by an ulp or so). CUDA's counter layout holds while n fits in one launch's threads, which
 * every latent SD draws does.
 */
export class PhiloxNormal {
  private readonly key: [number, number];
  private offset = 0;

  constructor(seed: number | bigint | string) {
    const s = toSeed(seed);
    this.key = [Number(s & 0xffffffffn), Number(s >> 32n)];
  }

  normal(n: number): Float32Array {
    checkCount(n);
    if (n > U32) throw new RngError(`at most 2^32 values per draw, asked for ${n}`);
    const out = new Float32Array(n);
    const ctr = [this.offset, 0, 0, 0];
    const w = new Uint32Array(4);
    for (let i = 0; i < n; i++) {
      ctr[2] = i;
      philox4x32(ctr, this.key, w);
      const u = w[0]! * TWO_POW32_INV + TWO_POW32_INV / 2;
      const v = w[1]! * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2;
      out[i] = Math.sqrt(-2 * Math.log(u)) * Math.sin(v);
    }
    this.offset = (this.offset + 1) >>> 0;
    return out;
  }
}

const MT_N = 624;
const MT_M = 397;

/**
 * torch.randn on PyTorch's CPU generator (A1111's "CPU" source): mt19937 seeded with seed mod 2^32,
 * then torch's normal kernel for float32:
 * - n ≥ 16: n uniforms u = (w & 0xffffff)·2^-24, then in each block of 16, for j < 8:
 *   r = √(−2 ln(1 − u_j)), θ = 2π·u_{j+8}, out_j = r·cos θ, out_{j+8} = r·sin θ (float32 arithmetic);
 *   when 16 does not divide n, the last 16 are drawn again (16 more uniforms) and transformed the same way.
 * - n < 16: one value at a time from the float64 normal: u1, u2 53-bit uniforms (two words each,
 *   first word high), r = √(−2 ln(1 − u2)), θ = 2π·u1, r·cos θ, keeping r·sin θ for the next value
 *   (that cache lives in the generator, across calls, until it is reseeded).
 * `kernel` picks which of torch's float32 Box–Muller kernels to reproduce (see TorchCpuKernel).
 */
export class TorchCpuNormal {
  private readonly mt = new Uint32Array(MT_N);
  private index = MT_N;
  private cachedNormal: number | null = null;

  constructor(seed: number | bigint | string, private readonly kernel: TorchCpuKernel = 'avx2') {
    const mt = this.mt;
    mt[0] = Number(toSeed(seed) & 0xffffffffn);
    for (let i = 1; i < MT_N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, (prev ^ (prev >>> 30)) >>> 0) + i) >>> 0;
    }
  }

  /** The next 32-bit word of mt19937. */
  nextUint32(): number {
    if (this.index >= MT_N) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < MT_N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % MT_N]! & 0x7fffffff);
      mt[i] = (mt[(i + MT_M) % MT_N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    }
    this.index = 0;
  }

  normal(n: number): Float32Array {
    checkCount(n);
    const out = new Float32Array(n);
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.scalarNormal();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i, this.kernel);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      normalFill16(out, start, this.kernel);
    }
    return out;
  }

  private uniformFloat(): number {
    return (this.nextUint32() & 0xffffff) / 16777216;
  }

  private uniformDouble(): number {
    const hi = this.nextUint32() & 0x1fffff;
    const lo = this.nextUint32();
    return (hi * U32 + lo) / 9007199254740992;
  }

  private scalarNormal(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

const f32 = Math.fround;

/**
 * Which float32 Box–Muller kernel torch runs for n ≥ 16: 'avx2' on x86-64 CPUs with AVX2 (Windows and
 * Linux PCs: Cephes-style log/sin/cos polynomials from avx_mathfun), 'scalar' elsewhere (e.g. Apple
 * silicon: the C library's logf/cosf/sinf). They differ by up to ~1.5e-6.
 */
export type TorchCpuKernel = 'avx2' | 'scalar';

/** torch's normal_fill_16: Box–Muller over u[0..7] (radius) and u[8..15] (angle), in place, in float32. */
function normalFill16(d: Float32Array, at: number, kernel: TorchCpuKernel): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - d[at + j]!);
    const u2 = d[at + j + 8]!;
    if (kernel === 'avx2') {
      const radius = f32(Math.sqrt(f32(-2 * cephesLogf(u1))));
      const theta = f32(TWO_PI_F * u2);
      const [s, c] = cephesSinCosf(theta);
      d[at + j] = f32(radius * c);
      d[at + j + 8] = f32(radius * s);
    } else {
      const radius = f32(Math.sqrt(f32(-2 * f32(Math.log(u1)))));
      const theta = f32(TWO_PI * u2);
      d[at + j] = f32(radius * f32(Math.cos(theta)));
      d[at + j + 8] = f32(radius * f32(Math.sin(theta)));
    }
  }
}

const TWO_PI_F = f32(TWO_PI);
const F32 = new Float32Array(1);
const U32V = new Uint32Array(F32.buffer);
const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f32);

/** avx_mathfun's log256_ps (Cephes logf) for 0 < x ≤ 1, one float32 operation at a time. */
function cephesLogf(x: number): number {
  F32[0] = x;
  const bits = U32V[0]!;
  let e = f32((bits >>> 23) - 0x7f + 1);
  U32V[0] = (bits & ~0x7f800000) | 0x3f000000; // mantissa in [0.5, 1)
  let m = F32[0]!;
  const small = m < f32(0.707106781186547524);
  const tmp = small ? m : 0;
  m = f32(m - 1);
  if (small) e = f32(e - 1);
  m = f32(m + tmp);
  const z = f32(m * m);
  let y = LOG_P[0]!;
  for (let k = 1; k < LOG_P.length; k++) y = f32(f32(y * m) + LOG_P[k]!);
  y = f32(f32(y * m) * z);
  y = f32(y + f32(e * f32(-2.12194440e-4)));
  y = f32(y - f32(z * 0.5));
  return f32(f32(m + y) + f32(e * 0.693359375));
}

const FOPI = f32(1.27323954473516);
const DP = [-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8].map(f32);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);

/** avx_mathfun's sincos256_ps (Cephes sinf/cosf) for x ≥ 0: [sin x, cos x], float32 throughout. */
function cephesSinCosf(x: number): [number, number] {
  const j = ((Math.trunc(f32(x * FOPI)) + 1) & ~1) >>> 0;
  const y = f32(j);
  x = f32(f32(f32(x + f32(y * DP[0]!)) + f32(y * DP[1]!)) + f32(y * DP[2]!));
  const z = f32(x * x);
  let c = f32(f32(COS_P[0]! * z) + COS_P[1]!);
  c = f32(f32(c * z) + COS_P[2]!);
  c = f32(f32(c * z) * z);
  c = f32(f32(c - f32(z * 0.5)) + 1);
  let s = f32(f32(SIN_P[0]! * z) + SIN_P[1]!);
  s = f32(f32(s * z) + SIN_P[2]!);
  s = f32(f32(f32(s * z) * x) + x);
  const sinPoly = (j & 2) === 0;
  let sin = sinPoly ? s : c;
  let cos = sinPoly ? c : s;
  if (j & 4) sin = -sin;
  if (((j - 2) & 4) === 0) cos = -cos;
  return [sin, cos];
}
