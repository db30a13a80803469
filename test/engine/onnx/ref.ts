// Plain-JS reference implementations (float64) for checking the ONNX ops the graph builder emits.
export interface Arr { shape: number[]; data: Float64Array }

export const arr = (shape: number[], data: ArrayLike<number>): Arr => ({ shape, data: Float64Array.from(data) });
const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);
export function strides(s: number[]): number[] {
  const st = new Array(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1] * s[i + 1];
  return st;
}
function unravel(i: number, s: number[]): number[] {
  const idx = new Array(s.length);
  for (let k = s.length - 1; k >= 0; k--) { idx[k] = i % s[k]!; i = Math.floor(i / s[k]!); }
  return idx;
}
function at(a: Arr, idx: number[]): number {
  // idx aligned to the right; broadcast dims of size 1
  const st = strides(a.shape);
  let off = 0;
  const lead = idx.length - a.shape.length;
  for (let k = 0; k < a.shape.length; k++) off += (a.shape[k] === 1 ? 0 : idx[lead + k]!) * st[k]!;
  return a.data[off]!;
}
export function bshape(...ss: number[][]): number[] {
  const n = Math.max(...ss.map((s) => s.length));
  return Array.from({ length: n }, (_, i) => Math.max(...ss.map((s) => s[s.length - n + i] ?? 1)));
}
export function map(args: Arr[], f: (...v: number[]) => number): Arr {
  const s = bshape(...args.map((a) => a.shape));
  const out = new Float64Array(size(s));
  for (let i = 0; i < out.length; i++) { const idx = unravel(i, s); out[i] = f(...args.map((a) => at(a, idx))); }
  return { shape: s, data: out };
}
export function matmul(a: Arr, b: Arr): Arr {
  const m = a.shape.at(-2)!, k = a.shape.at(-1)!, n = b.shape.at(-1)!;
  const batch = bshape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = new Float64Array(size(batch) * m * n);
  const A: Arr = { shape: a.shape.slice(0, -2), data: new Float64Array(0) };
  for (let bi = 0; bi < size(batch); bi++) {
    const idx = unravel(bi, batch);
    const offA = bOff(a.shape.slice(0, -2), idx) * m * k, offB = bOff(b.shape.slice(0, -2), idx) * k * n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a.data[offA + i * k + t]! * b.data[offB + t * n + j]!;
      out[bi * m * n + i * n + j] = s;
    }
  }
  void A;
  return { shape: [...batch, m, n], data: out };
}
function bOff(s: number[], idx: number[]): number {
  const st = strides(s); let off = 0; const lead = idx.length - s.length;
  for (let k = 0; k < s.length; k++) off += (s[k] === 1 ? 0 : idx[lead + k]!) * st[k]!;
  return off;
}
export function transpose(a: Arr, perm: number[]): Arr {
  const s = perm.map((p) => a.shape[p]!);
  const st = strides(a.shape);
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, s); let off = 0;
    perm.forEach((p, k) => { off += idx[k]! * st[p]!; });
    out[i] = a.data[off]!;
  }
  return { shape: s, data: out };
}
export function conv2d(x: Arr, w: Arr, b: Arr | null, o: { strides: number[]; pads: number[]; dil: number[]; group: number }): Arr {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [m, cg, kh, kw] = w.shape as [number, number, number, number];
  const oh = Math.floor((h + o.pads[0]! + o.pads[2]! - o.dil[0]! * (kh - 1) - 1) / o.strides[0]!) + 1;
  const ow = Math.floor((wd + o.pads[1]! + o.pads[3]! - o.dil[1]! * (kw - 1) - 1) / o.strides[1]!) + 1;
  const out = new Float64Array(n * m * oh * ow);
  const mg = m / o.group;
  for (let ni = 0; ni < n; ni++) for (let mi = 0; mi < m; mi++) {
    const g = Math.floor(mi / mg);
    for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
      let s = b ? b.data[mi]! : 0;
      for (let ci = 0; ci < cg; ci++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = y * o.strides[0]! - o.pads[0]! + ky * o.dil[0]!;
        const ix = xx * o.strides[1]! - o.pads[1]! + kx * o.dil[1]!;
        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
        s += x.data[((ni * c + g * cg + ci) * h + iy) * wd + ix]! * w.data[((mi * cg + ci) * kh + ky) * kw + kx]!;
      }
      out[((ni * m + mi) * oh + y) * ow + xx] = s;
    }
  }
  return { shape: [n, m, oh, ow], data: out };
}
export function convT2d(x: Arr, w: Arr, o: { strides: number[]; pads: number[]; dil: number[]; group: number; outPad: number[] }): Arr {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [, mg, kh, kw] = w.shape as [number, number, number, number];
  const m = mg * o.group, cg = c / o.group;
  const oh = o.strides[0]! * (h - 1) + o.outPad[0]! + (kh - 1) * o.dil[0]! + 1 - o.pads[0]! - o.pads[2]!;
  const ow = o.strides[1]! * (wd - 1) + o.outPad[1]! + (kw - 1) * o.dil[1]! + 1 - o.pads[1]! - o.pads[3]!;
  const out = new Float64Array(n * m * oh * ow);
  for (let ni = 0; ni < n; ni++) for (let ci = 0; ci < c; ci++) {
    const g = Math.floor(ci / cg);
    for (let y = 0; y < h; y++) for (let xx = 0; xx < wd; xx++) {
      const v = x.data[((ni * c + ci) * h + y) * wd + xx]!;
      for (let mj = 0; mj < mg; mj++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const oy = y * o.strides[0]! - o.pads[0]! + ky * o.dil[0]!;
        const ox = xx * o.strides[1]! - o.pads[1]! + kx * o.dil[1]!;
        if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
        out[((ni * m + g * mg + mj) * oh + oy) * ow + ox] += v * w.data[((ci * mg + mj) * kh + ky) * kw + kx]!;
      }
    }
  }
  return { shape: [n, m, oh, ow], data: out };
}
export function reduce(a: Arr, axes: number[], keep: boolean, mean: boolean): Arr {
  const ax = axes.map((x) => (x < 0 ? x + a.shape.length : x));
  const ks = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = new Float64Array(size(ks));
  const st = strides(ks);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape); let off = 0;
    idx.forEach((v, k) => { off += (ax.includes(k) ? 0 : v) * st[k]!; });
    out[off] += a.data[i]!;
  }
  const cnt = a.data.length / out.length;
  if (mean) for (let i = 0; i < out.length; i++) out[i] /= cnt;
  return { shape: keep ? ks : a.shape.filter((_, i) => !ax.includes(i)), data: out };
}
export function softmax(a: Arr, axis: number): Arr {
  const mx = reduce(map([a], (v) => v), [axis], true, false); void mx;
  const e = map([a], Math.exp);
  const s = reduce(e, [axis], true, false);
  return map([e, s], (x, y) => x / y);
}
export function slice(a: Arr, starts: number[], ends: number[], axes: number[], steps: number[]): Arr {
  const ranges = a.shape.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((ax, k) => {
    const d = a.shape[ax]!; const step = steps[k]!;
    let s = starts[k]! < 0 ? starts[k]! + d : starts[k]!; let e = ends[k]! < 0 ? ends[k]! + d : ends[k]!;
    const r: number[] = [];
    if (step > 0) { s = Math.min(Math.max(s, 0), d); e = Math.min(Math.max(e, 0), d); for (let i = s; i < e; i += step) r.push(i); }
    else { s = Math.min(Math.max(s, 0), d - 1); e = Math.min(Math.max(e, -1), d - 1); for (let i = s; i > e; i += step) r.push(i); }
    ranges[ax] = r;
  });
  return pick(a, ranges);
}
export function pick(a: Arr, ranges: number[][]): Arr {
  const s = ranges.map((r) => r.length);
  const st = strides(a.shape);
  const out = new Float64Array(size(s));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, s); let off = 0;
    idx.forEach((v, k) => { off += ranges[k]![v]! * st[k]!; });
    out[i] = a.data[off]!;
  }
  return { shape: s, data: out };
}
// Abramowitz & Stegun 7.1.26 is too coarse; this series/continued-fraction pair is accurate to ~1e-12.
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = 0, term = ax;
    for (let n = 0; n < 60; n++) { sum += term / (2 * n + 1); term *= -ax * ax / (n + 1); }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
export function rand(r: () => number, shape: number[], lo = -1, hi = 1): Arr {
  return { shape, data: Float64Array.from({ length: size(shape) }, () => lo + (hi - lo) * r()) };
}
