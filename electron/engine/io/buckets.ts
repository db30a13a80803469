// Aspect-ratio buckets for fine-tuning on pictures of any shape, as kohya-ss/sd-scripts makes them
// (library/model_util.py make_bucket_resolutions, library/train_util.py BucketManager):
// - bucket sizes in steps of `steps` (64) whose area stays within resolution², sides from minSize to
//   maxSize, plus the square; each picture goes to the bucket nearest its aspect ratio, is resized to
//   cover it and centre-cropped (kohya's default), or
// - noUpscale (kohya's --bucket_no_upscale, our default): a picture larger than resolution² is scaled
//   down to that area at its own aspect ratio; the bucket is its size floored to the steps, so a
//   picture is never enlarged and loses at most steps−1 pixels a side to the crop.
// Batches are then drawn within one bucket, so every batch has one shape.

export class BucketError extends Error {
  override name = 'BucketError';
}

export interface BucketOptions {
  /** Base side: buckets keep their area within resolution² (kohya's max_reso = (resolution, resolution)). */
  readonly resolution: number;
  /** Bucket sides are multiples of this (kohya's bucket_reso_steps, 64). */
  readonly steps?: number;
  /** Smallest and largest side (kohya's min/max_bucket_reso: 256 and 1024); ignored with noUpscale, as in kohya. */
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Never enlarge a picture (kohya's bucket_no_upscale). Default true. */
  readonly noUpscale?: boolean;
}

export type Size = readonly [width: number, height: number];

export interface BucketChoice {
  /** The bucket [width, height] the picture is trained at. */
  readonly bucket: Size;
  /** The size it is resized to before the centre crop to the bucket. */
  readonly resized: Size;
  /** Bucket aspect ratio − picture aspect ratio. */
  readonly arError: number;
}

export function bucketDefaults(o: BucketOptions): Required<BucketOptions> {
  const r = {
    resolution: o.resolution,
    steps: o.steps ?? 64,
    minSize: o.minSize ?? Math.min(256, o.resolution),
    maxSize: o.maxSize ?? Math.max(1024, o.resolution),
    noUpscale: o.noUpscale ?? true,
  };
  const whole = (v: number) => Number.isInteger(v) && v >= 1;
  if (!whole(r.resolution) || !whole(r.steps) || !whole(r.minSize) || !whole(r.maxSize)) {
    throw new BucketError(`bucket settings must be whole numbers ≥ 1 (resolution ${r.resolution}, steps ${r.steps}, min ${r.minSize}, max ${r.maxSize})`);
  }
  if (r.resolution % r.steps !== 0) throw new BucketError(`the resolution ${r.resolution} must be a multiple of the bucket step ${r.steps}`);
  if (r.maxSize < r.resolution) throw new BucketError(`the largest bucket side ${r.maxSize} must be at least the resolution ${r.resolution}`);
  if (r.maxSize < r.minSize) throw new BucketError(`the largest bucket side ${r.maxSize} must be at least the smallest ${r.minSize}`);
  return r;
}

/** kohya's make_bucket_resolutions(max_reso=(resolution, resolution), min_size, max_size, divisible=steps), sorted. */
export function makeBucketResolutions(resolution: number, minSize: number, maxSize: number, steps: number): Size[] {
  const maxArea = resolution * resolution;
  const key = (w: number, h: number) => `${w}x${h}`;
  const out = new Map<string, Size>();
  const square = Math.floor(Math.sqrt(maxArea) / steps) * steps;
  out.set(key(square, square), [square, square]);
  for (let width = minSize; width <= maxSize; width += steps) {
    const height = Math.min(maxSize, Math.floor(Math.floor(maxArea / width) / steps) * steps);
    if (height >= minSize) {
      out.set(key(width, height), [width, height]);
      out.set(key(height, width), [height, width]);
    }
  }
  return [...out.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** Python's int(x + 0.5) for x ≥ 0. */
function roundHalfUp(x: number): number {
  return Math.floor(x + 0.5);
}

/** kohya's BucketManager.select_bucket for one picture of `width`×`height`. */
export function selectBucket(width: number, height: number, o: Required<BucketOptions>, predefined: readonly Size[]): BucketChoice {
  const ar = width / height;
  let bucket: Size;
  let resized: Size;
  if (!o.noUpscale) {
    bucket = predefined.find(([w, h]) => w === width && h === height) ?? nearestByAspect(predefined, ar);
    const scale = ar > bucket[0] / bucket[1] ? bucket[1] / height : bucket[0] / width;
    resized = [roundHalfUp(width * scale), roundHalfUp(height * scale)];
  } else {
    const maxArea = o.resolution * o.resolution;
    const toSteps = (x: number) => {
      const v = roundHalfUp(x);
      return v - (v % o.steps);
    };
    if (width * height > maxArea) {
      const rw = Math.sqrt(maxArea * ar);
      const rh = maxArea / rw;
      const bw = toSteps(rw);
      const arW = bw / toSteps(bw / ar);
      const bh = toSteps(rh);
      const arH = toSteps(bh * ar) / bh;
      resized = Math.abs(arW - ar) < Math.abs(arH - ar) ? [bw, roundHalfUp(bw / ar)] : [roundHalfUp(bh * ar), bh];
    } else {
      resized = [width, height];
    }
    bucket = [resized[0] - (resized[0] % o.steps), resized[1] - (resized[1] % o.steps)];
    if (bucket[0] < o.steps || bucket[1] < o.steps) {
      throw new BucketError(`too small for buckets of ${o.steps} pixels a side (${width}x${height} becomes ${resized[0]}x${resized[1]})`);
    }
  }
  return { bucket, resized, arError: bucket[0] / bucket[1] - ar };
}

/** numpy argmin of |ar(bucket) − ar|: the first of equal errors. */
function nearestByAspect(resos: readonly Size[], ar: number): Size {
  let best = 0;
  let err = Infinity;
  resos.forEach(([w, h], i) => {
    const e = Math.abs(w / h - ar);
    if (e < err) {
      err = e;
      best = i;
    }
  });
  return resos[best]!;
}

/** Where the centre crop of a `resized` picture to its `bucket` starts (kohya: trim // 2 on each axis). */
export function cropOffset(resized: Size, bucket: Size): Size {
  return [Math.floor((resized[0] - bucket[0]) / 2), Math.floor((resized[1] - bucket[1]) / 2)];
}

/** A planner for a data set: the bucket of each picture, with kohya's predefined table when not noUpscale. */
export class BucketPlanner {
  readonly options: Required<BucketOptions>;
  readonly predefined: readonly Size[];

  constructor(o: BucketOptions) {
    this.options = bucketDefaults(o);
    const { resolution, minSize, maxSize, steps, noUpscale } = this.options;
    this.predefined = noUpscale ? [] : makeBucketResolutions(resolution, minSize, maxSize, steps);
  }

  select(width: number, height: number): BucketChoice {
    return selectBucket(width, height, this.options, this.predefined);
  }
}

export interface BucketTable {
  /** The buckets used, sorted by (width, height), with how many pictures each holds. */
  readonly buckets: readonly { readonly resolution: Size; readonly count: number }[];
  readonly meanArError: number;
}

export function bucketTable(choices: readonly BucketChoice[]): BucketTable {
  const counts = new Map<string, { resolution: Size; count: number }>();
  for (const c of choices) {
    const k = `${c.bucket[0]}x${c.bucket[1]}`;
    const e = counts.get(k) ?? { resolution: c.bucket, count: 0 };
    e.count++;
    counts.set(k, e);
  }
  const buckets = [...counts.values()].sort((a, b) => a.resolution[0] - b.resolution[0] || a.resolution[1] - b.resolution[1]);
  const errors = choices.map((c) => Math.abs(c.arError));
  // kohya: np.mean(np.abs(errors)), which numpy sums pairwise.
  const meanArError = errors.length ? pairwiseSum(errors, 0, errors.length) / errors.length : 0;
  return { buckets, meanArError };
}

/** numpy's pairwise summation (umath loops: 8 accumulators up to 128 values, halves above). */
function pairwiseSum(a: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let r = -0;
    for (let i = 0; i < n; i++) r += a[start + i]!;
    return r;
  }
  if (n <= 128) {
    const r = a.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = ((r[0]! + r[1]!) + (r[2]! + r[3]!)) + ((r[4]! + r[5]!) + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/**
 * The run's metadata as kohya writes it: `ss_bucket_info` = json.dumps({"buckets": {"0": {"resolution":
 * [w, h], "count": n}, …}, "mean_img_ar_error": e}) (Python's separators ", " and ": "), and
 * `ss_bucket_no_upscale` = str(bool).
 */
export function bucketMetadata(table: BucketTable, noUpscale: boolean): Record<string, string> {
  const entries = table.buckets.map((b, i) => `"${i}": {"resolution": [${b.resolution[0]}, ${b.resolution[1]}], "count": ${b.count}}`);
  return {
    ss_bucket_info: `{"buckets": {${entries.join(', ')}}, "mean_img_ar_error": ${pythonFloat(table.meanArError)}}`,
    ss_bucket_no_upscale: noUpscale ? 'True' : 'False',
  };
}

/** Python's repr of a float (shortest round-trip digits; scientific below 1e-4 and from 1e16, as Python). */
export function pythonFloat(v: number): string {
  if (v === 0) return '0.0';
  const a = Math.abs(v);
  if (a < 1e-4 || a >= 1e16) {
    const [m, e] = v.toExponential().split('e') as [string, string];
    const exp = Number(e);
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return Number.isInteger(v) ? `${v}.0` : String(v);
}
