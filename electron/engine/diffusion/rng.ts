// The engine's one seeded random generator.
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
  return (aHi * bHi + Math.floor(m1 / 65536) + Math.floor(m2 / 65536) + Math.floor(cross / 65536)) >>> 0;
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
