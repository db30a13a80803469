// The Brownian-tree noise AUTOMATIC1111's SDE samplers (DPM++ SDE, 2M SDE, 3M SDE) draw, so their pictures
// follow the seed too: k-diffusion's BrownianTreeNoiseSampler over torchsde 0.2.6's BrownianTree
// (BrownianInterval with halfway_tree=True, tol=1e-6, pool_size=24), whose random draws A1111 replaces with
// its own randn for the seed (modules/sd_samplers_common.py replace_torchsde_browinan: randn_local).
//
// - Seeds: numpy's SeedSequence(entropy=image seed, spawn_key=(key, depth), pool_size=24).generate_state(k),
//   key/depth of a node: root (0, 0), child 2·key + (0 left | 1 right), depth + 1.
// - Times are float32 σ (A1111's), rounded like Python's round(t, 6). The root [σ_min, σ_max] holds
//   W = randn(seed₀)·√(σ_max − σ_min); a node [a, b] splits at round((a + b)/2) and gives its left child
//   W_L = (m − a)/(b − a)·W + √((m − a)(b − m)/(b − a))·randn(node's first seed), its right child W − W_L
//   (float32 tensor arithmetic, the Python scalars cast to float32 as torch does).
// - A query [s, t] is found by halving down to both ends; its W is the sum over the nodes covering it.
// - noise(σ, σ_next) = −W(σ_next, σ) / √|σ_next − σ| (float32), as BrownianTreeNoiseSampler returns it.
import type { RngSource } from './noise.ts';
import { createGenerator } from './noise.ts';

// ---------------------------------------------------------------------------------------------
// numpy.random.SeedSequence (its documented hash mixing), uint32 arithmetic.

const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;

/** A non-negative integer as numpy's _coerce_to_uint32_array does: little-endian 32-bit words, [0] for 0. */
function words(v: bigint): number[] {
  if (v === 0n) return [0];
  const out: number[] = [];
  for (; v > 0n; v >>= 32n) out.push(Number(v & 0xffffffffn));
  return out;
}

/** SeedSequence(entropy, spawn_key, pool_size).generate_state(n) as uint32 words. */
export function seedSequenceState(entropy: bigint, spawnKey: readonly bigint[], poolSize: number, n: number): number[] {
  let run = words(entropy);
  const spawn = spawnKey.flatMap(words);
  if (spawn.length > 0 && run.length < poolSize) run = [...run, ...new Array<number>(poolSize - run.length).fill(0)];
  const entropyWords = [...run, ...spawn];
  let hashConst = INIT_A;
  const hashmix = (value: number): number => {
    value = (value ^ hashConst) >>> 0;
    hashConst = Math.imul(hashConst, MULT_A) >>> 0;
    value = Math.imul(value, hashConst) >>> 0;
    return (value ^ (value >>> 16)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    const r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const pool = new Array<number>(poolSize);
  for (let i = 0; i < poolSize; i++) pool[i] = hashmix(i < entropyWords.length ? entropyWords[i]! : 0);
  for (let src = 0; src < poolSize; src++) {
    for (let dst = 0; dst < poolSize; dst++) if (src !== dst) pool[dst] = mix(pool[dst]!, hashmix(pool[src]!));
  }
  for (let src = poolSize; src < entropyWords.length; src++) {
    for (let dst = 0; dst < poolSize; dst++) pool[dst] = mix(pool[dst]!, hashmix(entropyWords[src]!));
  }
  let h = INIT_B;
  const state: number[] = [];
  for (let i = 0; i < n; i++) {
    let v = (pool[i % poolSize]! ^ h) >>> 0;
    h = Math.imul(h, MULT_B) >>> 0;
    v = Math.imul(v, h) >>> 0;
    state.push((v ^ (v >>> 16)) >>> 0);
  }
  return state;
}

/** Python's round(x, 6): the double nearest to x's exact decimal value rounded half-even at 6 places. */
export function pyRound6(x: number): number {
  const neg = x < 0;
  const s = Math.abs(x).toFixed(100); // the exact decimal value for |x| ≥ 2^-48
  const [int, frac] = s.split('.') as [string, string];
  let digits = BigInt(int + frac.slice(0, 6));
  const rest = frac.slice(6);
  const half = '5' + '0'.repeat(rest.length - 1);
  if (rest > half || (rest === half && digits % 2n === 1n)) digits += 1n;
  const r = Number(digits) / 1e6;
  return neg ? -r : r;
}

// ---------------------------------------------------------------------------------------------

const f32 = Math.fround;
const POOL_SIZE = 24;

interface Node {
  readonly start: number;
  readonly end: number;
  readonly parent: Node | null;
  readonly isLeft: boolean;
  readonly key: bigint;
  readonly depth: number;
  midway: number | null;
  wSeed: number;
  left: Node | null;
  right: Node | null;
}

/** torchsde's BrownianTree as A1111 runs it, for one image: W over [ta, tb] as float32. */
export class BrownianTree {
  private readonly root: Node;
  private readonly rootW: Float32Array;
  /** Node values by recent use (any node can be recomputed from its seeds, so this only saves time): ~64 MB. */
  private readonly cache = new Map<Node, Float32Array>();
  private readonly cacheEntries: number;

  constructor(
    private readonly seed: number,
    private readonly size: number,
    t0: number,
    t1: number,
    private readonly source: RngSource = 'gpu',
  ) {
    this.cacheEntries = Math.max(64, Math.floor(16_000_000 / Math.max(1, size)));
    if (!(t0 < t1)) throw new RangeError(`Brownian tree needs t0 < t1, got ${t0}, ${t1}`);
    this.root = { start: pyRound6(t0), end: pyRound6(t1), parent: null, isLeft: false, key: 0n, depth: 0, midway: null, wSeed: 0, left: null, right: null };
    const [w0] = seedSequenceState(BigInt(seed), [], POOL_SIZE, 3);
    const scale = f32(Math.sqrt(t1 - t0));
    this.rootW = this.randn(w0!).map((v) => v * scale);
  }

  private randn(seed: number): Float32Array {
    return createGenerator(this.source, seed).normal(this.size);
  }

  /** The increment W(tb) − W(ta), ta ≤ tb (clamped to the tree's interval as torchsde does). */
  increment(ta: number, tb: number): Float32Array {
    ta = Math.min(Math.max(ta, this.root.start), this.root.end);
    tb = Math.min(Math.max(tb, this.root.start), this.root.end);
    if (ta > tb) throw new RangeError(`query times must have ta ≤ tb, got ${ta}, ${tb}`);
    if (ta === tb) return new Float32Array(this.size);
    const nodes: Node[] = [];
    this.locate(this.root, pyRound6(ta), pyRound6(tb), nodes);
    let w = this.valueOf(nodes[0]!);
    for (const n of nodes.slice(1)) {
      const wi = this.valueOf(n);
      w = w.map((v, i) => v + wi[i]!);
    }
    return w;
  }

  private locate(node: Node, ta: number, tb: number, out: Node[]): void {
    for (;;) {
      if (ta === node.start && tb === node.end) {
        out.push(node);
        return;
      }
      if (node.midway === null) this.split(node, ta === node.start ? tb : ta);
      const m = node.midway!;
      if (tb <= m) node = node.left!;
      else if (ta >= m) node = node.right!;
      else {
        this.locate(node.left!, ta, m, out);
        ta = m;
        node = node.right!;
      }
    }
  }

  /** torchsde's _split with halfway_tree: halve, then keep halving towards `at` until it is a midpoint. */
  private split(node: Node, at: number): void {
    for (;;) {
      if (node.midway === null) this.splitExact(node);
      const m = node.midway!;
      if (at > m) node = node.right!;
      else if (at < m) node = node.left!;
      else return;
    }
  }

  private splitExact(node: Node): void {
    const mid = 0.5 * (node.end + node.start);
    node.midway = pyRound6(mid);
    const key = node.parent === null ? 0n : 2n * node.parent.key + (node.isLeft ? 0n : 1n);
    const depth = node.parent === null ? 0 : node.parent.depth + 1;
    // key/depth live on the node being split (torchsde's _set_spawn_key_and_depth)
    (node as { key: bigint }).key = key;
    (node as { depth: number }).depth = depth;
    node.wSeed = seedSequenceState(BigInt(this.seed), [key, BigInt(depth)], POOL_SIZE, 4)[0]!;
    const child = (isLeft: boolean): Node => ({
      start: isLeft ? node.start : node.midway!, end: isLeft ? node.midway! : node.end, parent: node, isLeft,
      key: 0n, depth: 0, midway: null, wSeed: 0, left: null, right: null,
    });
    node.left = child(true);
    node.right = child(false);
  }

  private valueOf(node: Node): Float32Array {
    if (node.parent === null) return this.rootW;
    const hit = this.cache.get(node);
    if (hit) {
      this.cache.delete(node); // least recently used goes first
      this.cache.set(node, hit);
      return hit;
    }
    // Both children of the parent come from one draw of its seed: compute and keep the pair.
    const p = node.parent;
    const w = this.valueOf(p);
    const hRec = 1 / (p.end - p.start);
    const leftDiff = p.midway! - p.start;
    const rightDiff = p.end - p.midway!;
    const a = f32(leftDiff);
    const b = f32(hRec);
    const sd = f32(Math.sqrt(leftDiff * rightDiff * hRec));
    const noise = this.randn(p.wSeed);
    const left = new Float32Array(this.size);
    const right = new Float32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      const leftW = f32(f32(f32(a * w[i]!) * b) + f32(sd * noise[i]!));
      left[i] = leftW;
      right[i] = w[i]! - leftW;
    }
    this.remember(p.left!, left);
    this.remember(p.right!, right);
    return node.isLeft ? left : right;
  }

  private remember(node: Node, value: Float32Array): void {
    this.cache.delete(node);
    while (this.cache.size >= this.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(node, value);
  }
}

/**
 * k-diffusion's BrownianTreeNoiseSampler for one image as A1111 seeds it (the image's seed): unit noise for
 * the step σ → σ_next. σ values are taken as float32, as A1111's are.
 */
export function brownianTreeNoise(seed: number, source: RngSource, size: number, sigmaMin: number, sigmaMax: number) {
  const tree = new BrownianTree(seed, size, f32(sigmaMin), f32(sigmaMax), source);
  return (sigma: number, sigmaNext: number): Float32Array => {
    const s = f32(sigma);
    const n = f32(sigmaNext);
    const [t0, t1, sign] = s < n ? [s, n, 1] : [n, s, -1];
    const w = tree.increment(t0, t1);
    const d = f32(Math.sqrt(Math.abs(f32(n - s))));
    return w.map((v) => (sign * v) / d);
  };
}
